"""From raw predictions to predictive distributions, and their metrics.

Regression. A network trained on MSE predicts a mean only; for a likelihood and for
intervals we add homoscedastic observation noise ``s``, fitted on the *validation*
split (never test) by maximum likelihood, separately for each way of predicting:

* standard inference: ``N(mu, s^2)``; the MLE is ``s = RMSE(val)``;
* MC dropout: the mixture ``1/T sum_t N(mu_t, s^2)``; ``s`` maximises the mixture
  log-likelihood on val (bounded 1-D search on ``log s``). Its intervals use the
  moment-matched Gaussian ``N(mean_t mu_t, s^2 + var_t mu_t)``: the epistemic spread of
  the T means plus the noise.

Classification over K classes: mean probabilities over T passes; predictive entropy
H[E p], expected entropy E H[p], and mutual information (BALD) = H[E p] - E H[p].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcdropout.scoring import metrics as M

LEVELS = (0.5, 0.9, 0.95)


@dataclass(frozen=True)
class RegressionPrediction:
    mean: np.ndarray  # [N]
    epistemic_std: np.ndarray  # [N] spread of the T sample means (0 for standard inference)
    # The observation noise: homoscedastic, fitted on val (a float); or the heteroscedastic head's, per point [N]:
    # the root of the mean over passes of the predicted variances (the aleatoric part).
    noise_std: float | np.ndarray
    samples: np.ndarray | None  # [T, N] sample means (T = 1 for standard inference); None: streamed in blocks
    sample_noise_std: np.ndarray | None = None  # [T, N] the head's std per pass (heteroscedastic); else None

    @property
    def std(self) -> np.ndarray:
        """Predictive std: noise and epistemic parts together."""
        return np.sqrt(self.noise_std**2 + self.epistemic_std**2)

    @property
    def aleatoric_std(self) -> np.ndarray:
        """[N] the noise part of :attr:`std` (the same for every point with a homoscedastic noise)."""
        return np.broadcast_to(np.asarray(self.noise_std, dtype=np.float64), self.mean.shape)


@dataclass(frozen=True)
class ClassificationPrediction:
    probs: np.ndarray  # [N, K] mean class probabilities
    entropy: np.ndarray  # [N] predictive entropy H[E p]
    expected_entropy: np.ndarray  # [N] E H[p]
    samples: np.ndarray | None  # [T, N, K] per-pass probabilities; None: streamed in blocks

    @property
    def mutual_info(self) -> np.ndarray:
        return np.maximum(self.entropy - self.expected_entropy, 0.0)

    @property
    def label(self) -> np.ndarray:
        """[N] index of the most probable class."""
        return self.probs.argmax(-1)

    @property
    def prob(self) -> np.ndarray:
        """[N] probability of class 1 (two classes)."""
        return self.probs[:, 1]


def fit_noise_std(samples: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood homoscedastic noise for sample means ``[T, N]`` against ``y``."""
    resid = float(np.sqrt(np.mean((y - samples.mean(0)) ** 2)))
    floor = 1e-6 * max(float(np.std(y)), 1e-6)
    if samples.shape[0] == 1:
        return max(resid, floor)
    from scipy.optimize import minimize_scalar  # 1 s to import: here, where regression needs it

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


def heteroscedastic_prediction(means: np.ndarray, variances: np.ndarray) -> RegressionPrediction:
    """``means``, ``variances``: ``[T, N]`` each, a mean and a variance per pass (T = 1: standard inference).
    The prediction is their equal-weight Gaussian mixture: its variance is the mean of the variances (aleatoric)
    plus the variance of the means (epistemic)."""
    return RegressionPrediction(means.mean(0), means.std(0), np.sqrt(variances.mean(0)), means, np.sqrt(variances))


def classification_prediction(sample_probs: np.ndarray) -> ClassificationPrediction:
    """``sample_probs``: ``[T, N, K]`` class probabilities, or ``[T, N]`` of class 1 (T = 1: standard inference)."""
    if sample_probs.ndim == 2:
        sample_probs = M.two_class(sample_probs)
    probs = sample_probs.mean(0)
    return ClassificationPrediction(probs, M.entropy(probs), M.entropy(sample_probs).mean(0), sample_probs)


def regression_metrics(pred: RegressionPrediction, y: np.ndarray) -> dict[str, float]:
    std, noise = pred.std, pred.sample_noise_std  # noise: the heteroscedastic head's, per pass
    out = {
        "rmse": M.rmse(y, pred.mean),
        "mae": M.mae(y, pred.mean),
        "nll": M.mixture_nll(y, pred.samples, pred.noise_std if noise is None else noise),
        "crps": M.crps_gaussian(y, pred.mean, std),
        "calibration_error": M.quantile_calibration_error(y, pred.mean, std),
        "noise_std": float(np.mean(pred.noise_std)),
        "mean_epistemic_std": float(pred.epistemic_std.mean()),
    }
    for level in LEVELS:
        pct = round(level * 100)
        out[f"coverage_{pct}"] = M.coverage(y, pred.mean, std, level)
        out[f"width_{pct}"] = M.interval_width(std, level)
    return out


def classification_metrics(pred: ClassificationPrediction, y: np.ndarray) -> dict[str, float]:
    """``y``: class indices ``[N]``. Brier is the multi-class score (twice the binary one for K = 2)."""
    y = y.astype(int)
    wrong = pred.label != y
    return {
        "accuracy": M.accuracy_k(y, pred.probs),
        "nll": M.nll_k(y, pred.probs),
        "brier": M.brier_k(y, pred.probs),
        "ece": M.ece_k(y, pred.probs),
        "auroc_entropy": M.auroc(pred.entropy, wrong),
        "auroc_mutual_info": M.auroc(pred.mutual_info, wrong),
        "mean_entropy": float(pred.entropy.mean()),
        "mean_mutual_info": float(pred.mutual_info.mean()),
    }
