"""The Monte Carlo error of an MC-dropout prediction: how far each row's numbers would move with other samples.

An MC-dropout prediction of a row is an average over T stochastic passes, so it is itself an estimate with a
standard error that shrinks as 1/sqrt(T). The accumulators here keep, per row, the running power sums of the passes
(their own count per row, so rows can stop sampling at different T) and give the predictive values and their
standard errors from the same sums, in float64:

Regression (pass means mu_t, noise s fitted on val): mean = E mu_t, SE = sd(mu_t) / sqrt(T);
std = sqrt(s^2 + v) with v the spread of the mu_t, SE(std) = SE(v) / (2 std), SE(v) = sqrt((m4 - v^2) / T)
(delta method; m4 the fourth central moment).

Classification (pass probabilities p_t): prob_k = E p_tk, SE = sd(p_tk) / sqrt(T). Entropy H(E p) and mutual
information H(E p) - E H(p_t) by the delta method: with g = -log(E p), SE(H) = sqrt(g' C g / T) (C the covariance
of p_t), SE(MI) = sqrt(Var(g' p_t - H(p_t)) / T).

Bias: the entropy and mutual information of the mean are biased low at small T; to first order by
-(1/2T) sum_k Var(p_tk) / E p_tk (:meth:`ClassificationMoments.entropy_bias`). The reported values are the plain
(plug-in) estimates, as everywhere in the literature, not corrected; the bias is estimated (docs/mc_error.md) and
falls as 1/T, faster than the standard error. With T = 1 no spread can be seen: the standard errors are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcdropout.scoring import metrics as M
from mcdropout.scoring.uncertainty import ClassificationPrediction, RegressionPrediction


def _spread(central_square: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Standard error of a mean from the population variance of ``count`` values: sqrt(var / (count - 1))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 1, np.sqrt(np.maximum(central_square, 0.0) / np.maximum(count - 1, 1)), np.nan)


@dataclass
class RegressionMoments:
    """Per-row power sums of the pass means about a shift (each row's first pass mean: no cancellation)."""

    count: np.ndarray  # [N] passes seen
    shift: np.ndarray  # [N]
    sums: np.ndarray  # [4, N] sums of (mu_t - shift)^1..4

    @classmethod
    def empty(cls, rows: int) -> RegressionMoments:
        return cls(np.zeros(rows, np.int64), np.zeros(rows), np.zeros((4, rows)))

    def add(self, block: np.ndarray, rows: np.ndarray | None = None) -> None:
        """``block``: ``[t, n]`` pass means of the rows ``rows`` (all rows when None)."""
        rows = np.arange(len(self.count)) if rows is None else rows
        block = np.asarray(block, dtype=np.float64)
        new = self.count[rows] == 0
        self.shift[rows[new]] = block[:, new].mean(0)
        d = block - self.shift[rows]
        power = np.ones_like(d)
        for k in range(4):
            power = power * d
            self.sums[k, rows] += power.sum(0)
        self.count[rows] += block.shape[0]

    def _moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = np.maximum(self.count, 1)
        s1, s2, s3, s4 = self.sums / n
        var = np.maximum(s2 - s1**2, 0.0)
        m4 = np.maximum(s4 - 4 * s1 * s3 + 6 * s1**2 * s2 - 3 * s1**4, 0.0)
        return self.shift + s1, var, m4

    def prediction(self, noise_std: float) -> RegressionPrediction:
        mean, var, _ = self._moments()
        return RegressionPrediction(mean, np.sqrt(var), float(noise_std), None)

    def errors(self, noise_std: float | np.ndarray) -> dict[str, np.ndarray]:
        """``{"mean": SE, "std": SE}`` per row, by the column each belongs to."""
        _, var, m4 = self._moments()
        std = np.sqrt(noise_std**2 + var)
        var_se = _spread(m4 - var**2, self.count)
        with np.errstate(divide="ignore", invalid="ignore"):
            std_se = np.where(var_se == 0, 0.0, var_se / (2 * std))
        return {"mean": _spread(var, self.count), "std": std_se}

    def main_error(self, noise_std: float) -> np.ndarray:
        """The larger of the mean's and the std's standard error: what sampling to a tolerance brings down."""
        errors = self.errors(noise_std)
        return np.maximum(errors["mean"], errors["std"])


@dataclass
class HeteroscedasticMoments(RegressionMoments):
    """:class:`RegressionMoments` of the pass means, and the sum of the passes' predicted variances (the
    heteroscedastic head): the noise is the head's own, per row. The Monte Carlo error of the aleatoric part is not
    counted in the std's standard error (the epistemic part's is)."""

    variances: np.ndarray | None = None  # [N] sum of the predicted variances

    @classmethod
    def empty(cls, rows: int) -> HeteroscedasticMoments:
        return cls(np.zeros(rows, np.int64), np.zeros(rows), np.zeros((4, rows)), np.zeros(rows))

    def add(self, block: np.ndarray, rows: np.ndarray | None = None) -> None:
        """``block``: ``[t, n, 2]`` pass means and variances of the rows ``rows`` (all rows when None)."""
        rows = np.arange(len(self.count)) if rows is None else rows
        self.variances[rows] += np.asarray(block[..., 1], dtype=np.float64).sum(0)
        super().add(block[..., 0], rows)

    def _noise(self) -> np.ndarray:
        return np.sqrt(self.variances / np.maximum(self.count, 1))

    def prediction(self, noise_std: float | None = None) -> RegressionPrediction:
        mean, var, _ = self._moments()
        return RegressionPrediction(mean, np.sqrt(var), self._noise(), None)

    def errors(self, noise_std: float | None = None) -> dict[str, np.ndarray]:
        return super().errors(self._noise())

    def main_error(self, noise_std: float | None = None) -> np.ndarray:
        return super().main_error(self._noise())


@dataclass
class ClassificationMoments:
    """Per-row sums of the pass probabilities, their products, each pass's entropy and its products."""

    labels: tuple[str, ...]  # the classes: the columns prob_<label>
    count: np.ndarray  # [N]
    probs: np.ndarray  # [N, K] sum of p_t
    cross: np.ndarray  # [N, K, K] sum of p_t p_t'
    entropy: np.ndarray  # [N] sum of H(p_t)
    entropy_sq: np.ndarray  # [N] sum of H(p_t)^2
    entropy_probs: np.ndarray  # [N, K] sum of H(p_t) p_t

    @classmethod
    def empty(cls, rows: int, labels: tuple[str, ...]) -> ClassificationMoments:
        k = len(labels)
        return cls(tuple(labels), np.zeros(rows, np.int64), np.zeros((rows, k)), np.zeros((rows, k, k)),
                   np.zeros(rows), np.zeros(rows), np.zeros((rows, k)))

    def add(self, block: np.ndarray, rows: np.ndarray | None = None) -> None:
        """``block``: ``[t, n, K]`` pass probabilities (or ``[t, n]`` of class 1) of the rows ``rows``."""
        rows = np.arange(len(self.count)) if rows is None else rows
        block = np.asarray(M.two_class(block) if block.ndim == 2 else block, dtype=np.float64)
        h = M.entropy(block)  # [t, n]
        self.probs[rows] += block.sum(0)
        self.cross[rows] += np.einsum("tnk,tnl->nkl", block, block)
        self.entropy[rows] += h.sum(0)
        self.entropy_sq[rows] += (h**2).sum(0)
        self.entropy_probs[rows] += np.einsum("tn,tnk->nk", h, block)
        self.count[rows] += block.shape[0]

    def _means(self):
        n = np.maximum(self.count, 1).astype(np.float64)
        p = self.probs / n[:, None]
        cov = self.cross / n[:, None, None] - p[:, :, None] * p[:, None, :]
        return n, p, cov

    def prediction(self, noise_std: float | None = None) -> ClassificationPrediction:
        n, p, _ = self._means()
        return ClassificationPrediction(p, M.entropy(p), self.entropy / n, None)

    def errors(self, noise_std: float | None = None) -> dict[str, np.ndarray]:
        """``{"prob_<label>": SE, ..., "entropy": SE, "mutual_info": SE}`` per row (delta method, module
        docstring), by the column each belongs to."""
        n, p, cov = self._means()
        g = -np.log(np.clip(p, M.EPS, 1.0))
        var_h = np.einsum("nk,nkl,nl->n", g, cov, g)
        mean_h = self.entropy / n
        cov_gh = np.einsum("nk,nk->n", g, self.entropy_probs / n[:, None] - p * mean_h[:, None])
        var_mi = var_h - 2 * cov_gh + (self.entropy_sq / n - mean_h**2)
        probs = _spread(np.diagonal(cov, axis1=1, axis2=2), self.count[:, None])
        return {**{f"prob_{label}": probs[:, k] for k, label in enumerate(self.labels)},
                "entropy": _spread(var_h, self.count), "mutual_info": _spread(var_mi, self.count)}

    def main_error(self, noise_std: float | None = None) -> np.ndarray:
        """The standard error of the most probable class's probability."""
        _, p, cov = self._means()
        top = p.argmax(1)
        return _spread(np.diagonal(cov, axis1=1, axis2=2)[np.arange(len(top)), top], self.count)

    def entropy_bias(self) -> np.ndarray:
        """First-order bias of the entropy (and of the mutual information) of the mean of T passes:
        -(1/2T) sum_k Var(p_tk) / E p_tk, with the sample variance; negative: the plug-in value is too low."""
        n, p, cov = self._means()
        var = np.diagonal(cov, axis1=1, axis2=2) * (n / np.maximum(n - 1, 1))[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > M.EPS, var / np.maximum(p, M.EPS), 0.0)
        return -terms.sum(1) / (2 * n)
