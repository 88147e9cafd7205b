"""What an uncertainty method is to the trust study, and the registry it is found in.

A method is built for one dataset and one repeat (a seed of the sweep) from what the study trained
(:class:`Context`): a name, a label for the report, how its setting was chosen (``selected_by``) and what it chose
(``config``), how long it took to train, and ``predict(x)``, the task's prediction object from the method's samples
(MC passes, ensemble members, ...). ``register(name, build)`` adds one; the trust study, the report and MLflow
iterate over what :func:`build_methods` gives, in the order of registration.
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
from mcdropout.inference.evaluation import raw_samples
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member


@dataclass
class Method:
    name: str  # the key in trust.json, dvc metrics and MLflow (trust/<name>/...)
    predict: Callable[[np.ndarray], Any]  # raw x -> the task's prediction object
    train_seconds: float
    has_uncertainty: bool  # False: nothing input-dependent to rank points by
    epistemic: bool = True  # a model uncertainty of its own (not only the softmax or a fitted noise): the headline
    label: str | None = None  # what the report calls it (default: the name)
    selected_by: str = ""  # the rule that chose its setting, on validation data
    config: dict[str, Any] = field(default_factory=dict)  # what the rule chose
    single_member: Callable[[np.ndarray], Any] | None = None  # an ensemble's first member alone, for the paired check


@dataclass(frozen=True)
class Context:
    """What the study trained for one dataset, for the methods of one repeat to build on."""
    params: Params  # resolved for the dataset
    dataset: str
    data: Dataset
    task: Task
    metrics: dict[str, Any]  # the sweep's metrics.json
    compare: dict[str, Any] | None  # compare.json (None: the comparison has not run)
    seed: int  # the repeat: the sweep seed whose members are compared
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


def best_p(ctx: Context, inference: str) -> float:
    """The sweep's p chosen by the validation NLL of ``inference`` (``mc`` or ``standard``)."""
    return float(ctx.metrics.get("best_p_by_inference", {}).get(inference, ctx.metrics["best_p"]))


def sweep_member(ctx: Context, p: float):
    """The sweep's member at ``p`` and the repeat's seed: ``(model, meta)``, read once per context."""
    path = ctx.paths.sweep_dir(ctx.dataset) / f"{Member(p, ctx.seed).name}.pt"
    return cached(ctx, path, f"sweep --dataset {ctx.dataset}")


def cached(ctx: Context, path: Path, command: str):
    if path not in ctx.loaded:
        ctx.loaded[path] = load_member(path, command)
    return ctx.loaded[path]


def ensemble(ctx: Context, name: str) -> tuple[list, dict[str, Any]] | None:
    """The members of ensemble ``name`` for the repeat (compare.json's ``ensembles``), ``([(model, meta)], entry)``;
    ``None`` where the comparison trained none."""
    entry = (ctx.compare or {}).get("ensembles", {}).get(name)
    if not entry or str(ctx.seed) not in entry.get("members", {}):
        return None
    folder = ctx.paths.ensemble_dir(ctx.dataset)
    return [cached(ctx, folder / f"{m}.pt", f"compare --dataset {ctx.dataset}")
            for m in entry["members"][str(ctx.seed)]], entry


def member_seconds(meta) -> float:
    """The member's share of the batched fit that trained it."""
    return meta.fit_seconds / max(meta.fit_members, 1)


def ensemble_method(ctx: Context, name: str, label: str, members: list, entry: dict[str, Any], mode: str,
                    samples: int) -> Method:
    """Members' outputs pooled as samples (``samples`` passes each in ``mode``): a mixture with one noise std fitted
    on val (regression), mean probabilities (classification)."""
    task, val, seed = ctx.task, ctx.data.splits["val"], ctx.params.mc.seed
    models = [model for model, _ in members]

    def pooled(x: np.ndarray) -> np.ndarray:
        return np.concatenate([raw_samples(m, x, task, mode, samples, seed + j) for j, m in enumerate(models)])

    noise = task.fit_noise(pooled(val.x), val.y.astype(np.float64)) if task.fits_noise else None

    def first(x: np.ndarray) -> np.ndarray:
        return raw_samples(models[0], x, task, mode, samples * len(models), seed)

    first_noise = task.fit_noise(first(val.x), val.y.astype(np.float64)) if task.fits_noise else None
    config = {**entry.get("config", {}), "members": len(models)} | ({"samples_per_member": samples}
                                                                   if mode == "mc" else {})
    return Method(name, lambda x: task.prediction(pooled(x), noise), sum(member_seconds(m) for _, m in members),
                  has_uncertainty=True, label=label, selected_by=entry.get("selected_by", ""), config=config,
                  single_member=lambda x: task.prediction(first(x), first_noise))
