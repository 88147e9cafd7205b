"""mcdropout.scoring.mc_error: running moments of MC passes, and the Monte Carlo standard error of every predicted
value, by hand, against their definitions on constructed samples, and against the spread of repeated runs."""

import math

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from mcdropout.scoring.mc_error import ClassificationMoments, RegressionMoments
from mcdropout.scoring.uncertainty import classification_prediction, regression_prediction


def _regression(blocks, rows=None, n=None):
    moments = RegressionMoments.empty(n or blocks[0].shape[1])
    for block in blocks:
        moments.add(block, rows)
    return moments


def _classification(blocks, labels=("a", "b")):
    first = blocks[0]
    moments = ClassificationMoments.empty(first.shape[1], labels)
    for block in blocks:
        moments.add(block)
    return moments


# --- the predictions, by hand, from blocks of passes --------------------------------------------------------------


def test_regression_prediction_by_hand_from_any_blocks():
    # passes (1, 2), then (3, 4) and (5, 0): means 3 and 2, variances (4 + 0 + 4) / 3 = 8 / 3 in both columns
    for blocks in ([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [5.0, 0.0]])],
                   [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 0.0]])],
                   [np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.array([[5.0, 0.0]])],
                   [np.array([[1, 2], [3, 4], [5, 0]])]):  # integers: float64 moments
        moments = _regression(blocks)
        pred = moments.prediction(2)
        assert pred.mean.tolist() == pytest.approx([3.0, 2.0], abs=1e-12)
        assert pred.epistemic_std.tolist() == pytest.approx([math.sqrt(8 / 3)] * 2, abs=1e-12)
        assert type(pred.noise_std) is float and pred.noise_std == 2.0 and pred.samples is None
        assert pred.std.tolist() == pytest.approx([math.sqrt(4 + 8 / 3)] * 2)
        # the mean's SE: sample sd / sqrt(T) = sqrt(4 / 3); the variance's: sqrt((m4 - v^2) / (T - 1))
        errors = moments.errors(2)
        assert errors["mean"].tolist() == pytest.approx([math.sqrt(4 / 3)] * 2)
        m4, v = (16 + 0 + 16) / 3, 8 / 3
        assert errors["std"].tolist() == pytest.approx([math.sqrt((m4 - v**2) / 2) / (2 * math.sqrt(4 + v))] * 2)
        assert moments.count.tolist() == [3, 3]
    # float32 passes far from 0: the moments about each row's first mean, in float64
    blocks = [np.array([[1e4 + 0.001]], np.float32), np.array([[1e4 - 0.001]], np.float32)]
    pred = _regression(blocks).prediction(0.1)
    assert pred.mean.dtype == np.float64
    assert pred.epistemic_std[0] == pytest.approx(abs(float(blocks[0][0, 0]) - float(blocks[1][0, 0])) / 2)


def test_rows_sampled_apart_keep_their_own_counts():
    moments = RegressionMoments.empty(3)
    moments.add(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0]]))
    moments.add(np.array([[5.0], [7.0]]), rows=np.array([2]))  # only the last row goes on
    assert moments.count.tolist() == [2, 2, 4]
    pred = moments.prediction(0.0)
    assert pred.mean.tolist() == pytest.approx([2.0, 2.0, 5.0])
    assert pred.epistemic_std.tolist() == pytest.approx([1.0, 0.0, math.sqrt(2.0)])
    errors = moments.errors(0.0)
    assert errors["mean"].tolist() == pytest.approx([1.0, 0.0, math.sqrt(8 / 3 / 4)])
    assert errors["std"][1] == 0.0  # no spread and no noise: nothing to estimate, not NaN


def test_one_pass_has_no_standard_error():
    moments = _regression([np.array([[1.0, 2.0]])])
    assert np.isnan(moments.errors(0.5)["mean"]).all() and np.isnan(moments.main_error(0.5)).all()
    probs = _classification([np.array([[0.3, 0.9]])])
    assert all(np.isnan(v).all() for v in probs.errors().values())


