"""From raw predictions to predictive distributions, and their metrics.

Regression. A network trained on MSE predicts a mean only; for a likelihood and for
intervals we add homoscedastic observation noise ``s``, fitted on the *validation*
split (never test) by maximum likelihood, separately for each way of predicting:

* standard inference: ``N(mu, s^2)``; the MLE is ``s = RMSE(val)``;
* MC dropout: the mixture ``1/T sum_t N(mu_t, s^2)``; ``s`` maximises the mixture
  log-likelihood on val (bounded 1-D search on ``log s``). Its intervals use the
  moment-matched Gaussian ``N(mean_t mu_t, s^2 + var_t mu_t)``: the epistemic spread of
  the T means plus the noise.

Classification: mean probability over T passes; predictive entropy H[E p], expected
entropy E H[p], and mutual information (BALD) = H[E p] - E H[p].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from mcdropout import metrics as M

LEVELS = (0.5, 0.9, 0.95)


@dataclass(frozen=True)
class RegressionPrediction:
    mean: np.ndarray  # [N]
    epistemic_std: np.ndarray  # [N] spread of the T sample means (0 for standard inference)
    noise_std: float  # homoscedastic observation noise, fitted on val
    samples: np.ndarray  # [T, N] sample means (T = 1 for standard inference)

    @property
    def std(self) -> np.ndarray:
        """Predictive std: noise and epistemic parts together."""
        return np.sqrt(self.noise_std**2 + self.epistemic_std**2)


@dataclass(frozen=True)
class ClassificationPrediction:
    prob: np.ndarray  # [N] mean probability of class 1
    entropy: np.ndarray  # [N] predictive entropy H[E p]
    expected_entropy: np.ndarray  # [N] E H[p]
    samples: np.ndarray  # [T, N] per-pass probabilities

    @property
    def mutual_info(self) -> np.ndarray:
        return np.maximum(self.entropy - self.expected_entropy, 0.0)


def fit_noise_std(samples: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood homoscedastic noise for sample means ``[T, N]`` against ``y``."""
    resid = float(np.sqrt(np.mean((y - samples.mean(0)) ** 2)))
    floor = 1e-6 * max(float(np.std(y)), 1e-6)
    if samples.shape[0] == 1:
        return max(resid, floor)
    result = minimize_scalar(
        lambda log_s: M.mixture_nll(y, samples, float(np.exp(log_s))),
        bounds=(np.log(max(resid * 1e-3, floor)), np.log(max(resid * 2.0, floor * 10))),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


def regression_prediction(samples: np.ndarray, noise_std: float) -> RegressionPrediction:
    """``samples``: ``[T, N]`` predicted means (T = 1: standard inference)."""
    return RegressionPrediction(samples.mean(0), samples.std(0), float(noise_std), samples)


def classification_prediction(sample_probs: np.ndarray) -> ClassificationPrediction:
    """``sample_probs``: ``[T, N]`` probabilities of class 1 (T = 1: standard inference)."""
    prob = sample_probs.mean(0)
    return ClassificationPrediction(
        prob, M.binary_entropy(prob), M.binary_entropy(sample_probs).mean(0), sample_probs
    )


def regression_metrics(pred: RegressionPrediction, y: np.ndarray) -> dict[str, float]:
    std = pred.std
    out = {
        "rmse": M.rmse(y, pred.mean),
        "mae": M.mae(y, pred.mean),
        "nll": M.mixture_nll(y, pred.samples, pred.noise_std),
        "crps": M.crps_gaussian(y, pred.mean, std),
        "calibration_error": M.quantile_calibration_error(y, pred.mean, std),
        "noise_std": pred.noise_std,
        "mean_epistemic_std": float(pred.epistemic_std.mean()),
    }
    for level in LEVELS:
        pct = round(level * 100)
        out[f"coverage_{pct}"] = M.coverage(y, pred.mean, std, level)
        out[f"width_{pct}"] = M.interval_width(std, level)
    return out


def classification_metrics(pred: ClassificationPrediction, y: np.ndarray) -> dict[str, float]:
    wrong = (pred.prob >= 0.5) != (y >= 0.5)
    return {
        "accuracy": M.accuracy(y, pred.prob),
        "nll": M.binary_nll(y, pred.prob),
        "brier": M.brier(y, pred.prob),
        "ece": M.ece(y, pred.prob),
        "auroc_entropy": M.auroc(pred.entropy, wrong),
        "auroc_mutual_info": M.auroc(pred.mutual_info, wrong),
        "mean_entropy": float(pred.entropy.mean()),
        "mean_mutual_info": float(pred.mutual_info.mean()),
    }
