"""MLflow tracking: one experiment per task, a parent run per sweep, a child run per member.

The store comes from ``mlflow.tracking_uri`` in params.yaml (default: SQLite file
``mlflow.db``, artifacts under ``mlruns/``), or from ``MLFLOW_TRACKING_URI`` when set, so
the same code logs to a remote server. Per-epoch histories are sent with ``log_batch``
(1000 values a call), never one call per value.

Tracking never costs the user their results: training saves its outputs first, and a
failure to reach the store is reported as one warning line saying what failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.config import MLflowConfig, Params, to_dict
from mcdropout.routine import HISTORY_KEYS, metric_name

# Fail fast on an unreachable server instead of retrying for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

BATCH = 1000


def tracking_uri(cfg: MLflowConfig) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri


def client(cfg: MLflowConfig):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(cfg))


def experiment_id(cfg: MLflowConfig, task: str) -> str:
    """The task's experiment, created on first use with artifacts under ``artifact_location``."""
    mlc = client(cfg)
    name = f"{cfg.experiment_prefix}-{task}"
    found = mlc.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = tracking_uri(cfg)
    location = None
    if not uri.startswith(("http://", "https://", "databricks")):
        location = Path(cfg.artifact_location).resolve().as_uri()
    # The UI of MLflow 3 opens GenAI views unless told this is model training.
    return mlc.create_experiment(name, artifact_location=location,
                                 tags={"mlflow.experimentKind": "custom_model_development"})


def git_tags() -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit or "unknown", "git_dirty": str(dirty).lower()}


def warn(what: str, exc: BaseException) -> None:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"Warning: MLflow {what} failed ({type(exc).__name__}: {reason[:300]}); "
          f"outputs are saved, tracking is incomplete", file=sys.stderr)


def member_params(params: Params, task: str, member, accelerator: str) -> dict[str, Any]:
    from mcdropout.experiment import method

    data = to_dict(getattr(params.data, task))
    extra: dict[str, Any] = {"method": method(member), "l2": member.l2}
    if member.dropout == "concrete":
        c = params.model.concrete
        extra.update(dropout="concrete", concrete_init_p=c.init_p, concrete_temperature=c.temperature,
                     concrete_length_scale=c.length_scale)
    if member.early_stopping:
        extra["patience"] = params.compare.patience
    return {
        "task": task, "p": member.p, "seed": member.seed, **extra,
        "hidden": ",".join(map(str, params.model.hidden)), "activation": params.model.activation,
        "input_p": params.model.input_p, "lr": params.train.lr, "weight_decay": params.train.weight_decay,
        "epochs": params.train.epochs_for(task), "batch_size": params.train.batch_size,
        "accelerator": accelerator, "mc_samples": params.mc.samples,
        **{f"data_{k}": v for k, v in data.items()}, "data_seed": params.data.seed,
    }


def history_epochs(n_epochs: int, max_points: int) -> np.ndarray:
    """Epoch indices to log: all of them, or ``max_points`` evenly spaced ones ending at the last."""
    if n_epochs <= max_points:
        return np.arange(n_epochs)
    return np.unique(np.linspace(0, n_epochs - 1, max_points).round().astype(int))


def _history_metrics(history: np.ndarray, task: str, timestamp: int, max_points: int):
    from mlflow.entities import Metric

    name = metric_name(task)
    keys = [k.replace("metric", name) for k in HISTORY_KEYS]
    for epoch in history_epochs(len(history), max_points):
        for key, value in zip(keys, history[epoch]):
            yield Metric(key, float(value), timestamp, int(epoch))


def _member_extras(o, timestamp: int, max_points: int):
    """Learned rates per layer over epochs (Concrete) and the epochs of early stopping."""
    from mlflow.entities import Metric

    if o.p_history is not None:
        for epoch in history_epochs(len(o.p_history), max_points):
            for j, value in enumerate(o.p_history[epoch]):
                yield Metric(f"concrete/p_layer{j + 1}", float(value), timestamp, int(epoch))
    if o.stop_epoch is not None:
        yield Metric("early_stopping/stop_epoch", float(o.stop_epoch), timestamp, 0)
        yield Metric("early_stopping/best_epoch", float(o.best_epoch), timestamp, 0)


def _final_metrics(evaluation: dict[str, Any], timestamp: int):
    from mlflow.entities import Metric

    for mode in ("standard", "mc"):
        for split, values in evaluation.get(mode, {}).items():
            for key, value in values.items():
                if value == value:  # skip NaN (e.g. AUROC with no wrong predictions)
                    yield Metric(f"{mode}/{split}/{key}", float(value), timestamp, 0)


def log_batched(mlc, run_id: str, metrics: Iterable = (), params: dict[str, Any] | None = None,
                tags: dict[str, str] | None = None) -> None:
    from mlflow.entities import Param, RunTag

    items = [Param(k, str(v)) for k, v in (params or {}).items()]
    for i in range(0, len(items), 100):
        mlc.log_batch(run_id, params=items[i:i + 100])
    if tags:
        mlc.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    chunk = []
    for metric in metrics:
        chunk.append(metric)
        if len(chunk) == BATCH:
            mlc.log_batch(run_id, metrics=chunk)
            chunk = []
    if chunk:
        mlc.log_batch(run_id, metrics=chunk)


