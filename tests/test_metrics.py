"""Each metric against values worked out by hand on tiny inputs."""

import math

import numpy as np
import pytest

from mcdropout import metrics as M
from mcdropout.uncertainty import classification_prediction, fit_noise_std, regression_prediction

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
    from mcdropout.uncertainty import classification_metrics

    pred = classification_prediction(probs_k[None])
    out = classification_metrics(pred, yk)
    # wrong: points 1 and 2 (index 1, 3); entropies: point 3 (0.5, 0.4, 0.1) is the most uncertain, then 1 and 2
    h = M.entropy(probs_k)
    wrong = pred.label != yk
    assert out["auroc_entropy"] == pytest.approx(M.auroc(h, wrong))
    assert out["accuracy"] == 0.5 and out["brier"] == pytest.approx(M.brier_k(yk, probs_k))
