"""Each metric against values worked out by hand on tiny inputs."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import logsumexp as scipy_logsumexp
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from mcdropout.scoring import metrics as M
from mcdropout.scoring.uncertainty import classification_prediction, fit_noise_std, regression_prediction

y = np.array([0.0, 1.0, 2.0])
mean = np.array([0.0, 2.0, 4.0])  # errors 0, 1, 2


def test_rmse_mae():
    assert M.rmse(y, mean) == pytest.approx(math.sqrt(5 / 3))
    assert M.mae(y, mean) == pytest.approx(1.0)


def test_gaussian_nll():
    # std 1: 0.5 log(2 pi) + 0.5 * mean(0, 1, 4) = 0.918939 + 0.833333
    assert M.gaussian_nll(y, mean, 1.0) == pytest.approx(0.5 * math.log(2 * math.pi) + 5 / 6)


def test_mixture_nll_reduces_to_gaussian_and_hand_value():
    assert M.mixture_nll(y, mean[None, :], 1.0) == pytest.approx(M.gaussian_nll(y, mean, 1.0))
    # One point y=0, two samples at 0 and 2, s=1: -log(0.5 (phi(0) + phi(2)))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    expected = -math.log(0.5 * (phi(0) + phi(2)))
    assert M.mixture_nll(np.array([0.0]), np.array([[0.0], [2.0]]), 1.0) == pytest.approx(expected)


def test_coverage_and_width():
    # 95% interval of N(0, 1) is +-1.959964: 0 and 1 inside, 2 outside.
    assert M.coverage(y, np.zeros(3), np.ones(3), 0.95) == pytest.approx(2 / 3)
    assert M.interval_width(np.ones(3), 0.95) == pytest.approx(2 * 1.959964, rel=1e-6)
    # 50% interval is +-0.674490: only 0 inside.
    assert M.coverage(y, np.zeros(3), np.ones(3), 0.5) == pytest.approx(1 / 3)


def test_crps_gaussian():
    # z = 0, sigma = 1: 2 phi(0) - 1/sqrt(pi) = 0.797885 - 0.564190 = 0.233695
    assert M.crps_gaussian(np.array([0.0]), np.array([0.0]), np.array([1.0])) == pytest.approx(0.2336949, rel=1e-6)
    # CRPS scales with sigma for the same z.
    assert M.crps_gaussian(np.array([0.0]), np.array([0.0]), np.array([2.0])) == pytest.approx(0.4673898, rel=1e-6)


def test_quantile_calibration_error():
    # All targets far below the mean: observed fraction below every quantile is 1.
    err = M.quantile_calibration_error(np.array([-10.0, -10.0]), np.zeros(2), np.ones(2), levels=[0.25, 0.75])
    assert err == pytest.approx((0.75 + 0.25) / 2)


def test_classification_metrics_by_hand():
    yc = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([0.9, 0.2, 0.4, 0.6])
    assert M.accuracy(yc, p) == 0.5
    assert M.brier(yc, p) == pytest.approx((0.01 + 0.04 + 0.36 + 0.36) / 4)
    nll = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.4)) / 4
    assert M.binary_nll(yc, p) == pytest.approx(nll)
    # Confidences 0.9, 0.8, 0.6, 0.6 in bins 13, 12, 9, 9 (width 1/15); correct 1, 1, 0, 0.
    expected = 0.25 * abs(1 - 0.9) + 0.25 * abs(1 - 0.8) + 0.5 * abs(0 - 0.6)
    assert M.ece(yc, p) == pytest.approx(expected)


def test_ece_perfectly_calibrated_is_zero():
    yc = np.array([1.0, 1.0, 1.0, 0.0])
    p = np.full(4, 0.75)  # confidence 0.75, accuracy 3/4
    assert M.ece(yc, p) == pytest.approx(0.0)


def test_auroc():
    score = np.array([0.1, 0.4, 0.35, 0.8])
    wrong = np.array([0, 0, 1, 1])
    # pairs (wrong, right): (0.35>0.1), (0.35<0.4), (0.8>0.1), (0.8>0.4) -> 3/4
    assert M.auroc(score, wrong) == pytest.approx(0.75)
    assert M.auroc(np.array([1.0, 1.0]), np.array([0, 1])) == pytest.approx(0.5)  # tie
    assert math.isnan(M.auroc(score, np.zeros(4)))


def test_entropy_and_mutual_information():
    pred = classification_prediction(np.array([[0.0, 0.5], [1.0, 0.5]]))
    np.testing.assert_allclose(pred.prob, [0.5, 0.5])
    np.testing.assert_allclose(pred.entropy, [math.log(2), math.log(2)])
    # Point 1: passes disagree completely (expected entropy 0): MI = log 2. Point 2: agree: MI = 0.
    np.testing.assert_allclose(pred.mutual_info, [math.log(2), 0.0], atol=1e-9)


def test_noise_fit_standard_is_rmse_and_mc_is_mle():
    rng = np.random.default_rng(0)
    yy = rng.normal(size=400)
    assert fit_noise_std(np.zeros((1, 400)), yy) == pytest.approx(float(np.sqrt(np.mean(yy**2))))
    samples = rng.normal(scale=0.5, size=(30, 400))
    s = fit_noise_std(samples, yy)
    best = M.mixture_nll(yy, samples, s)
    for other in (0.9 * s, 1.1 * s):
        assert M.mixture_nll(yy, samples, other) > best
    pred = regression_prediction(samples, s)
    np.testing.assert_allclose(pred.std, np.sqrt(s**2 + samples.std(0) ** 2))


# --- K classes -------------------------------------------------------------------------

yk = np.array([0, 1, 2, 2])
probs_k = np.array([[0.7, 0.2, 0.1],   # right, conf 0.7
                    [0.1, 0.3, 0.6],   # wrong (predicts 2), conf 0.6
                    [0.2, 0.2, 0.6],   # right, conf 0.6
                    [0.5, 0.4, 0.1]])  # wrong (predicts 0), conf 0.5


def test_k_class_accuracy_nll_brier():
    assert M.accuracy_k(yk, probs_k) == 0.5
    assert M.nll_k(yk, probs_k) == pytest.approx(-(math.log(0.7) + math.log(0.3) + math.log(0.6) + math.log(0.1)) / 4)
    # sum_k (p_k - onehot)^2 per point: 0.09+0.04+0.01, 0.01+0.49+0.36, 0.04+0.04+0.16, 0.25+0.16+0.81
    assert M.brier_k(yk, probs_k) == pytest.approx((0.14 + 0.86 + 0.24 + 1.22) / 4)
    p = np.array([0.1, 0.8])  # two classes: twice the binary Brier score
    assert M.brier_k(np.array([0, 1]), M.two_class(p)) == pytest.approx(2 * M.brier(np.array([0.0, 1.0]), p))


def test_k_class_top_label_ece():
    # 15 bins: conf 0.7 -> bin 10 (acc 1), 0.6 -> bin 9 (two points, acc 1/2), 0.5 -> bin 7 (acc 0)
    expected = 0.25 * abs(1 - 0.7) + 0.5 * abs(0.5 - 0.6) + 0.25 * abs(0 - 0.5)
    assert M.ece_k(yk, probs_k) == pytest.approx(expected)
    p = np.array([0.9, 0.2, 0.65, 0.45])  # two classes: equals the binary ECE
    yb = np.array([1, 0, 0, 1])
    assert M.ece_k(yb, M.two_class(p)) == pytest.approx(M.ece(yb.astype(float), p))


def test_k_class_entropy_and_mutual_information():
    # two passes over three classes: one confident each way (disagree), then two identical uniform passes
    samples = np.array([[[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]],
                        [[0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]])
    pred = classification_prediction(samples)
    np.testing.assert_allclose(pred.probs, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(pred.entropy, [math.log(2), math.log(3)], atol=1e-9)
    np.testing.assert_allclose(pred.expected_entropy, [0.0, math.log(3)], atol=1e-9)
    np.testing.assert_allclose(pred.mutual_info, [math.log(2), 0.0], atol=1e-9)
    assert pred.label.tolist() == [0, 0]


def test_k_class_auroc_of_uncertainty_for_wrong_predictions():
    from mcdropout.scoring.uncertainty import classification_metrics

    pred = classification_prediction(probs_k[None])
    out = classification_metrics(pred, yk)
    # wrong: points 1 and 2 (index 1, 3); entropies: point 3 (0.5, 0.4, 0.1) is the most uncertain, then 1 and 2
    h = M.entropy(probs_k)
    wrong = pred.label != yk
    assert out["auroc_entropy"] == pytest.approx(M.auroc(h, wrong))
    assert out["accuracy"] == 0.5 and out["brier"] == pytest.approx(M.brier_k(yk, probs_k))


# --- asymmetric cases, bin edges, and random inputs against independent references (SciPy, scikit-learn) ----------


FAST = settings(max_examples=60, deadline=None, derandomize=True)


def _crps_by_integral(y: float, mu: float, sigma: float) -> float:
    """CRPS from its definition, int (F(x) - 1[x >= y])^2 dx (quadrature, no closed form)."""
    below, _ = integrate.quad(lambda x: norm.cdf(x, mu, sigma) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda x: norm.sf(x, mu, sigma) ** 2, y, np.inf)
    return below + above


def test_crps_gaussian_away_from_the_mean():
    # z = 1: (2 Phi(1) - 1) + 2 phi(1) - 1/sqrt(pi) = 0.682689 + 0.483941 - 0.564190 = 0.602441
    assert M.crps_gaussian(np.array([1.0]), np.array([0.0]), np.array([1.0])) == pytest.approx(0.6024414, rel=1e-6)
    # below the mean, another scale and location: z = -2, sigma = 0.5
    assert M.crps_gaussian(np.array([0.0]), np.array([1.0]), np.array([0.5])) == pytest.approx(
        _crps_by_integral(0.0, 1.0, 0.5), rel=1e-7)
    yy, mu, sd = np.array([3.0, -1.0, 0.2]), np.array([1.0, 0.0, 0.0]), np.array([1.0, 2.0, 0.1])
    assert M.crps_gaussian(yy, mu, sd) == pytest.approx(np.mean([_crps_by_integral(*a) for a in zip(yy, mu, sd)]),
                                                        rel=1e-7)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.05, 5))
def test_crps_gaussian_matches_the_energy_form(y0, mu, sigma):
    # E|X - y| - E|X - X'| / 2 for X ~ N(mu, sigma^2), the expectations by quadrature of the density
    e_abs, _ = integrate.quad(lambda x: abs(x - y0) * norm.pdf(x, mu, sigma), mu - 12 * sigma, mu + 12 * sigma,
                              points=[y0] if abs(y0 - mu) < 12 * sigma else None)
    expected = e_abs - sigma / math.sqrt(math.pi)
    assert M.crps_gaussian(np.array([y0]), np.array([mu]), np.array([sigma])) == pytest.approx(expected, abs=1e-7)


def test_quantile_calibration_error_is_directional():
    # Targets far below the mean: PIT = 0, every quantile has all of them below: |1 - 0.1| and |1 - 0.3|.
    below = M.quantile_calibration_error(np.array([-10.0, -10.0]), np.zeros(2), np.ones(2), levels=[0.1, 0.3])
    assert below == pytest.approx((0.9 + 0.7) / 2)
    above = M.quantile_calibration_error(np.array([10.0, 10.0]), np.zeros(2), np.ones(2), levels=[0.1, 0.3])
    assert above == pytest.approx((0.1 + 0.3) / 2)
    # PIT = Phi(-1) = 0.159, Phi(0.5) = 0.691, Phi(2) = 0.977; levels 0.2, 0.7, 0.9: observed 1/3, 2/3, 2/3
    err = M.quantile_calibration_error(np.array([-1.0, 1.0, 4.0]), np.zeros(3), np.array([1.0, 2.0, 2.0]),
                                       levels=[0.2, 0.7, 0.9])
    assert err == pytest.approx((abs(1 / 3 - 0.2) + abs(2 / 3 - 0.7) + abs(2 / 3 - 0.9)) / 3)


def test_norm_helpers_match_scipy():
    z = np.array([-20.0, -8.0, -1.5, 0.0, 0.3, 2.0, 9.0])
    np.testing.assert_allclose(M.norm_cdf(z), norm.cdf(z), rtol=1e-12, atol=0)
    np.testing.assert_allclose(M.norm_pdf(z), norm.pdf(z), rtol=1e-12)
    for q in (1e-6, 0.025, 0.5, 0.8, 0.975):
        assert M.norm_ppf(q) == pytest.approx(norm.ppf(q), rel=1e-9)
    # the lower tail is not rounded to 0 (erfc, not 1 - erf)
    assert M.norm_cdf(-20.0) == pytest.approx(2.7536241186062e-89, rel=1e-9)


def test_logsumexp_and_ranks_match_scipy():
    a = np.array([[1000.0, -np.inf, 0.5], [1000.0, -np.inf, -2.0]])
    np.testing.assert_allclose(M.logsumexp(a, axis=0), scipy_logsumexp(a, axis=0))
    np.testing.assert_allclose(M.logsumexp(a, axis=1), scipy_logsumexp(a, axis=1))
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(M.average_ranks(x), [5.0, 1.5, 5.0, 3.0, 5.0, 1.5])
    np.testing.assert_array_equal(M.average_ranks(x), rankdata(x))


@FAST
@given(st.lists(st.integers(0, 4), min_size=1, max_size=30))
def test_average_ranks_match_scipy_with_ties(values):
    np.testing.assert_allclose(M.average_ranks(np.array(values, float)), rankdata(values))


@FAST
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_auroc_matches_sklearn_with_ties(pairs):
    score = np.array([s for s, _ in pairs], float) / 5
    positive = np.array([p for _, p in pairs])
    if positive.all() or not positive.any():
        assert math.isnan(M.auroc(score, positive))
    else:
        assert M.auroc(score, positive) == pytest.approx(roc_auc_score(positive, score))


def test_mixture_nll_two_points_against_scipy():
    samples = np.array([[0.0, 1.0], [1.0, 3.0], [-1.0, 0.5]])  # T = 3, N = 2
    yy, s = np.array([0.5, 2.5]), 0.7
    expected = -np.mean(scipy_logsumexp(norm.logpdf(yy, samples, s), axis=0) - math.log(3))
    assert M.mixture_nll(yy, samples, s) == pytest.approx(expected)
    # far from every sample: no underflow to -log(0)
    assert math.isfinite(M.mixture_nll(np.array([100.0]), np.array([[0.0], [1.0]]), 0.1))


# Bins of width 1/4: conf 0.6 -> bin 2 (0.6 * 4 = 2.4), 0.7 -> bin 2 (2.8: rounding would give 3), 0.75 exactly on
# the edge -> bin 3, 0.9 -> bin 3 (3.6: rounding would give 4), 1.0 -> the last bin (3).
P_EDGE = np.array([0.7, 0.4, 0.75, 1.0, 0.1])  # probability of class 1
Y_EDGE = np.array([1, 1, 0, 1, 0])  # labels 1, 0, 1, 1, 0 -> right, wrong, wrong, right, right
# bin 2: conf 0.7, 0.6, acc 1/2; bin 3: conf 0.75, 1.0, 0.9, acc 2/3
ECE_EDGE = 2 / 5 * abs(0.5 - 0.65) + 3 / 5 * abs(2 / 3 - (0.75 + 1.0 + 0.9) / 3)


def test_ece_bins_points_on_edges_and_in_the_top_bin():
    assert M.ece(Y_EDGE.astype(float), P_EDGE, bins=4) == pytest.approx(ECE_EDGE)
    assert M.ece_k(Y_EDGE, M.two_class(P_EDGE), bins=4) == pytest.approx(ECE_EDGE)
    for rel in (M.reliability(Y_EDGE.astype(float), P_EDGE, bins=4), M.reliability_k(Y_EDGE, M.two_class(P_EDGE), 4)):
        assert rel["count"].tolist() == [0, 0, 2, 3]
        np.testing.assert_allclose(rel["confidence"][2:], [0.65, 2.65 / 3])
        np.testing.assert_allclose(rel["accuracy"][2:], [0.5, 2 / 3])
        assert np.isnan(rel["confidence"][:2]).all()


def test_ece_k_three_classes_on_edges():
    probs = np.array([[0.5, 0.25, 0.25],    # conf 0.5: on the edge of bin 2 of 4; right (y = 0)
                      [0.25, 0.25, 0.5],    # conf 0.5, bin 2; wrong (y = 1)
                      [0.125, 0.125, 0.75],  # conf 0.75: bin 3; right
                      [0.0, 1.0, 0.0]])     # conf 1.0: the last bin; wrong (y = 0)
    yy = np.array([0, 1, 2, 0])
    rel = M.reliability_k(yy, probs, bins=4)
    assert rel["count"].tolist() == [0, 0, 2, 2]
    assert M.ece_k(yy, probs, bins=4) == pytest.approx(0.5 * abs(0.5 - 0.5) + 0.5 * abs(0.5 - 0.875))


def _ece_reference(conf, correct, bins):
    """Bins [b/B, (b+1)/B), the last one closed, by comparisons (no index arithmetic)."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return total


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 16), st.integers(0, 1)), min_size=1, max_size=20), st.sampled_from([4, 8]))
def test_ece_matches_a_reference_on_grid_points(points, bins):
    # probabilities on a grid of 1/16: many exactly on bin edges (exact in binary floating point)
    p = np.array([a for a, _ in points], float) / 16
    yy = np.array([b for _, b in points])
    probs = M.two_class(p)
    # top label: a tie at p = 1/2 goes to class 0 (argmax); the binary ece predicts class 1 there (p >= 1/2)
    expected = _ece_reference(probs.max(-1), probs.argmax(-1) == yy, bins)
    assert M.ece_k(yy, probs, bins) == pytest.approx(expected)
    binary = _ece_reference(np.maximum(p, 1 - p), (p >= 0.5) == (yy == 1), bins)
    assert M.ece(yy.astype(float), p, bins) == pytest.approx(binary)


