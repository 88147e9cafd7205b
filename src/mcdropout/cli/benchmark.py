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
@click.option("--method", default="mc_dropout", show_default=True,
              help="mc_dropout (the 2018 grid search), deep_ensemble (Lakshminarayanan et al. 2017), concrete "
                   "(learned rate, heteroscedastic head), or all (one after another).")
@click.option("--adversarial", is_flag=True, help="deep_ensemble: adversarial training (fast gradient sign, "
                                                  "eps = 1% of each input's range).")
@click.option("--splits", default="all", show_default=True, help="all, A-B or A,B,...")
@click.option("--epochs", type=int, default=None,
              help="Default: 100 x n_epochs.txt for the dropout methods (the 2018 protocol), n_epochs.txt for the "
                   "ensembles (the paper's; they choose between it and 10x it on validation).")
@click.option("--samples", type=int, default=10_000, show_default=True, help="MC passes T at test time.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="reports/uci", show_default=True)
@click.option("--splits-per-model", type=int, default=None,
              help="Train this many splits together (as one batched model); results are saved after each such "
                   "batch. Default: all requested splits at once (fastest).")
@click.option("--merge", is_flag=True, help="Add these splits to the method's entry of an existing "
                                            "<output-dir>/<dataset>.json (run the splits in batches).")
@click.pass_context
@friendly
def benchmark_uci(ctx: click.Context, data_dir, dataset, method, adversarial, splits, epochs, samples, output_dir,
                  splits_per_model, merge) -> None:
    """The UCI regression benchmark of Gal & Ghahramani (2016) for one dataset and method(s); writes
    <output-dir>/<dataset>.json (one entry per method: the others already there are kept) and .md.

    Progress (stage, epoch, elapsed and remaining time) goes to stderr; each split's result, the run's time and
    its peak memory to stdout."""
    import json

    from mcdropout.core.io import check_output, write_json, write_text
    from mcdropout.data.sources import load_uci
    from mcdropout.study.uci import METHODS, as_file, default_epochs, protocol, run_benchmark, with_result
    from mcdropout.study.uci import merge as merge_results
    from mcdropout.study.uci_table import markdown_table

    methods = list(METHODS) if method == "all" else [method]
    if method != "all" and method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)} or all, got {method!r}")
    if adversarial and "deep_ensemble" not in methods:
        raise ConfigError("--adversarial is for --method deep_ensemble (or all)")
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
    file = None
    if previous.is_file():  # its other methods are kept; it must be ours to be rewritten
        try:
            file = as_file(json.loads(previous.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{previous} exists and is not a result of `mcdropout benchmark uci`; move it away "
                              f"or choose another --output-dir") from None
        if file["dataset"] != dataset:
            raise ConfigError(f"{previous} holds {file['dataset']}, not {dataset}")
    if merge:
        for m in methods:  # checked now, not after the first split
            old = file["methods"].get(m) if file else None
            if old is None:
                raise ConfigError(f"--merge: {previous} holds no {m} result")
            want = (dataset, m, epochs or default_epochs(m, ds), samples, adversarial and m == "deep_ensemble")
            if protocol(old) != want:
                raise ConfigError(f"--merge: {previous} holds {m} with {old['epochs']} epochs and T = "
                                  f"{old['mc_samples']}; this run has {want[2]} epochs and T = {samples}")
    saved: dict = {"file": file}

    def save(result: dict) -> None:  # after every batch of splits: an interrupted run keeps the splits done
        old = (file["methods"].get(result["method"]) if file else None) if merge else None
        saved["file"] = with_result(saved["file"], merge_results(old, result) if old is not None else result)
        write_json(json_path, saved["file"])
        write_text(md_path, markdown_table(saved["file"]))

    from mcdropout.tracking import background
    from mcdropout.tracking.publish import log_uci
    from mcdropout.tracking.runs import now_ms

    params = get_params(ctx)
    with tracked(params):  # MLflow's import and the store's check run beside the training
        for m in methods:
            started = now_ms()
            result = run_benchmark(data_dir, dataset, splits, epochs, samples, params, on_split=save,
                                   per_model=splits_per_model, method=m, adversarial=adversarial)
            background.submit(log_uci, params, result, started)  # this run's splits (the JSON may hold more)
        click.echo(markdown_table(saved["file"]))


@benchmark.command("uci-table")
@click.option("--dir", "results_dir", type=click.Path(file_okay=False, exists=True), default="reports/uci",
              show_default=True, help="Folder of <dataset>.json files written by `benchmark uci` (searched with its "
                                      "subfolders; the methods of one dataset's files are put together).")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the table as <write>/README.md and each dataset's methods as <write>/<dataset>.json "
                   "and .md (what the benchmark's DVC pipeline does).")
@friendly
def benchmark_uci_table(results_dir: str, write_dir: str | None) -> None:
    """Print every dataset's methods beside the published figures (Markdown)."""
    from mcdropout.core.io import check_output, write_json, write_text
    from mcdropout.study.uci import read_results
    from mcdropout.study.uci_table import markdown_table, readme

    files = read_results(results_dir)
    if not files:
        raise ConfigError(f"{results_dir}: no <dataset>.json files; run `mcdropout benchmark uci` first")
    text = readme(files)
    if write_dir is not None:
        out = check_output(write_dir, folder=True)
        for f in files:
            write_json(out / f"{f['dataset']}.json", f)
            write_text(out / f"{f['dataset']}.md", markdown_table(f))
        write_text(out / "README.md", text)
    click.echo(text, nl=False)
