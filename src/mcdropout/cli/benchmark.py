"""`mcdropout benchmark ...`: published benchmarks reproduced with the toolkit."""

from __future__ import annotations

from pathlib import Path

import click

from mcdropout.cli.common import friendly, get_params, main, tracked
from mcdropout.core.config import ConfigError


@main.group()
def benchmark() -> None:
    """Published benchmarks reproduced with the toolkit."""


@benchmark.command("uci")
@click.option("--data-dir", type=click.Path(file_okay=False), required=True,
              help="Folder holding <dataset>/data.txt, index_*.txt, ... (the paper's layout).")
@click.option("--dataset", required=True, help="e.g. bostonHousing, concrete, energy, yacht.")
@click.option("--splits", default="all", show_default=True, help="all, A-B or A,B,...")
@click.option("--epochs", type=int, default=None, help="Default: 100 x n_epochs.txt (the 2018 protocol).")
@click.option("--samples", type=int, default=10_000, show_default=True, help="MC passes T at test time.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="reports/uci", show_default=True)
@click.option("--splits-per-model", type=int, default=None,
              help="Train this many splits together (their grids as one batched model, then their retrains); "
                   "results are saved after each such batch. Default: all requested splits at once (fastest).")
@click.option("--merge", is_flag=True, help="Add these splits to an existing <output-dir>/<dataset>.json "
                                            "(run the splits in batches).")
@click.pass_context
@friendly
def benchmark_uci(ctx: click.Context, data_dir, dataset, splits, epochs, samples, output_dir, splits_per_model,
                  merge) -> None:
    """Gal & Ghahramani's UCI regression protocol; writes <output-dir>/<dataset>.json and .md.

    Progress (stage, epoch, elapsed and remaining time) goes to stderr; each split's result, the run's time and
    its peak memory to stdout."""
    import json

    from mcdropout.core.io import check_output, write_json, write_text
    from mcdropout.data.sources import load_uci
    from mcdropout.study.uci import markdown_table, run_benchmark
    from mcdropout.study.uci import merge as merge_results

    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be an integer >= 1, got {epochs}")
    if samples < 1:
        raise ConfigError(f"--samples must be an integer >= 1, got {samples}")
    if splits_per_model is not None and splits_per_model < 1:
        raise ConfigError(f"--splits-per-model must be an integer >= 1, got {splits_per_model}")
    ds = load_uci(data_dir, dataset)  # a path as --dataset, or a missing folder, before anything is written
    out = Path(output_dir)
    previous = out / f"{dataset}.json"
    json_path, md_path = check_output(previous), check_output(out / f"{dataset}.md")
    old = None
    if merge:
        if not previous.is_file():
            raise ConfigError(f"--merge: {previous} does not exist")
        try:
            old = json.loads(previous.read_text(encoding="utf-8"))
            protocol = (old["dataset"], old["epochs"], old["mc_samples"], list(old["splits"]))[:3]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"--merge: {previous} is not a result of `mcdropout benchmark uci`") from None
        if protocol != (dataset, epochs or ds.n_epochs * 100, samples):  # checked now, not after the first split
            raise ConfigError(f"--merge: {previous} holds {protocol[0]} with {protocol[1]} epochs and T = "
                              f"{protocol[2]}; this run has {epochs or ds.n_epochs * 100} epochs and T = {samples}")
    saved: dict = {}

    def save(result: dict) -> None:  # after every split: an interrupted run keeps the splits done
        saved["result"] = merge_results(old, result) if old is not None else result
        write_json(json_path, saved["result"])
        write_text(md_path, markdown_table(saved["result"]))

    from mcdropout.tracking import background
    from mcdropout.tracking.publish import log_uci
    from mcdropout.tracking.runs import now_ms

    params, started = get_params(ctx), now_ms()
    with tracked(params):  # MLflow's import and the store's check run beside the training
        result = run_benchmark(data_dir, dataset, splits, epochs, samples, params, on_split=save,
                               per_model=splits_per_model)  # prints progress, the time and the peak memory
        background.submit(log_uci, params, result, started)  # this run's splits (the JSON may hold more: --merge)
        click.echo(markdown_table(saved["result"]))


@benchmark.command("uci-table")
@click.option("--dir", "results_dir", type=click.Path(file_okay=False, exists=True), default="reports/uci",
              show_default=True, help="Folder of <dataset>.json files written by `benchmark uci`.")
@friendly
def benchmark_uci_table(results_dir: str) -> None:
    """Print every dataset's result beside the published figures (Markdown)."""
    import json

    from mcdropout.study.uci import summary_table

    paths = sorted(Path(results_dir).glob("*.json"))
    if not paths:
        raise ConfigError(f"{results_dir}: no <dataset>.json files; run `mcdropout benchmark uci` first")
    results = []
    for p in paths:
        try:
            results.append(json.loads(p.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{p}: not a result of `mcdropout benchmark uci` (not JSON); run it again") from None
    click.echo(summary_table(results), nl=False)
