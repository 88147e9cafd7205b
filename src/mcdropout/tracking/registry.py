"""MLflow models and the registry: each member as a model on its run, the best one as the dataset's champion.

Kept apart from :mod:`mcdropout.tracking.runs` (runs and metrics), which must not import
torch: logging a model needs the network's code (:mod:`mcdropout.tracking.serving`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.tracking.runs import GroupRuns, client, experiment_id, tracking_uri, warn


def log_models(params: Params, outcomes: list, runs: GroupRuns, example: np.ndarray) -> dict[str, str]:
    """Each member as an MLflow model (a LoggedModel on its run) that predicts with MC dropout.

    ``example``: a few rows of raw inputs, the models' input example. Returns member name -> model id
    (those logged before a failure; empty without tracking).
    """
    model_ids: dict[str, str] = {}
    if not runs.members:
        return model_ids
    from mcdropout.tracking.serving import log_member_models

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        mlc = client(params.mlflow)  # the store's check, or skip it after an earlier failure
        members = [(runs.members[o.member.name], o.checkpoint, o.meta) for o in outcomes]
        for o, model_id in zip(outcomes, log_member_models(mlc, members, params.mc, example)):
            model_ids[o.member.name] = model_id
    except Exception as exc:  # tracking must never lose the trained models
        warn("logging of the models", exc)
    return model_ids


def register_champion(params: Params, dataset: str, metrics: dict[str, Any], runs: dict[str, Any]) -> str | None:
    """Register the best p's member (seed ``train.seed``, or the first seed) as ``mcdropout-<dataset>`` with the
    alias ``champion``; the version is tagged with p, seed and test metrics. ``runs``: the sweep folder's record
    (:func:`mcdropout.tracking.sidecar.read_runs`). Returns the version, or None."""
    if not params.mlflow.enabled:
        return None
    seeds = sorted({r["seed"] for r in metrics["runs"]})
    seed = params.train.seed if params.train.seed in seeds else seeds[0]
    run = next(r for r in metrics["runs"] if r["p"] == metrics["best_p"] and r["seed"] == seed)
    run_id = runs["members"].get(Path(run["checkpoint"]).stem)
    if not run_id:
        return None
    try:
        import mlflow

        mlc = client(params.mlflow)
        mlflow.set_tracking_uri(tracking_uri(params.mlflow))
        exp = experiment_id(params.mlflow, dataset)
        found = mlflow.search_logged_models(experiment_ids=[exp], output_format="list",
                                            filter_string=f"source_run_id = '{run_id}'")
        if not found:
            return None
        name = f"{params.mlflow.experiment_prefix}-{dataset}"
        version = mlflow.register_model(f"models:/{found[0].model_id}", name).version
        mlc.set_registered_model_alias(name, "champion", version)
        tags = {"p": f"{metrics['best_p']:g}", "seed": str(seed), "dataset": dataset,
                **{f"{mode}_test_{k}": f"{run[mode]['test'][k]:.5g}" for mode in ("standard", "mc")
                   for k in ("rmse", "accuracy", "nll", "coverage_95", "ece") if k in run[mode]["test"]}}
        for key, value in tags.items():
            mlc.set_model_version_tag(name, version, key, value)
        return str(version)
    except Exception as exc:
        warn("registration of the champion model", exc)
        return None


def champion_missing(params: Params, dataset: str) -> str | None:
    """Why ``models:/<prefix>-<dataset>@champion`` cannot be served (one line naming what to run first), or None.
    Creates nothing: a store that is not there is not made."""
    from mcdropout.tracking.store import store_exists

    name = f"{params.mlflow.experiment_prefix}-{dataset}"
    first = f"run `mcdropout sweep --dataset {dataset}` (or `dvc repro`) first"
    if not store_exists(params.mlflow):
        return f"no champion model {name}: the tracking store {tracking_uri(params.mlflow)} does not exist; {first}"
    try:
        client(params.mlflow).get_model_version_by_alias(name, "champion")
    except Exception:
        return f"no champion model {name} in the tracking store {tracking_uri(params.mlflow)}; {first}"
    return None
