"""Variance scaling, split-conformal intervals and temperature scaling against hand values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from mcdropout.scoring import metrics as M
from mcdropout.scoring import recalibration as R


def test_fit_variance_scale_closed_form():
    # z^2 = 0, 4, 4 -> s^2 = 8/3.
    y, mean, std = np.array([0.0, 2.0, -4.0]), np.zeros(3), np.array([1.0, 1.0, 2.0])
    s = R.fit_variance_scale(y, mean, std)
    assert s == pytest.approx(math.sqrt(8 / 3))
    best = M.gaussian_nll(y, mean, s * std)
    assert best < M.gaussian_nll(y, mean, 1.01 * s * std)
    assert best < M.gaussian_nll(y, mean, 0.99 * s * std)


def test_conformal_quantile_by_hand():
    scores = np.array([0.5, 0.1, 0.4, 0.2, 0.3])  # n = 5
    assert R.conformal_quantile(scores, 0.5) == 0.3  # ceil(6 * 0.5) = 3rd smallest
    assert R.conformal_quantile(scores, 0.8) == 0.5  # ceil(4.8) = 5th
    assert R.conformal_quantile(scores, 0.6) == 0.4  # ceil(3.6) = 4th
    assert R.conformal_quantile(scores, 0.9) == math.inf  # ceil(5.4) = 6 > 5
    # n = 19, level 0.95: ceil(20 * 0.95) = 19, the largest (no float round-up to 20).
    assert R.conformal_quantile(np.arange(1.0, 20.0), 0.95) == 19.0
    # n = 39: ceil(40 * 0.95) = 38.
    assert R.conformal_quantile(np.arange(1.0, 40.0), 0.95) == 38.0


def test_conformal_quantile_rejects_bad_level():
    with pytest.raises(ValueError):
        R.conformal_quantile(np.ones(3), 1.0)


def test_conformal_interval_and_coverage():
    lower, upper = R.conformal_interval(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 1.5)
    np.testing.assert_allclose(lower, [-1.5, -2.0])
    np.testing.assert_allclose(upper, [1.5, 4.0])
    assert R.interval_coverage(np.array([1.5, 5.0]), lower, upper) == 0.5  # the end counts as inside
    assert R.interval_coverage(np.array([0.0, 1.0]), lower, upper) == 1.0


def test_conformal_covers_at_level_whatever_the_std():
    # The model's std is 3x too small; the conformal q absorbs it and covers ~95% of new points.
    rng = np.random.default_rng(0)
    y_val, y_test = rng.normal(size=2000), rng.normal(size=20000)
    std = np.full(2000, 1 / 3)
    q = R.conformal_quantile(np.abs(y_val) / std, 0.95)
    assert q == pytest.approx(3 * 1.96, rel=0.05)
    lower, upper = R.conformal_interval(np.zeros(20000), np.full(20000, 1 / 3), q)
    assert R.interval_coverage(y_test, lower, upper) == pytest.approx(0.95, abs=0.01)


def test_apply_temperature():
    log_p = np.log(np.array([[0.5, 0.25, 0.25]]))
    np.testing.assert_allclose(R.apply_temperature(log_p, 1.0), [[0.5, 0.25, 0.25]])
    # T = 2: square roots, renormalised.
    root = np.sqrt([0.5, 0.25, 0.25])
    np.testing.assert_allclose(R.apply_temperature(log_p, 2.0), [root / root.sum()])
    # No overflow on large logits.
    np.testing.assert_allclose(R.apply_temperature(np.array([[1000.0, 0.0]]), 1.0), [[1.0, 0.0]])


def _nll(log_p, y, t):
    return M.nll_k(y, R.apply_temperature(log_p, t))


@pytest.mark.filterwarnings("error")  # a misspelt solver option is only a warning (the search keeps its default)
def test_fit_temperature_on_over_confident_toy():
    # Says 99% for class 0 everywhere, right 7 times in 10. The best T puts p = 0.7:
    # 1 / (1 + 99^(-1/T)) = 0.7  ->  T = ln 99 / ln(7/3) = 5.4233.
    log_p = np.log(np.tile([0.99, 0.01], (10, 1)))
    y = np.array([0] * 7 + [1] * 3)
    t = R.fit_temperature(log_p, y)
    assert t > 1
    assert t == pytest.approx(math.log(99) / math.log(7 / 3), rel=1e-4)
    before, after = _nll(log_p, y, 1.0), _nll(log_p, y, t)
    assert before == pytest.approx(-(0.7 * math.log(0.99) + 0.3 * math.log(0.01)))
    assert after == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.3)), rel=1e-6)
    assert after < before
    grid = np.geomspace(*R.T_BOUNDS, 2001)
    assert after == pytest.approx(min(_nll(log_p, y, g) for g in grid), abs=1e-6)


def test_fit_temperature_sharpens_under_confident_and_stays_in_bounds():
    # Says 60% for the right class, always right: a lower T is better, down to the bound.
    log_p = np.log(np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4]]))
    t = R.fit_temperature(log_p, np.array([0, 1, 0]))
    assert R.T_BOUNDS[0] <= t < 0.06


# --- random inputs against references written out here (SciPy in the test only) ------------------------------------


FAST = settings(max_examples=60, deadline=None, derandomize=True)


@FAST
@given(st.lists(st.integers(0, 9), min_size=1, max_size=30), st.sampled_from([0.1, 0.5, 0.8, 0.9, 0.95]))
def test_conformal_quantile_matches_order_statistics(values, level):
    scores = np.array(values, float) / 4  # with ties
    n = len(scores)
    k = -(-round(level * 100) * (n + 1) // 100)  # ceil((n + 1) level) in integers
    expected = sorted(scores)[k - 1] if k <= n else math.inf
    assert R.conformal_quantile(scores, level) == expected
    lower, upper = R.conformal_interval(np.zeros(n), np.ones(n), expected)
    if k <= n:  # at least k of the n scores are covered, ends included
        assert R.interval_coverage(scores, lower, upper) >= k / n


def test_conformal_quantile_ignores_input_order():
    assert R.conformal_quantile(np.array([[0.9, 0.2], [0.5, 0.1]]), 0.5) == 0.5  # ceil(2.5) = 3rd of 4


@FAST
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.2, 3)), min_size=1, max_size=15))
def test_variance_scale_maximises_the_gaussian_likelihood(pairs):
    y = np.array([a for a, _ in pairs])
    std = np.array([b for _, b in pairs])
    if not np.any((y / std) ** 2):  # all zero, or so small that their squares underflow (y = 4e-276): no scale
        return
    s = R.fit_variance_scale(y, np.zeros_like(y), std)
    assert s == pytest.approx(math.sqrt(np.mean((y / std) ** 2)))
    ll = lambda f: norm.logpdf(y, 0.0, f * std).sum()  # noqa: E731
    assert ll(s) >= max(ll(0.97 * s), ll(1.03 * s))


def test_fit_variance_scale_with_an_offset_mean():
    # residuals 1, -2, 3 over std 1, 2, 3: z^2 = 1, 1, 1 -> s = 1
    assert R.fit_variance_scale(np.array([2.0, 0.0, 6.0]), np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) \
        == pytest.approx(1.0)


def test_fit_temperature_three_classes_matches_a_grid():
    log_p = np.log(np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    y = np.array([1, 1, 0, 2])
    t = R.fit_temperature(log_p, y)
    grid = np.geomspace(0.5, 5, 4001)
    best = grid[np.argmin([_nll(log_p, y, g) for g in grid])]
    assert t == pytest.approx(best, rel=2e-3)
    assert _nll(log_p, y, t) <= _nll(log_p, y, 1.0)


def test_conformal_quantile_rejects_both_ends_saying_why():
    for level in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=rf"^level must be in \(0, 1\), got {level}$"):
            R.conformal_quantile(np.ones(3), level)


def test_integer_inputs_are_scaled_in_floating_point():
    # counts as targets: 8e9 squared overflows int64; the scale is |8e9 - 0| / 4e9 = 2
    big = np.array([8_000_000_000]), np.array([0]), np.array([4_000_000_000])
    assert R.fit_variance_scale(*big) == pytest.approx(2.0)
    # the std alone (4e9 squared overflows int64 too)
    assert M.gaussian_nll(big[0], np.array([0.0]), big[2]) == pytest.approx(0.5 * math.log(2 * math.pi * 1.6e19) + 2.0)


def test_temperature_nll_normalises_each_row():
    # rows (0.5, 0.5) with label 0 and (0.9, 0.1) with label 1: at T = 1 the NLL is -(log 0.5 + log 0.1) / 2
    log_p = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    assert R._nll(log_p, np.array([0, 1]), 1.0) == pytest.approx(-(math.log(0.5) + math.log(0.1)) / 2)
    # T = 2: the square roots renormalised per row
    row2 = np.sqrt([0.9, 0.1]) / np.sqrt([0.9, 0.1]).sum()
    assert R._nll(log_p, np.array([0, 1]), 2.0) == pytest.approx(-(math.log(0.5) + math.log(row2[1])) / 2)


def test_apply_temperature_along_the_last_axis_in_float64():
    log_p = np.log(np.array([[[0.5, 0.25, 0.25]], [[0.8, 0.1, 0.1]]], np.float32))  # [T, N, K] = [2, 1, 3]
    out = R.apply_temperature(log_p, 2.0)
    assert out.dtype == np.float64 and out.shape == (2, 1, 3)
    for t in range(2):
        root = np.sqrt(np.exp(log_p[t, 0].astype(float)))
        np.testing.assert_allclose(out[t, 0], root / root.sum(), rtol=1e-12)


@pytest.mark.filterwarnings("error")
def test_fit_temperature_to_a_millionth():
    # four points at (0.1, 0.9), three of them class 1: softmax(log p / T) = 0.75 at T = log 9 / log 3 = 2. The
    # search stops with log T within 1e-6 (scipy's default tolerance, 1e-5, ends 1e-6 away here)
    log_p = np.log(np.array([[0.1, 0.9]] * 4))
    assert R.fit_temperature(log_p, np.array([1, 1, 1, 0])) == pytest.approx(2.0, abs=1e-7)
    # float32 log probabilities: the NLL in float64 all the same (in float32 its optimum moves by 3e-4)
    assert R.fit_temperature(log_p.astype(np.float32), np.array([1, 1, 1, 0])) == pytest.approx(2.0, abs=1e-7)
