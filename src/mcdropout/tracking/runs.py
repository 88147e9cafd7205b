"""MLflow tracking: one experiment per dataset, a parent run per sweep, a child run per member.

The store comes from ``mlflow.tracking_uri`` in params.yaml (default: SQLite file
``mlflow.db``, artifacts under ``mlruns/``), or from ``MLFLOW_TRACKING_URI`` when set, so
the same code logs to a remote server. Per-epoch histories are sent with ``log_batch``
(1000 values a call), never one call per value.

Tracking never costs the user their results: training saves its outputs first, and a
failure to reach the store is reported as one warning line saying what failed. The store
is probed once before MLflow touches it (a SQLite file's folder must be writable, a
database must answer the first time: no minutes of retries), and after the first failure
tracking is skipped for the rest of the command, so one warning line is all the user sees.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcdropout.core.config import MLflowConfig, Params, to_dict
from mcdropout.tracking.processes import process_tags
from mcdropout.tracking.store import (  # noqa: F401 - re-exported: the store's check is part of tracking's API
    StoreUnavailable,
    TrackingSkipped,
    client,
    probe_store,
    reset,
    tracking_uri,
    warn,
)

if TYPE_CHECKING:  # no torch or Lightning at import: `mcdropout ui` starts a server with this module
    from mcdropout.core.tasks import Task
    from mcdropout.nn.members import Member

HISTORY_KEYS = ("train/loss", "val/loss", "train/{metric}", "val/{metric}")  # the routine's history rows

BATCH = 1000


def experiment_id(cfg: MLflowConfig, dataset: str) -> str:
    """The dataset's experiment, created on first use with artifacts under ``artifact_location``."""
    mlc = client(cfg)
    name = f"{cfg.experiment_prefix}-{dataset}"
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


def now_ms() -> int:
    return int(time.time() * 1000)


def member_params(params: Params, dataset: str, member: Member, accelerator: str | None) -> dict[str, Any]:
    spec = params.dataset(dataset)
    data = {k: v for k, v in to_dict(spec).items() if v is not None}
    if spec.source == "synthetic":  # the generator's settings
        section = "classification" if (spec.generator or dataset) in ("moons", "classification") else "regression"
        data.update(to_dict(getattr(params.data, section)))
    extra: dict[str, Any] = {"method": member.method, "l2": member.l2}
    if member.dropout == "concrete":
        c = params.model.concrete
        extra.update(dropout="concrete", concrete_init_p=c.init_p, concrete_temperature=c.temperature,
                     concrete_length_scale=c.length_scale)
    if member.early_stopping:
        extra["patience"] = params.compare.patience
    return {
        "dataset": dataset, "p": member.p, "seed": member.seed, **extra,
        "hidden": ",".join(map(str, params.model.hidden)), "activation": params.model.activation,
        "input_p": params.model.input_p, "lr": params.train.lr, "weight_decay": params.train.weight_decay,
        "epochs": params.train.epochs, "batch_size": params.train.batch_size,
        **({"accelerator": accelerator} if accelerator else {}), "mc_samples": params.mc.samples,
        **{f"data_{k}": v for k, v in data.items()}, "data_seed": params.data.seed,
    }


def history_epochs(n_epochs: int, max_points: int) -> np.ndarray:
    """Epoch indices to log: all of them, or ``max_points`` evenly spaced ones ending at the last."""
    if n_epochs <= max_points:
        return np.arange(n_epochs)
    return np.unique(np.linspace(0, n_epochs - 1, max_points).round().astype(int))


def _history_metrics(history: np.ndarray, metric: str, timestamp: int, max_points: int):
    from mlflow.entities import Metric

    keys = [k.format(metric=metric) for k in HISTORY_KEYS]
    for epoch in history_epochs(len(history), max_points):
        for key, value in zip(keys, history[epoch]):
            yield Metric(key, float(value), timestamp, int(epoch))


def _member_extras(p_history: np.ndarray | None, epochs: tuple[int, int] | None, timestamp: int, max_points: int):
    """Learned rates per layer over epochs (Concrete, ``[epochs, layers]``) and the ``(stop, best)`` epochs of early
    stopping."""
    from mlflow.entities import Metric

    if p_history is not None:
        for epoch in history_epochs(len(p_history), max_points):
            for j, value in enumerate(p_history[epoch]):
                yield Metric(f"concrete/p_layer{j + 1}", float(value), timestamp, int(epoch))
    if epochs is not None:
        yield Metric("early_stopping/stop_epoch", float(epochs[0]), timestamp, 0)
        yield Metric("early_stopping/best_epoch", float(epochs[1]), timestamp, 0)