def test_coverage_counts_the_interval_ends_and_width_scales():
    lo, hi = M.interval(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 0.9)
    np.testing.assert_allclose(hi - lo, 2 * norm.ppf(0.95) * np.array([1.0, 2.0]))
    # y exactly on both ends is covered
    assert M.coverage(np.array([lo[0], hi[1]]), np.array([0.0, 1.0]), np.array([1.0, 2.0]), 0.9) == 1.0
    assert M.interval_width(np.array([1.0, 3.0]), 0.5) == pytest.approx(2 * norm.ppf(0.75) * 2.0)
    assert M.interval_width(2.0, 0.95) == pytest.approx(4 * norm.ppf(0.975))


def test_binary_metrics_at_the_threshold_and_the_ends():
    yb = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    p = np.array([0.5, 1.0, 0.0, 0.3, 0.5])  # p = 0.5 predicts class 1: right for point 0, wrong for point 4
    assert M.accuracy(yb, p) == pytest.approx(3 / 5)
    # p = 1 and 0 on the right class cost ~0 (clipped at 1e-12, not log 0); p = 0.3 on class 1 costs -log 0.3
    assert M.binary_nll(yb, p) == pytest.approx(-(2 * math.log(0.5) + math.log(0.3)) / 5, abs=1e-9)
    assert M.binary_nll(np.array([1.0]), np.array([0.0])) == pytest.approx(-math.log(1e-12))
    np.testing.assert_allclose(M.binary_entropy(np.array([0.0, 1.0, 0.5, 0.2])),
                               [0.0, 0.0, math.log(2), -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))], atol=1e-10)
    assert M.binary_entropy(np.array([0.0]))[0] > 0  # clipped, not nan
    # std 2 and a std per point: 0.5 log(2 pi 4) + (y - mean)^2 / 8
    assert M.gaussian_nll(y, mean, 2.0) == pytest.approx(0.5 * math.log(8 * math.pi) + np.mean([0, 1, 4]) / 8)
    assert M.gaussian_nll(y, mean, np.array([1.0, 2.0, 0.5])) == pytest.approx(
        -np.mean(norm.logpdf(y, mean, [1.0, 2.0, 0.5])))


