"""Spreads over repeats and the rules that turn them into words.

Every number a report shows is a mean over repeats (seeds; for real data also data splits) with its standard
error, the object ``{"mean", "se", "n"}`` of :func:`estimate`. Two methods evaluated on the same repeats are
compared by their *paired* differences (:func:`paired`): "better" or "worse" only when the mean difference is
more than two standard errors from zero, "no clear difference" otherwise, and nothing stronger with fewer than two
repeats. :func:`at_grid_edge` says when a chosen value sits at an end of the grid it was chosen from, where the
optimum may lie outside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"
Z = 2.0  # a difference counts when it is more than Z standard errors from zero
TINY = 1e-9  # and when it is more than rounding: equal results differ by ~1e-16 with a standard error of 0


def estimate(values: Sequence[float]) -> dict[str, float | int | None]:
    """``{"mean", "se", "n"}`` of finite ``values``: the mean, its standard error (sample sd / sqrt(n); ``None``
    below two values) and how many values there are (``mean`` is ``None`` when there are none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"mean": float(v.mean()), "se": se, "n": n}


@dataclass(frozen=True)
class Paired:
    """``a - b`` over paired repeats, and what it means for ``a``."""
    diff: float  # mean of a - b
    se: float | None  # its standard error (None: fewer than two pairs)
    n: int
    verdict: str  # BETTER / WORSE / UNCLEAR, for ``a`` against ``b``

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {"diff": self.diff, "se": self.se, "n": self.n, "verdict": self.verdict}


def paired(a: Sequence[float], b: Sequence[float], lower_is_better: bool = True) -> Paired:
    """``a`` against ``b`` measured on the same repeats (``a[i]`` and ``b[i]`` on repeat ``i``)."""
    if len(a) != len(b):
        raise ValueError(f"paired values: {len(a)} against {len(b)}")
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    est = estimate(d.tolist())
    mean, se, n = est["mean"], est["se"], est["n"]
    if mean is None:
        return Paired(math.nan, None, 0, UNCLEAR)
    verdict = UNCLEAR
    if se is not None and abs(mean) > Z * se and abs(mean) > TINY:
        verdict = BETTER if (mean < 0) == lower_is_better else WORSE
    return Paired(float(mean), se, int(n), verdict)


def at_grid_edge(grid: Sequence[float], chosen: float) -> bool:
    """Whether ``chosen`` is the smallest or the largest value of a grid of at least two values."""
    values = sorted(set(grid))
    return len(values) > 1 and chosen in (values[0], values[-1])


def pm(est: dict[str, float | int | None], digits: int = 3) -> str:
    """``0.123 ± 0.004`` (``± ?`` from one repeat, ``–`` without a value)."""
    if est.get("mean") is None:
        return "–"
    se = est.get("se")
    return f"{est['mean']:.{digits}f} ± " + ("?" if se is None else f"{se:.{digits}f}")