def _final_metrics(evaluation: dict[str, Any], timestamp: int, model_id: str | None = None):
    """Standard and MC metrics of every split at step 0; with ``model_id``, also shown on that LoggedModel."""
    from mlflow.entities import Metric

    for mode in ("standard", "mc"):
        for split, values in evaluation.get(mode, {}).items():
            for key, value in values.items():
                if value == value:  # skip NaN (e.g. AUROC with no wrong predictions)
                    yield Metric(f"{mode}/{split}/{key}", float(value), timestamp, 0, model_id=model_id)


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


@dataclass
class GroupRuns:
    """MLflow run ids of a trained group: the parent (None for a single run) and one per member name."""

    parent: str | None = None
    members: dict[str, str] = field(default_factory=dict)
    group: str | None = None


def create_runs(params: Params, dataset: str, members: list[Member], group: str | None, start_ms: int,
                accelerator: str | None = None) -> GroupRuns:
    """A parent run for a group (``"sweep"``, ``"compare"``) and a run per member, started at ``start_ms``.
    ``accelerator``: the device trained on, as a param (None: not known yet, see :func:`log_fit`).

    Empty :class:`GroupRuns` when tracking is off or the store fails (one warning line).
    """
    if not params.mlflow.enabled:
        return GroupRuns()
    try:
        mlc = client(params.mlflow)
        exp = experiment_id(params.mlflow, dataset)
        tags = {**git_tags(), **process_tags()}
        runs = GroupRuns(group=group)
        if group:
            parent = mlc.create_run(exp, start_time=start_ms, run_name=f"{group}-{dataset}",
                                    tags={**tags, "kind": group})
            runs.parent = parent.info.run_id
            what = ({"sweep_p": ",".join(f"{p:g}" for p in params.sweep.p)} if group == "sweep" else
                    {"compare_l2": ",".join(f"{v:g}" for v in params.compare.l2),
                     "patience": params.compare.patience, "concrete_init_p": params.model.concrete.init_p})
            log_batched(mlc, runs.parent, params={
                "dataset": dataset, **what,
                "sweep_seeds": ",".join(map(str, params.sweep.seeds)), "members": len(members),
                "epochs": params.train.epochs, "hidden": ",".join(map(str, params.model.hidden)),
                "lr": params.train.lr, **({"accelerator": accelerator} if accelerator else {}),
            })
        for member in members:
            run_tags = {**tags, "kind": "member" if group else "single"}
            if runs.parent:
                run_tags["mlflow.parentRunId"] = runs.parent
            run = mlc.create_run(exp, start_time=start_ms, run_name=member.name, tags=run_tags)
            runs.members[member.name] = run.info.run_id
            log_batched(mlc, run.info.run_id, params=member_params(params, dataset, member, accelerator))
        return runs
    except Exception as exc:  # tracking must never lose the trained models
        warn("logging", exc)
        return GroupRuns()


def end_runs(params: Params, runs: GroupRuns, failed: bool = False) -> None:
    from mlflow.entities import RunStatus

    if not (runs.parent or runs.members):
        return
    status = RunStatus.to_string(RunStatus.FAILED if failed else RunStatus.FINISHED)
    try:
        mlc = client(params.mlflow)
        end = now_ms()
        for run_id in [*runs.members.values(), *([runs.parent] if runs.parent else [])]:
            mlc.set_terminated(run_id, status, end_time=end)
    except Exception as exc:
        warn("closing of the runs", exc)


@dataclass
class MemberHistory:
    """What a member's run shows over the epochs: ``history`` ``[epochs, 4]`` (train/val loss and metric), the
    learned rates ``[epochs, layers]`` of a Concrete member, the ``(stop, best)`` epochs of early stopping."""

    name: str
    history: np.ndarray
    p_history: np.ndarray | None = None
    stopped: tuple[int, int] | None = None