def test_ece_and_reliability_default_to_fifteen_bins():
    # confidences 0.6 and 0.64: the same bin of 15 (9), different bins of 16 (9 and 10)
    yb = np.array([1.0, 0.0])
    p = np.array([0.6, 0.64])  # right at 0.6, wrong at 0.64
    assert M.ece(yb, p) == pytest.approx(abs(0.5 - 0.62))
    rel = M.reliability(yb, p)
    assert len(rel["count"]) == 15 and rel["count"][9] == 2
    assert rel["accuracy"][9] == 0.5 and rel["confidence"][9] == pytest.approx(0.62)
    assert M.ece_k(yb.astype(int), M.two_class(p)) == pytest.approx(abs(0.5 - 0.62))
    assert len(M.reliability_k(yb.astype(int), M.two_class(p))["count"]) == 15


def test_probability_one_half_predicts_class_one_everywhere():
    # p = 0.5 on class 1 is right (>= 0.5), on class 0 wrong; two of each would hide a `>` for `>=`
    y1, half = np.array([1.0, 1.0, 0.0]), np.array([0.5, 0.5, 0.9])
    assert M.accuracy(y1, half) == pytest.approx(2 / 3)
    rel = M.reliability(y1, half)  # confidence 0.5 -> bin 7 of 15 (7.5); 0.9 -> bin 13 (13.5)
    assert rel["count"][7] == 2 and rel["accuracy"][7] == 1.0 and rel["accuracy"][13] == 0.0
    assert M.ece(y1, half) == pytest.approx((2 * 0.5 + 0.9) / 3)


