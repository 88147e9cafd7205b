"""What the report reads, read once per dataset: summaries, the data splits and checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task
from mcdropout.data.datasets import DataError, Split, load_dataset, load_schema
from mcdropout.nn.checkpoint import CheckpointMeta, load_checkpoint
from mcdropout.nn.model import MLP
from mcdropout.study import results
from mcdropout.study.sweep import summary_by_p

Checkpoint = tuple[MLP, CheckpointMeta]


@dataclass
class TaskInputs:
    name: str  # the dataset's
    task: Task
    metrics: dict[str, Any]  # metrics.json
    rows: list[dict[str, float]]  # sweep.summary_by_p(metrics)
    splits: dict[str, Split]
    seed: int  # the seed whose members are drawn
    members: dict[float, Checkpoint]  # sweep members of ``seed``, by p
    histories: dict[float, np.ndarray]  # by p: [seeds, epochs, 4] training histories
    x_range: tuple[float, float]  # of the first input, where the training data lie
    data_noise: float | None  # the data's known observation-noise std (the verdicts' reference), if any
    sweep_run_id: str | None = None  # MLflow parent run of the sweep
    compare: dict[str, Any] | None = None  # compare.json, where there is one
    compare_checkpoints: list[Checkpoint] = field(default_factory=list)
    compare_run_id: str | None = None  # MLflow parent run of the comparison
    trust: dict[str, Any] | None = None  # trust.json, where there is one
    samples: dict[str, Any] | None = None  # samples.json, where there is one

    @property
    def best_p(self) -> float:
        return self.metrics["best_p"]

    @property
    def input_dim(self) -> int:
        return self.splits["train"].x.shape[1]


def _checkpoints(folder: Path) -> list[Checkpoint]:
    return [load_checkpoint(path) for path in sorted(folder.glob("*.pt"))]


def _parent_run(folder: Path) -> str | None:
    """The MLflow parent run the folder's checkpoints were logged under, where they were tracked."""
    from mcdropout.tracking.sidecar import read_runs

    return read_runs(folder)["parent"]


def check_inputs(name: str, paths: Paths) -> None:
    """The files a section needs are there (cheap: nothing is read); a :class:`DataError` naming the command."""
    if not paths.metrics_json(name).is_file():
        raise DataError(f"{paths.metrics_json(name)}: missing; run `mcdropout sweep --dataset {name}` first "
                        f"(it trains and evaluates the sweep)")
    if not any(paths.sweep_dir(name).glob("*.pt")):
        raise DataError(f"{paths.sweep_dir(name)}: no checkpoints; run `mcdropout sweep --dataset {name}` first")
    load_schema(name, paths.data)


def load_inputs(params: Params, name: str, paths: Paths) -> TaskInputs:
    """Everything one dataset's section needs; a :class:`DataError` saying which command to run otherwise."""
    check_inputs(name, paths)
    metrics = results.read("metrics.json", paths.metrics_json(name), name)
    sweep = _checkpoints(paths.sweep_dir(name))
    data = load_dataset(name, paths.data, metrics.get("head", "homoscedastic"))  # the head the sweep trained
    task, splits = data.task, data.splits
    seed = min(r["seed"] for r in metrics["runs"])
    histories: dict[float, list[np.ndarray]] = {}
    for _, meta in sweep:
        histories.setdefault(meta.p, []).append(meta.history.numpy())
    # The seed's generated curve: its range and noise std are known (params data.regression).
    curve = params.data.regression if data.schema.source == "synthetic" and task.continuous else None
    x = splits["train"].x[:, 0]
    inputs = TaskInputs(
        name=name, task=task, metrics=metrics, rows=summary_by_p(metrics), splits=splits, seed=seed,
        members=dict(sorted(((meta.p, (model, meta)) for model, meta in sweep if meta.seed == seed),
                            key=lambda item: item[0])),
        histories={p: np.stack(h) for p, h in sorted(histories.items())},
        x_range=(curve.x_min, curve.x_max) if curve else (float(x.min()), float(x.max())),
        data_noise=curve.noise if curve else None, sweep_run_id=_parent_run(paths.sweep_dir(name)))
    if paths.trust_json(name).is_file():
        inputs.trust = results.read("trust.json", paths.trust_json(name), name)
    if paths.samples_json(name).is_file():
        inputs.samples = json.loads(paths.samples_json(name).read_text())
    if paths.compare_json(name).is_file():
        inputs.compare = results.read("compare.json", paths.compare_json(name), name)
        inputs.compare_checkpoints = _checkpoints(paths.compare_dir(name))
        inputs.compare_run_id = _parent_run(paths.compare_dir(name))
    return inputs
