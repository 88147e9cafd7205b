"""The schema of the JSON files the study writes: ``metrics.json``, ``compare.json``, ``trust.json``.

Each file is validated by its model when it is written (:func:`checked`, so a change that breaks the schema fails
in the stage that made it) and when the report or MLflow reads it (:func:`read`, so a file of another version is
one clear line, not a ``KeyError`` deep in a figure). The models name what every key holds; the study keeps
handing plain dicts around (what JSON is), and keys a model does not name are kept (``extra="allow"``): a
user's or a newer method's numbers pass through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mcdropout.data.datasets import DataError


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Estimate(BaseModel):
    """A number over the repeats: mean, standard error (``None`` below two repeats), how many repeats."""
    model_config = ConfigDict(extra="forbid")
    mean: float | None
    se: float | None
    n: int


class Paired(_Model):
    """``a`` against ``b`` repeat by repeat (:func:`mcdropout.scoring.stats.paired`)."""
    a: str
    b: str
    part: str
    metric: str
    diff: float
    se: float | None
    n: int
    verdict: Literal["better", "worse", "no clear difference"]


class Selection(_Model):
    """How a setting was chosen from a grid (:func:`mcdropout.study.selection.select`); ``best_<key>`` beside."""
    criterion: str
    inference: Literal["mc", "standard"]
    at_grid_edge: bool
    curve: list[dict[str, Any]]


class Metrics(_Model):
    """``reports/<name>/metrics.json``: the sweep's evaluation, both inferences, every split of every member."""
    dataset: str
    task: Literal["regression", "classification"]
    mc_samples: int
    best_p: float
    selection: Selection
    best_p_by_inference: dict[str, float]
    runs: list[dict[str, Any]]


class Compare(_Model):
    """``reports/<name>/compare.json``: the other regularisers, their chosen settings, the ensembles' members."""
    dataset: str
    task: Literal["regression", "classification"]
    best_l2: float | None
    best_dropout_l2: float | None
    selection: dict[str, Any]
    ensembles: dict[str, Any]
    runs: list[dict[str, Any]]


class ShiftPoint(_Model):
    """One intensity of the shift family; every other key a metric's :class:`Estimate`."""
    intensity: float


class MethodResult(_Model):
    """One uncertainty method of ``trust.json``, every measurement an :class:`Estimate` over the repeats."""
    name: str
    label: str
    epistemic: bool
    selected_by: str
    config: dict[str, Any]
    repeats: int
    in_distribution: dict[str, Estimate]
    shifted: dict[str, Estimate] | None
    ood_auroc: dict[str, Estimate] | None
    shift_curve: list[ShiftPoint]
    selective: dict[str, Estimate] | None
    recalibrated: dict[str, Estimate | float | int]
    train_seconds: Estimate
    predict_ms_per_1000: Estimate
    single_member: dict[str, Estimate] | None = None


class Trust(_Model):
    """``reports/<name>/trust.json``: which uncertainty to trust (:mod:`mcdropout.study.trust`)."""
    dataset: str
    task: Literal["regression", "classification"]
    seeds: list[int]
    repeats: int
    mc_samples: int
    shift: dict[str, Any]
    shift_family: dict[str, Any]
    methods: list[MethodResult]
    paired: list[Paired]


SCHEMAS: dict[str, type[_Model]] = {"metrics.json": Metrics, "compare.json": Compare, "trust.json": Trust}
COMMANDS = {"metrics.json": "sweep", "compare.json": "compare", "trust.json": "trust"}


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def checked(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` after validating it as a ``kind`` file (``"trust.json"``, ...): returned unchanged."""
    try:
        SCHEMAS[kind].model_validate(obj)
    except ValidationError as exc:  # the study's own output: a bug, not a user's mistake
        raise ValueError(f"{kind} the study made does not match its schema: {_problem(exc)}") from None
    return obj


def read(kind: str, path: str | Path, dataset: str) -> dict[str, Any]:
    """A ``kind`` file read and validated; a missing, damaged or older file is one line naming what reruns it."""
    path = Path(path)
    rerun = f"run `mcdropout {COMMANDS[kind]} --dataset {dataset}`"
    if not path.is_file():
        raise DataError(f"{path}: missing; {rerun} first")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        SCHEMAS[kind].model_validate(obj)
    except ValueError as exc:  # json's and pydantic's errors are both ValueErrors
        what = _problem(exc) if isinstance(exc, ValidationError) else "not JSON"
        raise DataError(f"{path}: not a {kind} of this version ({what}); {rerun} again") from None
    return obj
