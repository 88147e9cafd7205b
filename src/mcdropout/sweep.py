"""The dropout-rate sweep: every (p, seed) member trained at once, then evaluated.

One file per member, ``<models_dir>/<task>/sweep/p<P>_seed<S>.pt`` (the same format as
``mcdropout train`` writes, so ``mcdropout predict`` loads any one member). The sweep
folder is written beside the old one and swapped in at the end: an interrupted sweep
leaves the previous results whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.checkpoint import load_checkpoint
from mcdropout.config import Params
from mcdropout.data import load_task_data
from mcdropout.evaluation import evaluate_model
from mcdropout.experiment import MemberOutcome, train_group
from mcdropout.train import FitResult, Member


@dataclass
class SweepResult:
    fit: FitResult
    outcomes: list[MemberOutcome]
    folder: Path


def sweep_members(params: Params) -> list[Member]:
    return [Member(p, seed) for p in params.sweep.p for seed in params.sweep.seeds]


def sweep_dir(params: Params, task: str) -> Path:
    return Path(params.train.models_dir) / task / "sweep"


def run_sweep(params: Params, task: str, progress: bool = True) -> SweepResult | None:
    """Train ``sweep.p x sweep.seeds`` as one stacked model; save one checkpoint per member.

    ``None`` on the non-zero ranks of a DDP run (rank 0 saves).
    """
    folder = sweep_dir(params, task)
    done = train_group(params, task, sweep_members(params), folder, "sweep", evaluate=False, progress=progress)
    return None if done is None else SweepResult(*done, folder)


# --- evaluation of a whole sweep ----------------------------------------------------


def val_loss(task: str, evaluation: dict[str, Any]) -> float:
    """The selection criterion: standard-inference validation loss (MSE or NLL)."""
    val = evaluation["standard"]["val"]
    return val["rmse"] ** 2 if task == "regression" else val["nll"]


def evaluate_sweep(params: Params, task: str, folder: str | Path, progress: bool = True) -> dict[str, Any]:
    """Evaluate every checkpoint in ``folder`` both ways: the ``metrics.json`` object.

    ``best_p`` minimises the seed-averaged standard-inference validation loss; the test
    split never takes part in the choice.
    """
    from mcdropout.data import DataError

    folder = Path(folder)
    paths = sorted(folder.glob("*.pt"))
    if not paths:
        raise DataError(f"{folder}: no checkpoints; run `mcdropout sweep --task {task}` first")
    splits = load_task_data(task, params.data.dir)
    runs, metas = [], {}
    for i, path in enumerate(paths):
        model, meta = load_checkpoint(path)
        metas[path.name] = meta
        if meta["task"] != task:
            raise DataError(f"{path}: trained for task {meta['task']!r}, not {task!r}")
        if meta.get("method", "dropout") not in ("none", "dropout"):
            raise DataError(f"{path}: a {meta['method']} member, not one of a dropout sweep "
                            f"(`mcdropout compare` evaluates those)")
        evaluation = evaluate_model(model, task, splits, params.mc.samples, params.mc.seed, meta.get("noise_std"))
        runs.append({"p": meta["p"], "seed": meta["seed"], "checkpoint": path.name, **evaluation})
        if progress:
            print(f"evaluate {task}: {i + 1}/{len(paths)} {path.name}", flush=True)
    runs.sort(key=lambda r: (r["p"], r["seed"]))
    by_p: dict[float, list[float]] = {}
    for run in runs:
        by_p.setdefault(run["p"], []).append(val_loss(task, run))
    best_p = min(by_p, key=lambda p: float(np.mean(by_p[p])))
    metrics = {"task": task, "mc_samples": params.mc.samples, "best_p": best_p,
               "selection": "lowest seed-mean validation loss, standard inference", "runs": runs}
    from mcdropout.tracking import log_evaluation

    log_evaluation(params, metrics, metas)
    return metrics


def summary_by_p(metrics: dict[str, Any]) -> list[dict[str, float]]:
    """Seed means per p: one flat row per p (for ``dvc metrics show`` and ``dvc plots``)."""
    task = metrics["task"]
    keys = ["rmse", "nll", "coverage_95", "crps"] if task == "regression" else ["accuracy", "nll", "brier", "ece"]
    rows = []
    for p in sorted({r["p"] for r in metrics["runs"]}):
        runs = [r for r in metrics["runs"] if r["p"] == p]
        row: dict[str, float] = {"p": p}
        for mode in ("standard", "mc"):
            for split in ("train", "val", "test"):
                for key in keys:
                    values = [r[mode][split][key] for r in runs]
                    row[f"{mode}_{split}_{key}"] = float(np.mean(values))
                    if split != "val" and key == keys[0]:
                        row[f"{mode}_{split}_{key}_sd"] = float(np.std(values))
        rows.append(row)
    return rows


def dvc_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Test metric of both modes per p, nested so ``dvc metrics show`` prints one column each."""
    key = "rmse" if metrics["task"] == "regression" else "accuracy"
    out: dict[str, Any] = {"best_p": metrics["best_p"]}
    for row in summary_by_p(metrics):
        out[f"p={row['p']:g}"] = {
            f"standard_test_{key}": round(row[f"standard_test_{key}"], 5),
            f"mc_test_{key}": round(row[f"mc_test_{key}"], 5),
            "mc_test_nll": round(row["mc_test_nll"], 5),
        }
    return out
