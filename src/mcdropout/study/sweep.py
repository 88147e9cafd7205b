"""The dropout-rate sweep: every (p, seed) member trained at once, then evaluated.

One file per member, ``<models_dir>/<task>/sweep/p<P>_seed<S>.pt`` (the same format as
``mcdropout train`` writes, so ``mcdropout predict`` loads any one member). The sweep
folder is written beside the old one and swapped in at the end: an interrupted sweep
leaves the previous results whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths, sweep_outputs
from mcdropout.core.tasks import get_task
from mcdropout.data.datasets import DataError, load_dataset
from mcdropout.inference.evaluation import MODES, evaluate_model
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study.publishing import NOWHERE, Publisher
from mcdropout.study.results import checked
from mcdropout.study.selection import INFERENCES, select

if TYPE_CHECKING:  # training (Lightning) is imported only by the functions that train
    from mcdropout.study.experiment import MemberOutcome
    from mcdropout.training.train import FitResult

SWEEP_METHODS = ("none", "dropout")  # what a member of a dropout sweep stands for (p = 0: none)


@dataclass
class SweepResult:
    fit: FitResult
    outcomes: list[MemberOutcome]
    folder: Path


def sweep_members(params: Params) -> list[Member]:
    """Every (p, seed); the i-th seed's members train on repeat i's data (:meth:`Dataset.repeat`)."""
    return [Member(p, seed, split=i) for p in params.sweep.p for i, seed in enumerate(params.sweep.seeds)]


def run_sweep(params: Params, dataset: str, progress: bool = True,
              publisher: Publisher = NOWHERE) -> SweepResult | None:
    """Train ``sweep.p x sweep.seeds`` as one stacked model; save one checkpoint per member.

    ``None`` on the non-zero ranks of a DDP run (rank 0 saves).
    """
    folder = Paths.of(params).sweep_dir(dataset)
    from mcdropout.study.experiment import train_group

    done = train_group(params, dataset, sweep_members(params), folder, "sweep", False, progress, publisher)
    return None if done is None else SweepResult(*done, folder)


def evaluate_sweep(params: Params, dataset: str, folder: str | Path, progress: bool = True,
                   publisher: Publisher = NOWHERE) -> dict[str, Any]:
    """Evaluate every checkpoint in ``folder`` both ways: the ``metrics.json`` object.

    ``best_p`` minimises the seed-mean validation NLL of the inference ``sweep.select`` names
    (:mod:`mcdropout.study.selection`); ``selection`` says how, with the criterion against p and whether the
    choice sits at an end of the grid. The test split never takes part in the choice.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("*.pt"))
    if not paths:
        raise DataError(f"{folder}: no checkpoints; run `mcdropout sweep --dataset {dataset}` first")
    data = load_dataset(dataset, params.data.dir, params.model.head)
    task = data.task
    runs = []
    for i, path in enumerate(paths):
        model, meta = load_checkpoint(path)
        if meta.dataset != dataset:
            raise DataError(f"{path}: trained on dataset {meta.dataset!r}, not {dataset!r}")
        if meta.method not in SWEEP_METHODS:
            raise DataError(f"{path}: a {meta.method} member, not one of a dropout sweep "
                            f"(`mcdropout compare` evaluates those)")
        evaluation = evaluate_model(model, task, data.repeat(meta.split).splits, params.mc.samples, params.mc.seed,
                                    meta.noise_std)
        runs.append({"p": meta.p, "seed": meta.seed, "split": meta.split, "checkpoint": path.name, **evaluation})
        if progress:
            print(f"evaluate {dataset}: {i + 1}/{len(paths)} {path.name}", flush=True)
    runs.sort(key=lambda r: (r["p"], r["seed"]))
    selection = select(runs, "p", params.sweep.select)
    by_inference = {inference: select(runs, "p", inference)["best_p"] for inference in INFERENCES}
    metrics = {"dataset": dataset, "task": task.name, **dataset_keys(data), "mc_samples": params.mc.samples,
               "best_p": selection["best_p"], "selection": selection, "best_p_by_inference": by_inference,
               "runs": runs}
    checked("metrics.json", metrics)
    publisher.sweep_evaluated(params, dataset, folder, metrics, summary_by_p(metrics), task.metric)
    return metrics


def write_sweep_evaluation(params: Params, dataset: str, folder: str | Path, metrics_json: str | Path,
                           progress: bool = True,
                           publisher: Publisher = NOWHERE) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """:func:`evaluate_sweep` of ``folder``, written to :func:`sweep_outputs`; returns the metrics and the
    per-p rows. The caller checks the outputs up front (:func:`mcdropout.core.io.check_output`)."""
    metrics = evaluate_sweep(params, dataset, folder, progress, publisher)
    rows = summary_by_p(metrics)
    for path, obj in zip(sweep_outputs(metrics_json), (metrics, dvc_metrics(metrics), rows)):
        write_json(path, obj)
    return metrics, rows


def dataset_keys(data) -> dict[str, Any]:
    """What metrics.json says about the data: feature names, and for classification the classes."""
    schema = data.schema
    keys: dict[str, Any] = {"features": list(schema.features), "target": schema.target}
    if schema.classes is not None:
        keys.update(n_classes=len(schema.classes), classes=list(schema.classes))
    else:
        keys["head"] = data.head  # model.head: which task the report and the comparison rebuild
    return keys


def summary_by_p(metrics: dict[str, Any]) -> list[dict[str, float]]:
    """Seed means per p: one flat row per p (for ``dvc metrics show`` and ``dvc plots``)."""
    keys = get_task(metrics["task"]).summary_keys
    rows = []
    for p in sorted({r["p"] for r in metrics["runs"]}):
        runs = [r for r in metrics["runs"] if r["p"] == p]
        row: dict[str, float] = {"p": p}
        for mode in MODES:
            for split in ("train", "val", "test"):
                for key in keys:
                    values = [r[mode][split][key] for r in runs]
                    row[f"{mode}_{split}_{key}"] = float(np.mean(values))
                    if split != "val" and key == keys[0]:
                        row[f"{mode}_{split}_{key}_sd"] = float(np.std(values))
        rows.append(row)
    return rows


def dvc_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The sweep's headline for ``dvc metrics show``: the selected p and its seed-mean test metric both ways, three
    flat keys so the table of every dataset fits a terminal (each method's test NLL is trust_summary.json's; the
    per-p table is by_p.json, the runs metrics.json)."""
    key = get_task(metrics["task"]).metric
    row = next(r for r in summary_by_p(metrics) if r["p"] == metrics["best_p"])
    return {"best_p": metrics["best_p"], f"test_{key}": round(row[f"standard_test_{key}"], 5),
            f"mc_test_{key}": round(row[f"mc_test_{key}"], 5)}