def test_reliability_of_empty_bins_is_nan_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 in the empty bins: silenced, not warned about
        rel = M.reliability(np.array([1.0]), np.array([0.9]))
        rel_k = M.reliability_k(np.array([0]), np.array([[0.7, 0.3]]))
    assert np.isnan(rel["confidence"][0]) and np.isnan(rel["accuracy"][0]) and rel["count"].sum() == 1
    assert np.isnan(rel_k["confidence"][0]) and np.isnan(rel_k["accuracy"][0]) and rel_k["count"][10] == 1


@pytest.mark.filterwarnings("error")  # a solver option misspelt is a warning, and the search would use its default
def test_noise_fit_floors_and_the_bounds_of_its_search():
    # T = 1: the RMSE; an exact fit gives the floor 1e-6 * std(y) (1e-12 when y is constant)
    assert fit_noise_std(np.zeros((1, 3)), np.array([1.0, -1.0, 3.0])) == pytest.approx(math.sqrt(11 / 3))
    assert fit_noise_std(np.array([[1.0, 3.0]]), np.array([1.0, 3.0])) == pytest.approx(1e-6)
    assert fit_noise_std(np.array([[2.0, 2.0]]), np.array([2.0, 2.0])) == pytest.approx(1e-12)
    # T = 2, the search on log s bounded by [max(resid / 1000, floor), max(2 resid, 10 floor)]:
    # one pass exact (the likelihood grows as s -> 0): the lower bound, resid / 1000 = 1e-3
    assert fit_noise_std(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([0.0, 1.0])) == pytest.approx(1e-3, rel=1e-3)
    # passes at -/+ 1 around y = -/+ 0.01 (the optimum s is about 1): the upper bound 2 resid = 0.02
    far = np.array([[-1.0, -1.0], [1.0, 1.0]])
    assert fit_noise_std(far, np.array([0.01, -0.01])) == pytest.approx(0.02, rel=1e-3)
    # the mean exact (resid 0), passes 0.5 away: the upper bound 10 floor = 10 * 1e-6 * std(y) = 1e-5
    assert fit_noise_std(np.array([[1.5, -0.5], [0.5, -1.5]]), np.array([1.0, -1.0])) == pytest.approx(1e-5, rel=1e-3)


