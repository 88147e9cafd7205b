"""The metric dicts the report prints, on tiny MC predictions worked out by hand (T = 2, a few points), and against
independent references (SciPy, scikit-learn) on random ones. References are imported here only: the library keeps
scipy.stats and sklearn out of its start-up path."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import entropy as scipy_entropy
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from mcdropout.scoring.uncertainty import (
    LEVELS,
    classification_metrics,
    classification_prediction,
    regression_metrics,
    regression_prediction,
)

# --- regression: T = 2 sample means of three points, noise s = 1 -------------------------------------------------

SAMPLES = np.array([[0.0, 1.0, 2.0],
                    [2.0, 1.0, 0.0]])  # mean 1 everywhere; epistemic std 1, 0, 1
Y = np.array([0.0, 1.0, 3.0])  # errors -1, 0, 2 (asymmetric: one below, one above the mean)


def _crps_by_integral(y: float, mu: float, sigma: float) -> float:
    """CRPS from its definition, int (F(x) - 1[x >= y])^2 dx, by quadrature (no closed form involved)."""
    below, _ = integrate.quad(lambda x: norm.cdf(x, mu, sigma) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda x: norm.sf(x, mu, sigma) ** 2, y, np.inf)
    return below + above


def test_regression_prediction_by_hand():
    pred = regression_prediction(SAMPLES, 1.0)
    np.testing.assert_allclose(pred.mean, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(pred.epistemic_std, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pred.std, [math.sqrt(2), 1.0, math.sqrt(2)])


def test_regression_metrics_by_hand():
    out = regression_metrics(regression_prediction(SAMPLES, 1.0), Y)
    std = np.array([math.sqrt(2), 1.0, math.sqrt(2)])
    assert set(out) == {"rmse", "mae", "nll", "crps", "calibration_error", "noise_std", "mean_epistemic_std",
                        "coverage_50", "width_50", "coverage_90", "width_90", "coverage_95", "width_95"}
    assert out["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert out["mae"] == pytest.approx(1.0)
    # The MC mixture 1/2 (N(mu_1, 1) + N(mu_2, 1)) per point, not the moment-matched Gaussian N(1, std^2):
    # point 0: y = 0, means 0 and 2; point 1: both means 1; point 2: y = 3, means 2 and 0.
    phi = norm.pdf
    nll = -(math.log(0.5 * (phi(0) + phi(2))) + math.log(phi(0)) + math.log(0.5 * (phi(1) + phi(3)))) / 3
    assert out["nll"] == pytest.approx(nll)
    assert out["nll"] == pytest.approx(1.4993440072577)
    gaussian = -np.mean(norm.logpdf(Y, 1.0, std))
    assert abs(out["nll"] - gaussian) > 0.05  # the Gaussian NLL would be a different number
    # CRPS of the moment-matched Gaussian N(1, std^2), from its integral definition.
    assert out["crps"] == pytest.approx(np.mean([_crps_by_integral(y, 1.0, s) for y, s in zip(Y, std)]), rel=1e-6)
    # PIT values Phi(-1/sqrt 2) = 0.240, Phi(0) = 0.5, Phi(sqrt 2) = 0.921; observed fraction below q for
    # q = 0.05..0.95: 0 (4 levels), 1/3 (5), 2/3 (9), 1 (1): sum |obs - q| = 1.9 over 19 levels.
    assert out["calibration_error"] == pytest.approx(0.1)
    assert out["noise_std"] == 1.0 and out["mean_epistemic_std"] == pytest.approx(2 / 3)
    # 50%: +-0.674 std: only the middle point; 90% and 95%: all three.
    assert (out["coverage_50"], out["coverage_90"], out["coverage_95"]) == pytest.approx((1 / 3, 1.0, 1.0))
    for level in LEVELS:
        pct = round(level * 100)
        assert out[f"width_{pct}"] == pytest.approx(2 * norm.ppf(0.5 + level / 2) * std.mean())


def test_regression_metrics_standard_inference_is_gaussian():
    """T = 1: the mixture is one Gaussian, no epistemic part; every number is the plain N(mean, s^2) one."""
    mean, y, s = np.array([0.5, -1.0, 2.0, 0.0]), np.array([0.0, 0.5, 2.0, -3.0]), 1.5
    out = regression_metrics(regression_prediction(mean[None], s), y)
    assert out["nll"] == pytest.approx(-np.mean(norm.logpdf(y, mean, s)))
    assert out["mean_epistemic_std"] == 0.0
    z = (y - mean) / s
    crps = s * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    assert out["crps"] == pytest.approx(crps.mean())
    # z = -1/3, 1, 0, -2 -> 95%: all but the last; 50% (+-0.674): only z = -1/3 and z = 0.
    assert out["coverage_95"] == 0.75 and out["coverage_50"] == 0.5


# --- classification: T = 2 passes, four points, two classes --------------------------------------------------------

PASSES = np.array([[0.9, 0.5, 0.2, 0.7],
                   [0.5, 0.45, 0.4, 0.1]])  # probability of class 1 per pass
YC = np.array([1, 1, 0, 1])  # mean p = 0.7, 0.475, 0.3, 0.4 -> labels 1, 0, 0, 0: points 1 and 3 wrong


def _h(p):
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def test_classification_prediction_by_hand():
    pred = classification_prediction(PASSES)
    np.testing.assert_allclose(pred.prob, [0.7, 0.475, 0.3, 0.4])
    assert pred.label.tolist() == [1, 0, 0, 0]
    np.testing.assert_allclose(pred.entropy, _h(np.array([0.7, 0.475, 0.3, 0.4])))
    expected = (_h(PASSES[0]) + _h(PASSES[1])) / 2
    np.testing.assert_allclose(pred.expected_entropy, expected)
    np.testing.assert_allclose(pred.mutual_info, [0.10174923, 0.00125366, 0.02415726, 0.20503803], atol=1e-8)


def test_classification_metrics_by_hand():
    out = classification_metrics(classification_prediction(PASSES), YC)
    assert out["accuracy"] == 0.5
    assert out["nll"] == pytest.approx(-(2 * math.log(0.7) + math.log(0.475) + math.log(0.4)) / 4)
    # sum_k (p_k - onehot_k)^2: 2 * 0.3^2, 2 * 0.525^2, 2 * 0.3^2, 2 * 0.6^2
    assert out["brier"] == pytest.approx((0.18 + 0.55125 + 0.18 + 0.72) / 4)
    # top-label confidences 0.7 (right), 0.525 (wrong), 0.7 (right), 0.6 (wrong); 15 bins: {0.7, 0.7} share one
    assert out["ece"] == pytest.approx(0.5 * 0.3 + 0.25 * 0.525 + 0.25 * 0.6)
    # entropy: the wrong points (0.692, 0.673) are above both right ones (0.611, 0.611): AUROC 1.
    assert out["auroc_entropy"] == 1.0
    # mutual information: wrong 0.0013 and 0.2050 against right 0.1017 and 0.0242: 2 of 4 pairs.
    assert out["auroc_mutual_info"] == 0.5
    assert out["mean_entropy"] == pytest.approx(np.mean(_h(np.array([0.7, 0.475, 0.3, 0.4]))))
    assert out["mean_mutual_info"] == pytest.approx(np.mean([0.10174923, 0.00125366, 0.02415726, 0.20503803]))
    assert out["mean_mutual_info"] < 0.2 * out["mean_entropy"]


def test_classification_metrics_standard_inference_has_no_mutual_information():
    # T = 1, the first pass: p = 0.9, 0.5, 0.2, 0.7 -> labels 1, 0 (a tie goes to class 0), 0, 1: point 1 wrong
    out = classification_metrics(classification_prediction(PASSES[:1]), YC)
    assert out["accuracy"] == 0.75 and out["mean_mutual_info"] == 0.0
    assert out["auroc_entropy"] == 1.0  # the wrong point has the largest entropy, log 2
    assert out["auroc_mutual_info"] == 0.5  # MI is 0 everywhere: all ties
    # the second pass: p = 0.5, 0.45, 0.4, 0.1 -> all labelled 0: points 0, 1, 3 wrong
    out = classification_metrics(classification_prediction(PASSES[1:]), YC)
    assert out["accuracy"] == 0.25 and out["auroc_mutual_info"] == 0.5
    # entropies H(0.5) = 0.693, H(0.45) = 0.688, H(0.1) = 0.325 (wrong) against H(0.4) = 0.673 (right): 2 of 3
    assert out["auroc_entropy"] == pytest.approx(2 / 3)
    out = classification_metrics(classification_prediction(np.array([[0.9, 0.2, 0.7]])), np.array([1, 0, 1]))
    assert math.isnan(out["auroc_entropy"]) and math.isnan(out["auroc_mutual_info"])  # no wrong point


# --- random inputs against independent references ---------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(2, 5), st.integers(2, 8), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_classification_metrics_match_references(t, n, k, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(t, n, k)) * rng.choice([0.0, 3.0], size=(t, n, 1))  # some rows exactly uniform (ties)
    samples = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = rng.integers(0, k, n)
    out = classification_metrics(classification_prediction(samples), y)
    probs = samples.mean(0)
    h = scipy_entropy(probs, axis=-1)
    mi = np.maximum(h - scipy_entropy(samples, axis=-1).mean(0), 0.0)
    wrong = probs.argmax(-1) != y
    assert out["accuracy"] == pytest.approx(1 - wrong.mean())
    assert out["nll"] == pytest.approx(-np.mean(np.log(probs[np.arange(n), y])))
    assert out["brier"] == pytest.approx(np.mean(np.sum((probs - np.eye(k)[y]) ** 2, -1)))
    assert out["mean_entropy"] == pytest.approx(h.mean())
    assert out["mean_mutual_info"] == pytest.approx(mi.mean(), abs=1e-9)
    if 0 < wrong.sum() < n:
        assert out["auroc_entropy"] == pytest.approx(roc_auc_score(wrong, np.round(h, 9)))
        assert out["auroc_mutual_info"] == pytest.approx(roc_auc_score(wrong, np.round(mi, 9)))
    else:
        assert math.isnan(out["auroc_entropy"]) and math.isnan(out["auroc_mutual_info"])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-3, 3)),
       st.floats(0.1, 2.0), st.integers(0, 2**32 - 1))
def test_regression_metrics_match_references(samples, s, seed):
    n = samples.shape[1]
    y = np.random.default_rng(seed).normal(samples.mean(0), 2.0, size=n)
    out = regression_metrics(regression_prediction(samples, s), y)
    mean, std = samples.mean(0), np.sqrt(s**2 + samples.var(0))
    nll = -np.mean(logsumexp(norm.logpdf(y, samples, s), axis=0) - math.log(len(samples)))
    assert out["nll"] == pytest.approx(nll, rel=1e-9, abs=1e-9)
    z = (y - mean) / std
    crps = std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    assert out["crps"] == pytest.approx(crps.mean(), rel=1e-9, abs=1e-12)
    levels = np.linspace(0.05, 0.95, 19)
    pit = norm.cdf(y, mean, std)
    assert out["calibration_error"] == pytest.approx(np.mean([abs(np.mean(pit <= q) - q) for q in levels]))
    inside = np.abs(y - mean) <= norm.ppf(0.975) * std
    assert out["coverage_95"] == pytest.approx(inside.mean())


def test_predictions_keep_their_samples():
    two = np.array([[0.2, 0.9], [0.6, 0.5]])  # [T, N] of class 1: kept as the [T, N, 2] table
    pred = classification_prediction(two)
    np.testing.assert_array_equal(pred.samples, np.stack([1 - two, two], axis=-1))
    three = np.array([[[0.5, 0.25, 0.25]], [[0.1, 0.1, 0.8]]])
    assert classification_prediction(three).samples is three
    assert regression_prediction(SAMPLES, 1.0).samples is SAMPLES
