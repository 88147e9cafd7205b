"""`mcdropout active`: pool-based active learning with MC dropout (:mod:`mcdropout.study.active`)."""

from __future__ import annotations

import re

import click

from mcdropout.cli.common import dataset_option, friendly, get_params, main, tracked
from mcdropout.core.config import ACQUISITION


@main.command()
@dataset_option
@click.option("--functions", default=None,
              help=f"Acquisition functions, comma-separated, among {', '.join(ACQUISITION)} (all: every one of the "
                   "task). Default: active.<dataset>.functions.")
@click.option("--initial", type=int, default=None, help="Labelled points to start from (balanced over the classes).")
@click.option("--batch", type=int, default=None, help="Points acquired per round.")
@click.option("--budget", type=int, default=None, help="Labels at most.")
@click.option("--repeats", type=int, default=None,
              help="Repeats (initial set, weights and, for real data, the data split).")
@click.option("--samples", type=int, default=None, help="MC passes T to score the pool and test.")
@click.option("--epochs", type=int, default=None, help="Training epochs per round.")
@click.option("--p", "rate", type=float, default=None, help="Dropout rate of the members.")
@click.option("--warm-start/--from-scratch", default=None,
              help="Each round goes on from the last round's weights, or trains from scratch (the paper's way).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def active(ctx: click.Context, dataset: str, functions: str | None, initial: int | None, batch: int | None,
           budget: int | None, repeats: int | None, samples: int | None, epochs: int | None, rate: float | None,
           warm_start: bool | None, quiet: bool) -> None:
    """Active learning: every (acquisition function, repeat) one member of a batched model per round.

    Settings: active.<dataset> in params.yaml (defaults where the dataset has none), each overridden by its option.
    Writes reports/<dataset>/active.json (learning curves, mean ± SE over repeats; the area under each curve against
    random's, paired; the labels each function needs to reach the target errors), the report's section on it and
    its figure, and an MLflow run per function (the curve as a metric over the step "labels").
    """
    from mcdropout.core.config import ActiveConfig, ConfigError, from_dict, to_dict
    from mcdropout.core.io import check_output, write_json
    from mcdropout.core.paths import Paths

    params = get_params(ctx, dataset)
    given = {"initial": initial, "batch": batch, "budget": budget, "repeats": repeats, "samples": samples,
             "epochs": epochs, "p": rate, "warm_start": warm_start}
    overrides = {k: v for k, v in given.items() if v is not None}
    if functions is not None:
        names = [f.strip() for f in functions.split(",") if f.strip()]
        overrides["functions"] = None if names in ([], ["all"]) else names
    base = params.active[dataset] if dataset in params.active else ActiveConfig()
    merged = {**base.model_dump(mode="json"), **overrides}
    if merged["budget"] < merged["initial"]:
        raise ConfigError(f"--budget ({merged['budget']}) must be at least --initial ({merged['initial']})")
    raw = to_dict(params)
    raw["active"] = {**raw["active"], dataset: merged}
    try:
        cfg = from_dict(raw).active[dataset]  # the options checked as params.yaml's values are
    except ConfigError as exc:  # named as the options they came from
        raise ConfigError(re.sub(rf"active\.{re.escape(dataset)}\.(\w+)",
                                 lambda m: "--" + m.group(1).replace("_", "-"), str(exc))) from None
    paths = Paths.of(params)
    outputs = [check_output(p) for p in (paths.active_json(dataset), paths.active_section_json(dataset))]
    from mcdropout.report.active import write_active_section
    from mcdropout.study.active import run_active
    from mcdropout.tracking import background
    from mcdropout.tracking.publish import log_active

    with tracked(params, dataset):
        result = run_active(params, dataset, cfg, progress=not quiet)
        write_json(outputs[0], result)
        section = write_active_section(result, paths)
        background.submit(log_active, params, dataset, result, section)
    for name, reach in result["labels_to_reach"].items():
        click.echo(f"{name:<17} " + "  ".join(
            f"error {e}: {'-' if r['mean'] is None else round(r['mean'])} labels ({r['n']} of {r['of']})"
            for e, r in reach.items()))
    click.echo(f"wrote {outputs[0]} and {outputs[1]}")
