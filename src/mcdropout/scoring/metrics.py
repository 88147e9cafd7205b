"""Pure, typed metric functions on NumPy arrays (no model, no I/O).

Regression metrics take a Gaussian predictive distribution ``N(mean, std^2)`` per
point; the MC log-likelihood takes the T sample means and uses the exact mixture.
Binary classification metrics take the predicted probability of class 1; the K-class
ones take probabilities ``[N, K]`` and integer labels ``[N]`` (a binary problem is the
K = 2 case with columns ``[1 - p, p]``).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

EPS = 1e-12

# --- the standard normal and friends (NumPy and the standard library: importing scipy.stats takes 2 s, paid by
# every command) ---------------------------------------------------------------------------------------------

_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(z: np.ndarray | float) -> np.ndarray:
    """Standard normal CDF, elementwise: ``erfc(-z / sqrt 2) / 2`` (accurate in both tails)."""
    # np.asarray: on a scalar (or 0-d array) the ufunc returns a Python float, which has no .astype
    return 0.5 * np.asarray(_erfc(-np.asarray(z, dtype=float) / math.sqrt(2)), dtype=float)


def norm_pdf(z: np.ndarray | float) -> np.ndarray:
    return np.exp(-0.5 * np.asarray(z, dtype=float) ** 2) / math.sqrt(2 * math.pi)


def norm_ppf(q: float) -> float:
    """Standard normal quantile of ``q`` in (0, 1)."""
    return NormalDist().inv_cdf(q)


def logsumexp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis``, shifted by the maximum (no overflow; all ``-inf`` gives ``-inf``)."""
    a = np.asarray(a, dtype=float)
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``, ties sharing their average rank (scipy's ``rankdata`` default)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(new) - 1]
    return ranks


# --- regression ---------------------------------------------------------------------


def rmse(y: np.ndarray, mean: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - mean) ** 2)))


def mae(y: np.ndarray, mean: np.ndarray) -> float:
    return float(np.mean(np.abs(y - mean)))


def gaussian_nll(y: np.ndarray, mean: np.ndarray, std: np.ndarray | float) -> float:
    """Mean negative log-likelihood of ``y`` under ``N(mean, std^2)`` (nats per point)."""
    var = np.broadcast_to(np.asarray(std, dtype=float) ** 2, np.shape(y))
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + 0.5 * (y - mean) ** 2 / var))


def mixture_nll(y: np.ndarray, sample_means: np.ndarray, noise_std: float | np.ndarray) -> float:
    """MC dropout NLL: ``-(logsumexp_t log N(y | mu_t, s^2) - log T)``, averaged over points.

    ``sample_means``: ``[T, N]``; ``noise_std``: the homoscedastic observation noise ``s``, or the heteroscedastic
    head's ``s_t`` per pass and point (``[T, N]``).
    """
    t = sample_means.shape[0]
    log_pdf = -0.5 * np.log(2 * np.pi * noise_std**2) - 0.5 * (y[None, :] - sample_means) ** 2 / noise_std**2
    return float(-np.mean(logsumexp(log_pdf, axis=0) - np.log(t)))