def test_classification_prediction_by_hand():
    # class-1 probabilities [t, N]: passes (0.2, 0.9), then (0.6, 0.5) and (1.0, 0.1) -> p = 0.6, 0.5
    moments = _classification([np.array([[0.2, 0.9]]), np.array([[0.6, 0.5], [1.0, 0.1]])])
    pred = moments.prediction()
    h = lambda p: -(p * np.log(p) + (1 - p) * np.log(1 - p)) if 0 < p < 1 else 0.0  # noqa: E731
    np.testing.assert_allclose(pred.probs, [[0.4, 0.6], [0.5, 0.5]], rtol=1e-12)
    assert pred.entropy.tolist() == pytest.approx([h(0.6), math.log(2)])
    assert pred.expected_entropy.tolist() == pytest.approx(
        [(h(0.2) + h(0.6) + h(1.0)) / 3, (h(0.9) + h(0.5) + h(0.1)) / 3], abs=1e-9)
    assert pred.samples is None
    # the probabilities' SE: sample sd / sqrt(3); class 1 of row 1: values 0.2, 0.6, 1.0, sd 0.4
    errors = moments.errors()
    assert set(errors) == {"prob_a", "prob_b", "entropy", "mutual_info"}
    assert errors["prob_b"].tolist() == pytest.approx([0.4 / math.sqrt(3), 0.4 / math.sqrt(3)])
    assert errors["prob_a"].tolist() == pytest.approx(errors["prob_b"].tolist())
    assert moments.main_error().tolist() == pytest.approx([0.4 / math.sqrt(3)] * 2)
    # row 2's mean is (0.5, 0.5): the entropy is flat there, its first-order SE is 0
    assert errors["entropy"][1] == pytest.approx(0.0, abs=1e-7)
    # [t, N, K] blocks of three classes, in any split
    three = np.array([[[0.5, 0.25, 0.25]], [[0.1, 0.1, 0.8]], [[0.3, 0.3, 0.4]]])
    for split in ([three[:1], three[1:]], [three[:2], three[2:]], [three]):
        pred = _classification(split, ("x", "y", "z")).prediction()
        np.testing.assert_allclose(pred.probs, [[0.3, 0.65 / 3, 1.45 / 3]], rtol=1e-12)
        assert pred.expected_entropy[0] == pytest.approx(np.mean(scipy_entropy(three[:, 0], axis=-1)))
        assert pred.entropy[0] == pytest.approx(scipy_entropy([0.3, 0.65 / 3, 1.45 / 3]))


# --- the standard errors against their definitions, on all passes at once ---------------------------------------