def test_noise_fit_mc_is_the_likelihood_optimum_to_a_thousandth():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(1)
    yy = rng.normal(size=50)
    samples = rng.normal(scale=0.5, size=(4, 50))
    ref = minimize_scalar(lambda s: M.mixture_nll(yy, samples, s), bounds=(0.05, 5.0), method="bounded",
                          options={"xatol": 1e-9}).x
    assert fit_noise_std(samples, yy) == pytest.approx(ref, rel=1e-3)


@pytest.mark.filterwarnings("error")  # log 0 of all -inf, 0 / 0 of one class: handled, not warned about
def test_logsumexp_axis_shape_and_all_minus_infinity():
    a = np.log(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    assert M.logsumexp(a).tolist() == pytest.approx(np.log([4.0, 4.0, 4.0]).tolist())  # axis 0 by default
    assert M.logsumexp(a, axis=1).tolist() == pytest.approx(np.log([6.0, 6.0]).tolist())
    # the reduced axis alone is dropped: [2, 3, 1] along axis 1 gives [2, 1]
    b = np.log(np.arange(1.0, 7.0)).reshape(2, 3, 1)
    out = M.logsumexp(b, axis=1)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out, [[math.log(6)], [math.log(15)]], rtol=1e-12)
    assert M.logsumexp(np.zeros((2, 1))).shape == (1,) and M.logsumexp(np.zeros((2, 1)))[0] == pytest.approx(np.log(2))
    assert M.logsumexp(np.array([[-np.inf, 0.0], [-np.inf, 0.0]])).tolist() == [-np.inf, pytest.approx(np.log(2))]
    assert math.isnan(M.auroc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert math.isnan(M.auroc(np.array([0.1, 0.2]), np.array([0, 0])))


def test_quantile_calibration_counts_a_pit_equal_to_the_level():
    # pit 0.5 (y on the mean) and pit 0.9 (z = 1.2816): at q = 0.5 one of two is <= q, so no error; at q = 0.9 both
    y2, mean2 = np.array([0.0, norm.ppf(0.9)]), np.zeros(2)
    assert M.quantile_calibration_error(y2, mean2, np.ones(2), levels=[0.5]) == pytest.approx(0.0)
    assert M.quantile_calibration_error(y2, mean2, np.ones(2), levels=[0.5, 0.6]) == pytest.approx(0.05)


def test_nll_k_clips_a_zero_probability_of_the_true_class():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert M.nll_k(np.array([1, 0]), probs) == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)