def log_fit(params: Params, task: Task, runs: GroupRuns, histories: list[MemberHistory], seconds: float,
            accelerator: str | None = None) -> None:
    """What a training gave, on runs created before it: per-epoch curves of the members (at most
    ``mlflow.max_history_points`` epochs each), the training time on the parent, and ``accelerator`` (the device
    Lightning trained on) as a param of each run."""
    if not (runs.parent or runs.members):
        return
    try:
        mlc = client(params.mlflow)
        now = now_ms()
        device = {"accelerator": accelerator} if accelerator else None
        if runs.parent:
            log_batched(mlc, runs.parent, metrics=[_metric("train_seconds", seconds, now)], params=device)
        max_points = params.mlflow.max_history_points
        for h in histories:
            log_batched(mlc, runs.members[h.name], params=device,
                        metrics=[*_history_metrics(h.history, task.metric, now, max_points),
                                 *_member_extras(h.p_history, h.stopped, now, max_points)])
    except Exception as exc:
        warn("logging", exc)


def log_members(params: Params, outcomes: list, runs: GroupRuns, model_ids: dict[str, str] | None = None) -> None:
    """Final metrics and checkpoints of trained members on their runs (the caller logs the models first,
    :func:`mcdropout.tracking.registry.log_models`, and ends the runs). ``model_ids``: member name -> its LoggedModel,
    which shows the final metrics too."""
    if not (runs.parent or runs.members):
        return
    try:
        mlc = client(params.mlflow)
        now = now_ms()
        for o in outcomes:
            run_id = runs.members[o.member.name]
            log_batched(mlc, run_id, metrics=list(_final_metrics(o.evaluation, now,
                                                                 (model_ids or {}).get(o.member.name))))
            mlc.log_artifact(run_id, str(o.checkpoint), artifact_path="model")
    except Exception as exc:
        warn("logging", exc)


def model_ids(params: Params, runs: GroupRuns) -> dict[str, str]:
    """Member name -> the id of the model logged on its run (those that have one)."""
    if not runs.members:
        return {}
    try:
        found = _model_ids(client(params.mlflow), set(runs.members.values()))
    except Exception as exc:
        warn("logging", exc)
        return {}
    return {name: found[run] for name, run in runs.members.items() if run in found}


def _model_ids(mlc, run_ids: set[str]) -> dict[str, str]:
    """Run id -> the id of the model logged on it, for the given runs (one query per experiment)."""
    if not run_ids:
        return {}
    experiment = mlc.get_run(next(iter(run_ids))).info.experiment_id
    quoted = ", ".join(f"'{r}'" for r in sorted(run_ids))
    found, token = [], None
    while True:
        page = mlc.search_logged_models([experiment], filter_string=f"source_run_id IN ({quoted})",
                                        max_results=100, page_token=token)
        found += page
        token = page.token
        if not token:
            return {m.source_run_id: m.model_id for m in found}


def _metric(key: str, value: float, timestamp: int, step: int = 0):
    from mlflow.entities import Metric

    return Metric(key, float(value), timestamp, step)


def log_evaluation(params: Params, metrics: dict[str, Any], runs: dict[str, Any],
                   rows: list[dict[str, float]] = (), key: str = "rmse") -> None:
    """Add final standard/MC metrics of every split to each member's run; to the parent, ``best_p`` and the
    per-p table (``evaluate``).

    ``runs``: the folder's record, ``{"parent": id, "members": {member name: run id}}``
    (:func:`mcdropout.tracking.sidecar.read_runs`). ``rows``: the seed means per p (``sweep.summary_by_p``),
    logged as ``by_p/<column>`` at step ``round(100 p)`` so that the UI's chart view plots test error and NLL
    against p (x axis: step = 100 p).
    """
    if not params.mlflow.enabled or not runs.get("members"):
        return
    from mlflow.entities import Metric

    try:
        mlc = client(params.mlflow)
        now = now_ms()
        ids = {run["checkpoint"]: runs["members"].get(Path(run["checkpoint"]).stem) for run in metrics["runs"]}
        model_ids = _model_ids(mlc, {i for i in ids.values() if i})
        for run in metrics["runs"]:
            run_id = ids[run["checkpoint"]]
            if run_id:
                log_batched(mlc, run_id, metrics=_final_metrics(run, now, model_ids.get(run_id)))
        columns = [f"standard_test_{key}", f"mc_test_{key}", "standard_test_nll", "mc_test_nll",
                   f"standard_train_{key}"]
        table = [Metric(f"by_p/{c}", float(row[c]), now, int(round(100 * row["p"])))
                 for row in rows for c in columns if c in row]
        if runs.get("parent"):
            log_batched(mlc, runs["parent"], metrics=[_metric("best_p", metrics["best_p"], now), *table])
    except Exception as exc:
        warn("logging of evaluation metrics", exc)