def test_standard_errors_equal_the_delta_method_written_out():
    rng = np.random.default_rng(4)
    t = 40
    mu = rng.gamma(2.0, 0.5, size=(t, 7))  # skewed: the fourth moment matters
    moments = _regression([mu[:13], mu[13:]])
    pred, whole = moments.prediction(0.3), regression_prediction(mu, 0.3)
    np.testing.assert_allclose(pred.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(pred.std, whole.std, rtol=1e-10)
    errors = moments.errors(0.3)
    np.testing.assert_allclose(errors["mean"], mu.std(0, ddof=1) / np.sqrt(t), rtol=1e-10)
    d2 = (mu - mu.mean(0)) ** 2
    var_se = d2.std(0, ddof=0) / np.sqrt(t - 1)  # the variance estimate is the mean of the squared deviations
    np.testing.assert_allclose(errors["std"], var_se / (2 * np.sqrt(0.09 + mu.var(0))), rtol=1e-8)

    p = rng.dirichlet([2.0, 1.0, 0.5], size=(t, 5))
    moments = _classification([p[:25], p[25:]], ("a", "b", "c"))
    whole = classification_prediction(p)
    pred = moments.prediction()
    for key in ("probs", "entropy", "expected_entropy", "mutual_info"):
        np.testing.assert_allclose(getattr(pred, key), getattr(whole, key), rtol=1e-10)
    errors = moments.errors()
    np.testing.assert_allclose(errors["prob_c"], p[:, :, 2].std(0, ddof=1) / np.sqrt(t), rtol=1e-10)
    g = -np.log(p.mean(0))  # [N, K]
    z = np.einsum("tnk,nk->tn", p, g)
    h = -(p * np.log(p)).sum(-1)
    np.testing.assert_allclose(errors["entropy"], z.std(0, ddof=0) / np.sqrt(t - 1), rtol=1e-8)
    np.testing.assert_allclose(errors["mutual_info"], (z - h).std(0, ddof=0) / np.sqrt(t - 1), rtol=1e-8)
    top = whole.probs.argmax(1)
    np.testing.assert_allclose(moments.main_error(), p.std(0, ddof=1)[np.arange(5), top] / np.sqrt(t), rtol=1e-10)


# --- the standard errors predict the spread of repeated runs ----------------------------------------------------


ALPHAS = np.array([[4.0, 2.0, 1.0], [1.0, 1.0, 1.0], [8.0, 1.0, 1.0]])  # each row's Dirichlet of its passes


def test_standard_errors_predict_the_spread_between_runs_with_other_seeds():
    """400 runs of T = 50 passes from one distribution per row: the spread of each value over runs is what the
    standard error of one run says, on average, within 10-20% (the entropy at its maximum: within 50%, high); the
    entropy's bias is what entropy_bias says."""
    rng = np.random.default_rng(0)
    runs, t = 400, 50
    locs = np.array([0.0, 2.0, -1.0])
    reg, probs = [], []
    for _ in range(runs):
        mu = locs + rng.gamma(2.0, 0.4, size=(t, 3))
        m = _regression([mu])
        reg.append((m.prediction(0.2), m.errors(0.2)))
        p = np.stack([rng.dirichlet(a, size=t) for a in ALPHAS], axis=1)  # [t, 3 rows, 3 classes]
        c = _classification([p], ("a", "b", "c"))
        probs.append((c.prediction(), c.errors(), c.entropy_bias()))
    for value, rtol in (("mean", 0.1), ("std", 0.2)):  # the std's SE rests on a fourth moment: rougher at T = 50
        spread = np.std([getattr(pred, value) for pred, _ in reg], axis=0)
        said = np.mean([err[value] for _, err in reg], axis=0)
        np.testing.assert_allclose(said, spread, rtol=rtol, err_msg=value)
    spread = {v: np.std([getattr(pred, v) for pred, _, _ in probs], axis=0) for v in ("entropy", "mutual_info")}
    said = {v: np.mean([err[v] for _, err, _ in probs], axis=0) for v in ("entropy", "mutual_info")}
    np.testing.assert_allclose(said["mutual_info"], spread["mutual_info"], rtol=0.15)
    np.testing.assert_allclose(said["entropy"][[0, 2]], spread["entropy"][[0, 2]], rtol=0.15)
    # row 2's mean is the uniform distribution, where the entropy is flat: its first-order SE errs high there
    # (docs/mc_error.md), not low
    assert spread["entropy"][1] <= said["entropy"][1] < 1.5 * spread["entropy"][1]
    prob_spread = np.std([pred.probs[:, 0] for pred, _, _ in probs], axis=0)
    np.testing.assert_allclose(np.mean([err["prob_a"] for _, err, _ in probs], axis=0), prob_spread, rtol=0.15)
    # the entropy of the mean of 50 passes is low by about -bias: against the entropy of the true means
    truth = scipy_entropy(ALPHAS / ALPHAS.sum(1, keepdims=True), axis=1)
    seen = np.mean([pred.entropy for pred, _, _ in probs], axis=0) - truth
    estimated = np.mean([bias for _, _, bias in probs], axis=0)
    assert (seen < 0).all() and (estimated < 0).all()
    noise = spread["entropy"] / np.sqrt(runs)  # the standard error of ``seen``, a mean over the runs
    assert (np.abs(estimated - seen) < 3 * noise + 0.2 * np.abs(seen)).all(), (estimated, seen, noise)
