"""How the study chooses a setting from a grid: one rule for every method, written beside what it chose.

The rule: the lowest seed-mean validation NLL of the inference the claim is about (``sweep.select``: ``mc``, MC
dropout, the default, or ``standard``, dropout off; a member without dropout predicts the same either way). The
test split never takes part. :func:`select` returns the choice with the criterion's curve over the grid (mean ± SE
over seeds) and whether the choice sits at an end of the grid, where the optimum may lie beyond it (a natural
bound, p = 0 or λ = 0, is not such an end).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np

from mcdropout.scoring.stats import at_grid_edge, estimate

INFERENCES = ("mc", "standard")
CRITERIA = {"mc": "lowest seed-mean validation NLL with MC dropout",
            "standard": "lowest seed-mean validation NLL with dropout off"}


def val_nll(run: dict[str, Any], inference: str) -> float:
    """The validation NLL of one evaluated member (an ``evaluate_model`` result) under ``inference``."""
    return float(run[inference]["val"]["nll"])


def select(runs: Iterable[dict[str, Any]], key: str, inference: str,
           bound: float | None = 0.0) -> dict[str, Any] | None:
    """The value of ``run[key]`` (e.g. ``"p"``, ``"l2"``) with the lowest seed-mean validation NLL under
    ``inference``; ties go to the value seen first. ``{"criterion", "inference", "best_<key>", "at_grid_edge",
    "curve": [{key, "mean", "se", "n"}, ...]}``, or ``None`` without runs. ``bound``: a natural end of the values
    (p = 0: no dropout; λ = 0: no weight decay), where a choice is not flagged: nothing lies beyond it."""
    groups: dict[Hashable, list[float]] = {}
    for run in runs:
        groups.setdefault(run[key], []).append(val_nll(run, inference))
    if not groups:
        return None
    best = min(groups, key=lambda v: float(np.mean(groups[v])))
    values = list(groups)
    return {"criterion": CRITERIA[inference], "inference": inference, f"best_{key}": best,
            "at_grid_edge": at_grid_edge(values, best) and best != bound,
            "curve": [{key: v, **estimate(groups[v])} for v in sorted(values)]}