def log_members(params: Params, task: str, outcomes: list, accelerator: str, seconds: float,
                group: str | None) -> str | None:
    """Log a group of members (``"sweep"`` or ``"compare"``: parent + children) or a single run
    (``group=None``); returns the parent (or single) run id.

    Each member's checkpoint gets its run id (``meta['mlflow_run_id']``) so that later
    stages (evaluate, report) add to the same runs.
    """
    if not params.mlflow.enabled:
        return None
    from mlflow.entities import RunStatus

    from mcdropout.checkpoint import load_checkpoint, save_checkpoint

    try:
        mlc = client(params.mlflow)
        exp = experiment_id(params.mlflow, task)
        now = int(time.time() * 1000)
        tags = git_tags()
        parent_id = None
        if group:
            parent = mlc.create_run(exp, run_name=f"{group}-{task}", tags={**tags, "kind": group})
            parent_id = parent.info.run_id
            what = ({"sweep_p": ",".join(f"{p:g}" for p in params.sweep.p)} if group == "sweep" else
                    {"compare_l2": ",".join(f"{v:g}" for v in params.compare.l2),
                     "patience": params.compare.patience, "concrete_init_p": params.model.concrete.init_p})
            log_batched(mlc, parent_id, params={
                "task": task, **what,
                "sweep_seeds": ",".join(map(str, params.sweep.seeds)), "members": len(outcomes),
                "accelerator": accelerator, "epochs": params.train.epochs_for(task),
                "hidden": ",".join(map(str, params.model.hidden)), "lr": params.train.lr,
            })
            log_batched(mlc, parent_id, metrics=_seconds_metric(seconds, now))
        max_points = params.mlflow.max_history_points
        for o in outcomes:
            run_tags = {**tags, "kind": "member" if group else "single"}
            if parent_id:
                run_tags["mlflow.parentRunId"] = parent_id
            run = mlc.create_run(exp, run_name=o.member.name, tags=run_tags)
            run_id = run.info.run_id
            log_batched(mlc, run_id, metrics=[*_history_metrics(o.history, task, now, max_points),
                                              *_member_extras(o, now, max_points),
                                              *_final_metrics(o.evaluation, now)],
                        params=member_params(params, task, o.member, accelerator))
            model, meta = load_checkpoint(o.checkpoint)
            meta["mlflow_run_id"] = run_id
            save_checkpoint(o.checkpoint, model, meta)
            mlc.log_artifact(run_id, str(o.checkpoint), artifact_path="model")
            mlc.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        if parent_id:
            mlc.set_terminated(parent_id, RunStatus.to_string(RunStatus.FINISHED))
            return parent_id
        return run_id if outcomes else None
    except Exception as exc:  # tracking must never lose the trained models
        warn("logging", exc)
        return None


def _seconds_metric(seconds: float, timestamp: int):
    from mlflow.entities import Metric

    return [Metric("train_seconds", float(seconds), timestamp, 0)]


def log_evaluation(params: Params, metrics: dict[str, Any], checkpoints: dict[str, dict]) -> None:
    """Add final standard/MC metrics of every split to each member's run (from ``evaluate``)."""
    if not params.mlflow.enabled:
        return
    try:
        mlc = client(params.mlflow)
        now = int(time.time() * 1000)
        parents = set()
        for run in metrics["runs"]:
            run_id = checkpoints.get(run["checkpoint"], {}).get("mlflow_run_id")
            if run_id:
                log_batched(mlc, run_id, metrics=_final_metrics(run, now))
                parents.add(mlc.get_run(run_id).data.tags.get("mlflow.parentRunId"))
        for parent in parents - {None}:
            from mlflow.entities import Metric

            mlc.log_batch(parent, metrics=[Metric("best_p", float(metrics["best_p"]), now, 0)])
    except Exception as exc:
        warn("logging of evaluation metrics", exc)


def parent_run_id(checkpoint_meta: dict[str, Any], cfg: MLflowConfig) -> str | None:
    run_id = checkpoint_meta.get("mlflow_run_id")
    if not run_id:
        return None
    try:
        return client(cfg).get_run(run_id).data.tags.get("mlflow.parentRunId")
    except Exception as exc:
        warn("lookup of the sweep run", exc)
        return None


def group_run_id(params: Params, folder: Path) -> str | None:
    """The parent run of a group's members (sweep or compare), read from one of its checkpoints."""
    from mcdropout.checkpoint import load_checkpoint

    first = next(iter(sorted(Path(folder).glob("*.pt"))), None)
    return None if first is None else parent_run_id(load_checkpoint(first)[1], params.mlflow)


def log_report(params: Params, sweep_folder: Path, files: list[Path]) -> None:
    """Attach the report and figures to the sweep's parent run."""
    if not params.mlflow.enabled:
        return
    try:
        parent = group_run_id(params, sweep_folder)
        if parent is None:
            return
        mlc = client(params.mlflow)
        for f in files:
            mlc.log_artifact(parent, str(f), artifact_path="report")
    except Exception as exc:
        warn("logging of the report", exc)


def log_comparison(params: Params, compare_folder: Path, files: list[Path], rows: list[dict[str, Any]]) -> None:
    """The comparison table on the ``compare`` parent run: as artifacts, and one metric per cell."""
    if not params.mlflow.enabled:
        return
    from mlflow.entities import Metric

    try:
        parent = group_run_id(params, compare_folder)
        if parent is None:
            return
        mlc = client(params.mlflow)
        for f in files:
            mlc.log_artifact(parent, str(f), artifact_path="comparison")
        now = int(time.time() * 1000)
        metrics = []
        for row in rows:
            slug = "".join(c if c.isalnum() else "_" for c in row["method"].lower()).strip("_")
            for key, value in row.items():
                if isinstance(value, float) and value == value:
                    metrics.append(Metric(f"comparison/{slug}/{key}", value, now, 0))
        log_batched(mlc, parent, metrics=metrics)
    except Exception as exc:
        warn("logging of the comparison table", exc)
