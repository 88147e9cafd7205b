"""`mcdropout active`: pool-based active learning with MC dropout (:mod:`mcdropout.study.active`)."""

from __future__ import annotations

import click

from mcdropout.cli.common import dataset_option, friendly, get_params, main
from mcdropout.core.config import ConfigError


@main.command()
@dataset_option
@click.option("--functions", default="all", show_default=True,
              help="Acquisition functions, comma-separated: random, max_entropy, variation_ratios, mean_std, bald, "
                   "batchbald (all: every one).")
@click.option("--initial", type=int, default=20, show_default=True, help="Labelled points to start from (balanced).")
@click.option("--batch", type=int, default=10, show_default=True, help="Points acquired per round.")
@click.option("--budget", type=int, default=100, show_default=True, help="Labels at most.")
@click.option("--repeats", type=int, default=3, show_default=True,
              help="Repeats (initial set, weights and, for real data, the data split).")
@click.option("--samples", type=int, default=20, show_default=True, help="MC passes T to score the pool and test.")
@click.option("--epochs", type=int, default=100, show_default=True, help="Training epochs per round, from scratch.")
@click.option("--p", "rate", type=float, default=0.5, show_default=True, help="Dropout rate of the members.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def active(ctx: click.Context, dataset: str, functions: str, initial: int, batch: int, budget: int, repeats: int,
           samples: int, epochs: int, rate: float, quiet: bool) -> None:
    """Active learning: every (acquisition function, repeat) one member of a batched model per round; writes
    reports/<dataset>/active.json (learning curves, mean ± SE over repeats, and the labels each function needs to
    reach 10% and 5% test error)."""
    for name, value, low in (("--initial", initial, 1), ("--batch", batch, 1), ("--repeats", repeats, 1),
                             ("--samples", samples, 1), ("--epochs", epochs, 1)):
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    if budget < initial:
        raise ConfigError(f"--budget ({budget}) must be at least --initial ({initial})")
    if not 0 <= rate < 1:
        raise ConfigError(f"--p must be in [0, 1), got {rate}")
    from mcdropout.core.io import check_output, write_json
    from mcdropout.core.paths import Paths
    from mcdropout.study.active import run_active

    params = get_params(ctx, dataset)
    out = check_output(Paths.of(params).active_json(dataset))  # before the work, not after
    names = [f.strip() for f in functions.split(",") if f.strip()]
    result = run_active(params, dataset, names, initial, batch, budget, repeats, samples, epochs, rate,
                        progress=not quiet)
    write_json(out, result)
    for name, reach in result["labels_to_reach"].items():
        click.echo(f"{name:<17} " + "  ".join(f"{e} error: {'-' if n is None else n} labels" for e, n in reach.items()))
    click.echo(f"wrote {out}")
