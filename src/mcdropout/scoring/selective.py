"""What an uncertainty is good for, measured: spotting shifted inputs and setting doubtful predictions aside.

A predictive uncertainty earns its keep in two ways a practitioner can use
(Ovadia et al. 2019; Geifman & El-Yaniv 2017):

* **OOD detection**: ranking points by uncertainty should put the shifted (out of
  distribution) points above the in-distribution ones: :func:`ood_auroc`, and the false
  alarm rate at the threshold that catches 95% of the shifted points, :func:`fpr_at_95_tpr`;
* **selective prediction**: setting the most uncertain points aside should lower the
  error of the rest: the risk-coverage curve :func:`risk_coverage`, its area
  :func:`aurc`, and the error after dropping fixed fractions, :func:`selective_error`.

Every score is "higher = more uncertain"; errors are per point (e.g. ``|y - mean|``
or ``1`` for a wrong label). Pure functions on NumPy arrays, like :mod:`.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mcdropout.scoring.metrics import auroc


def ood_auroc(score_in: np.ndarray, score_out: np.ndarray) -> float:
    """AUROC of ``score`` for telling shifted points (``score_out``) from in-distribution ones (``score_in``).

    1 = every shifted point is more uncertain than every in-distribution one, 0.5 = no
    better than chance; ties count one half. NaN when either side is empty.
    """
    score_in, score_out = np.ravel(score_in), np.ravel(score_out)
    if len(score_in) == 0 or len(score_out) == 0:
        return float("nan")
    scores = np.concatenate([score_in, score_out])
    is_out = np.concatenate([np.zeros(len(score_in), bool), np.ones(len(score_out), bool)])
    return auroc(scores, is_out)


def fpr_at_95_tpr(score_in: np.ndarray, score_out: np.ndarray) -> float:
    """Fraction of in-distribution points flagged at the threshold that catches 95% of the shifted ones.

    The threshold is the 5th percentile of ``score_out`` (NumPy's default linear
    interpolation between order statistics); a point is flagged when its score is
    ``>= threshold``, so ties with the threshold count as flagged. Lower is better (0 =
    no false alarm). NaN when either side is empty.
    """
    score_in, score_out = np.ravel(score_in), np.ravel(score_out)
    if len(score_in) == 0 or len(score_out) == 0:
        return float("nan")
    threshold = np.percentile(score_out, 5)
    return float(np.mean(score_in >= threshold))


def risk_coverage(errors: np.ndarray, uncertainty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(coverage, risk)``: the risk-coverage curve, one point per k = 1..N.

    Points are sorted by ``uncertainty`` ascending (a stable sort: equal uncertainties keep
    their input order); ``coverage[k-1] = k / N`` and ``risk[k-1]`` is the mean error of
    the k most certain points. Empty inputs give two empty arrays.
    """
    errors, uncertainty = np.ravel(errors).astype(float), np.ravel(uncertainty)
    order = np.argsort(uncertainty, kind="stable")
    k = np.arange(1, len(errors) + 1)
    return k / max(len(errors), 1), np.cumsum(errors[order]) / k


def aurc(errors: np.ndarray, uncertainty: np.ndarray) -> float:
    """Area under the risk-coverage curve: the mean of the risks over k = 1..N (lower is better; NaN if empty)."""
    _, risk = risk_coverage(errors, uncertainty)
    return float(risk.mean()) if len(risk) else float("nan")


def selective_error(
    errors: np.ndarray, uncertainty: np.ndarray, drop_fractions: Sequence[float] = (0.1, 0.2, 0.5)
) -> dict[str, float]:
    """Mean error of the points kept when the most uncertain fraction ``f`` is set aside, per ``f``.

    Keeps the ``ceil((1 - f) N)`` most certain points (at least 1; order as in
    :func:`risk_coverage`). Keys ``"drop_<100 f>"``, e.g. ``"drop_10"`` for ``f = 0.1``.
    Values are NaN when there are no points.
    """
    _, risk = risk_coverage(errors, uncertainty)
    out: dict[str, float] = {}
    for f in drop_fractions:
        if not 0.0 <= f < 1.0:
            raise ValueError(f"drop fraction must be in [0, 1), got {f}")
        keep = max(1, math.ceil(round((1.0 - f) * len(risk), 9)))  # round: (1 - 0.7) * 10 is 3.0000000000000004
        out[f"drop_{round(f * 100):d}"] = float(risk[keep - 1]) if len(risk) else float("nan")
    return out