def test_normal_density_of_integers_in_floating_point():
    assert M.norm_pdf(np.array([4_000_000_000])).tolist() == [0.0]  # 4e9 squared overflows int64
    assert M.norm_pdf(np.array([2])).tolist() == pytest.approx([math.exp(-2) / math.sqrt(2 * math.pi)])


def test_gaussian_mixture_by_hand():
    # two members at one point: N(0, 1) and N(2, 3): mean 1; aleatoric (1 + 3) / 2 = 2; epistemic var(0, 2) = 1
    mean, var, aleatoric = M.gaussian_mixture(np.array([[0.0, 5.0], [2.0, 5.0]]), np.array([[1.0, 0.5], [3.0, 0.5]]))
    np.testing.assert_allclose(mean, [1.0, 5.0])
    np.testing.assert_allclose(aleatoric, [2.0, 0.5])
    np.testing.assert_allclose(var, [3.0, 0.5])  # = mean(var_m + mu_m^2) - mean^2 = (1 + 0 + 3 + 4) / 2 - 1
    # the paper's form of the same variance
    means, variances = np.array([[0.3], [-1.2], [2.0]]), np.array([[0.5], [2.0], [0.1]])
    _, var, _ = M.gaussian_mixture(means, variances)
    np.testing.assert_allclose(var, (variances + means**2).mean(0) - means.mean(0) ** 2)


def test_mixture_log_likelihood_by_hand():
    # y = 1 under 1/2 N(0, 1) + 1/2 N(2, 4): densities e^-0.5 / sqrt(2 pi) and e^-0.125 / sqrt(8 pi)
    expected = math.log(0.5 * math.exp(-0.5) / math.sqrt(2 * math.pi) + 0.5 * math.exp(-0.125) / math.sqrt(8 * math.pi))
    got = M.mixture_log_likelihood(np.array([1.0]), np.array([[0.0], [2.0]]), np.array([[1.0], [4.0]]))
    assert got[0] == pytest.approx(expected)
    # one member: the Gaussian log-density; equal variances 1/tau: the MC dropout NLL
    y, means = np.array([0.2, -1.0]), np.array([[0.0, 0.5], [1.0, -0.5], [0.3, 0.0]])
    one = M.mixture_log_likelihood(y, means[:1], np.full((1, 2), 0.25))
    np.testing.assert_allclose(-one.mean(), M.gaussian_nll(y, means[0], 0.5))
    np.testing.assert_allclose(-M.mixture_log_likelihood(y, means, np.full((3, 2), 0.25)).mean(),
                               M.mixture_nll(y, means, 0.5))