def gaussian_mixture(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and aleatoric variance of an equal-weight mixture of Gaussians ``N(means[m], variances[m])``
    (``[M, N]`` each: ensemble members or MC passes, per point).

    The variance is the law of total variance: ``mean_m(variances) + var_m(means)``, the aleatoric part
    (the members' own noise, ``mean_m(variances)``) plus the epistemic part (their disagreement), as
    Kendall & Gal (2017) split them; Lakshminarayanan et al. (2017) score an ensemble with the Gaussian of this
    mean and variance."""
    mean = means.mean(axis=0)
    aleatoric = variances.mean(axis=0)
    return mean, aleatoric + means.var(axis=0), aleatoric


def mixture_log_likelihood(y: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Per-point ``log (1/M) sum_m N(y | means[m], variances[m])`` (``[M, N]`` each): the exact log-likelihood of
    the mixture (MC dropout's with ``variances = 1 / tau``)."""
    log_pdf = -0.5 * np.log(2 * np.pi * variances) - 0.5 * (y[None, :] - means) ** 2 / variances
    return logsumexp(log_pdf, axis=0) - np.log(means.shape[0])


def interval(mean: np.ndarray, std: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of ``N(mean, std^2)``."""
    z = norm_ppf(0.5 + level / 2)
    return mean - z * std, mean + z * std


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray, level: float) -> float:
    """Fraction of points inside the central ``level`` interval."""
    lo, hi = interval(mean, std, level)
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_width(std: np.ndarray, level: float) -> float:
    """Mean width of the central ``level`` interval (sharpness: smaller is sharper)."""
    return float(np.mean(2 * norm_ppf(0.5 + level / 2) * np.broadcast_to(std, np.shape(std))))


def crps_gaussian(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Mean CRPS of ``N(mean, std^2)`` (closed form, Gneiting & Raftery 2007)."""
    z = (y - mean) / std
    crps = std * (z * (2 * norm_cdf(z) - 1) + 2 * norm_pdf(z) - 1 / np.sqrt(np.pi))
    return float(np.mean(crps))


def quantile_calibration_error(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: np.ndarray | None = None
) -> float:
    """Mean |observed - expected| fraction of ``y`` below the predicted ``q`` quantile.

    ``levels`` defaults to q = 0.05, 0.10, ..., 0.95 (uncertainty-toolbox's miscalibration area
    is the same idea integrated over q).
    """
    levels = np.linspace(0.05, 0.95, 19) if levels is None else np.asarray(levels)
    pit = norm_cdf((y - mean) / std)
    observed = np.array([np.mean(pit <= q) for q in levels])
    return float(np.mean(np.abs(observed - levels)))


# --- classification (binary) --------------------------------------------------------


def accuracy(y: np.ndarray, prob: np.ndarray) -> float:
    return float(np.mean((prob >= 0.5) == (y >= 0.5)))


def binary_nll(y: np.ndarray, prob: np.ndarray) -> float:
    """Mean negative log-likelihood (binary cross-entropy) in nats; probabilities clipped to [1e-12, 1 - 1e-12]."""
    p = np.clip(prob, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier(y: np.ndarray, prob: np.ndarray) -> float:
    """Mean squared error of the probability of class 1 (binary Brier score, in [0, 1])."""
    return float(np.mean((prob - y) ** 2))


def ece(y: np.ndarray, prob: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width bins of confidence.

    Confidence is that of the predicted label, ``max(p, 1 - p)`` in [0.5, 1]; bins split
    [0, 1] into equal widths (as in Guo et al. 2017), a point with confidence exactly
    on an edge goes to the upper bin (1.0 to the last). ECE = sum_b |B_b|/N * |acc_b - conf_b|.
    """
    conf = np.maximum(prob, 1 - prob)
    correct = (prob >= 0.5) == (y >= 0.5)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def reliability(y: np.ndarray, prob: np.ndarray, bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin mean confidence, accuracy and count (the reliability diagram's data)."""
    conf = np.maximum(prob, 1 - prob)
    correct = (prob >= 0.5) == (y >= 0.5)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=correct, minlength=bins) / count
    return {"confidence": mean_conf, "accuracy": acc, "count": count}


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for telling ``positive`` (e.g. wrong) from the rest.

    Ties count one half (Mann-Whitney U). NaN when only one class is present.
    """
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_entropy(prob: np.ndarray) -> np.ndarray:
    """Entropy in nats of Bernoulli(prob), elementwise."""
    p = np.clip(prob, EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


# --- classification (K classes) -----------------------------------------------------


def two_class(prob: np.ndarray) -> np.ndarray:
    """Probability of class 1 ``[...]`` as the two-column ``[..., 2]`` table ``[1 - p, p]``."""
    return np.stack([1.0 - prob, prob], axis=-1)


def accuracy_k(y: np.ndarray, probs: np.ndarray) -> float:
    return float(np.mean(probs.argmax(-1) == y))


def nll_k(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-probability of the true class, in nats (probabilities clipped at 1e-12)."""
    true = probs[np.arange(len(y)), y.astype(int)]
    return float(-np.mean(np.log(np.clip(true, EPS, 1.0))))


def brier_k(y: np.ndarray, probs: np.ndarray) -> float:
    """Multi-class Brier score: mean over points of sum_k (p_k - [y = k])^2, in [0, 2].

    For two classes it is twice the binary :func:`brier` of the class-1 probability.
    """
    onehot = np.eye(probs.shape[-1])[y.astype(int)]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=-1)))


def _top_label(y: np.ndarray, probs: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    conf = probs.max(-1)
    correct = probs.argmax(-1) == y
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    return conf, correct, idx


def ece_k(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Top-label expected calibration error: confidence of the predicted class in ``bins`` equal-width bins.

    For two classes it equals the binary :func:`ece`.
    """
    rel = reliability_k(y, probs, bins)
    ok = rel["count"] > 0
    weights = rel["count"][ok] / len(y)
    return float(np.sum(weights * np.abs(rel["accuracy"][ok] - rel["confidence"][ok])))


def reliability_k(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin mean top-label confidence, accuracy and count (the reliability diagram's data)."""
    conf, correct, idx = _top_label(y, probs, bins)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=correct, minlength=bins) / count
    return {"confidence": mean_conf, "accuracy": acc, "count": count}


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of each categorical distribution along the last axis."""
    p = np.clip(probs, EPS, 1.0)
    return -np.sum(p * np.log(p), axis=-1)
