"""What an uncertainty method is to the trust study, and the registry it is found in.

A method is built for one dataset from what the study trained (:class:`Context`): a name, a label for the report,
how long it took to train, and ``predict(x)``, the task's prediction object from the method's samples (MC passes,
ensemble members, ...). ``register(name, build)`` adds one; the trust study, the report and MLflow iterate over
what :func:`build_methods` gives, in the order of registration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task
from mcdropout.data.datasets import DataError, Dataset
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member


@dataclass
class Method:
    name: str  # the key in trust.json, dvc metrics and MLflow (trust/<name>/...)
    predict: Callable[[np.ndarray], Any]  # raw x -> the task's prediction object
    train_seconds: float
    has_uncertainty: bool  # False: nothing input-dependent to rank points by
    label: str | None = None  # what the report calls it (default: the name)


@dataclass(frozen=True)
class Context:
    """What the study trained for one dataset, for the methods to build on."""
    params: Params  # resolved for the dataset
    dataset: str
    data: Dataset
    task: Task
    best_p: float  # the sweep's selected rate
    seed: int  # the training seed whose members are compared
    loaded: dict[Path, Any] = field(default_factory=dict, compare=False)  # checkpoints read once per trust run

    @property
    def paths(self) -> Paths:
        return Paths.of(self.params)


Build = Callable[[Context], "Method | None"]  # None: the method has nothing trained for this dataset
REGISTRY: dict[str, Build] = {}


def register(name: str, build: Build) -> None:
    """Add (or replace) the method ``name``; it is built for every dataset the trust study evaluates."""
    REGISTRY[name] = build


def build_methods(ctx: Context) -> list[Method]:
    """Every registered method that has what it needs for this dataset, in the order of registration."""
    return [m for m in (build(ctx) for build in REGISTRY.values()) if m is not None]


def load_member(path: Path, command: str):
    """A checkpoint the method needs, or one line naming the command that trains it."""
    if not path.is_file():
        raise DataError(f"{path}: missing; run `mcdropout {command}` first")
    return load_checkpoint(path)


def selected_member(ctx: Context):
    """The sweep's member at the selected p and the compared seed: ``(model, meta)``, read once per context
    (standard inference and MC dropout share it)."""
    path = ctx.paths.sweep_dir(ctx.dataset) / f"{Member(ctx.best_p, ctx.seed).name}.pt"
    if path not in ctx.loaded:
        ctx.loaded[path] = load_member(path, f"sweep --dataset {ctx.dataset}")
    return ctx.loaded[path]


def member_seconds(meta) -> float:
    """The member's share of the batched fit that trained it."""
    return meta.fit_seconds / max(meta.fit_members, 1)
