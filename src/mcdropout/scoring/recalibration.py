"""Post-hoc recalibration fitted on the validation split: the cheap fixes a practitioner would try first.

An MC dropout model's spread is often too narrow or too wide by a roughly constant
factor. Before concluding that its uncertainty is worthless, one should see what a
one-parameter fix on held-out data buys:

* **variance scaling** (regression): multiply the predictive std by the factor ``s``
  that maximises the Gaussian likelihood on val, :func:`fit_variance_scale`;
* **split-conformal intervals** (regression; Vovk et al. 2005, Lei et al. 2018): take
  the normalised val residuals ``|y - mean| / std`` as scores; ``mean -/+ q std`` with
  ``q`` from :func:`conformal_quantile` covers a new exchangeable point with probability
  at least ``level``, whatever the model;
* **temperature scaling** (classification; Guo et al. 2017): divide the log
  probabilities by ``T`` fitted to minimise the val NLL, :func:`fit_temperature`.

Pure functions on NumPy arrays; nothing here looks at the test split.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

T_BOUNDS = (0.05, 20.0)


def fit_variance_scale(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The std factor ``s`` such that ``N(mean, (s std)^2)`` has the highest likelihood on ``y``.

    Closed form: the likelihood in ``s^2`` is maximised at the mean of
    ``(y - mean)^2 / std^2``; returns its square root.
    """
    z2 = (np.asarray(y, float) - mean) ** 2 / np.asarray(std, float) ** 2
    return float(np.sqrt(np.mean(z2)))


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Split-conformal quantile: the ``ceil((n + 1) level)``-th smallest of the ``n`` val ``scores``.

    ``+inf`` when that index exceeds ``n`` (too few val points for the level: only the
    infinite interval guarantees it).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    s = np.sort(np.ravel(scores))
    k = math.ceil(round((len(s) + 1) * level, 9))  # round: (19 + 1) * 0.95 is 19.000000000000004
    return float(s[k - 1]) if k <= len(s) else float("inf")


def conformal_interval(mean: np.ndarray, std: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """``(mean - q std, mean + q std)``."""
    return mean - q * std, mean + q * std


def interval_coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of ``y`` inside ``[lower, upper]`` (ends included)."""
    return float(np.mean((y >= lower) & (y <= upper)))


def _nll(log_probs: np.ndarray, y: np.ndarray, temperature: float) -> float:
    scaled = log_softmax(log_probs / temperature, axis=-1)
    return float(-np.mean(scaled[np.arange(len(y)), y]))


def fit_temperature(log_probs: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` in [0.05, 20] minimising the NLL of ``softmax(log_probs / T)`` on ``y``.

    ``log_probs``: ``[N, K]`` log predicted class probabilities (for MC dropout, the log of
    the mean probabilities; logits work too, softmax ignores a per-row shift); ``y``: integer
    labels ``[N]``. A bounded 1-D search on ``log T``; ``T > 1`` softens an over-confident model.
    """
    log_probs, y = np.asarray(log_probs, float), np.asarray(y).astype(int)
    result = minimize_scalar(lambda log_t: _nll(log_probs, y, math.exp(log_t)), method="bounded",
                             bounds=(math.log(T_BOUNDS[0]), math.log(T_BOUNDS[1])), options={"xatol": 1e-6})
    return float(math.exp(result.x))


def apply_temperature(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``softmax(log_probs / T)`` along the last axis (max-subtracted, so no overflow)."""
    return softmax(np.asarray(log_probs, float) / temperature, axis=-1)
