"""The shifted-set rules on small examples whose answer is clear by hand."""

import numpy as np
import pytest

from mcdropout.data import shift


def test_beyond_range_by_hand():
    x_train = np.array([[0.0], [4.0], [10.0]])  # span 10
    x = shift.beyond_range(x_train, 4)
    assert x.shape == (4, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], [-5.0, -1.0, 11.0, 15.0])
    # Odd n: the extra point goes to the right; 1-D input is accepted too.
    np.testing.assert_allclose(shift.beyond_range(x_train[:, 0], 5, margin=0.3)[:, 0], [-3, -1, 11, 12, 13])


def test_beyond_range_is_outside_the_data_and_rejects_small_margin():
    x_train = np.random.default_rng(0).uniform(-2, 3, size=(50, 1))
    x = shift.beyond_range(x_train, 200)
    assert len(x) == 200 and np.all((x < x_train.min()) | (x > x_train.max()))
    with pytest.raises(ValueError):
        shift.beyond_range(x_train, 10, margin=0.1)


# An L of points one apart: (0..4, 0) and (0, 1..4). Every nearest-neighbour distance is 1.
L_SHAPE = np.array([[i, 0.0] for i in range(5)] + [[0.0, j] for j in range(1, 5)])


def test_nearest_neighbour_distances():
    np.testing.assert_allclose(shift.nearest_neighbour_distances(L_SHAPE), np.ones(9))


def test_away_from_data_rule():
    x = shift.away_from_data(L_SHAPE, 50, seed=3)
    assert x.shape == (50, 2) and x.dtype == np.float32
    # Box [0, 4]^2 enlarged by 50%: [-1, 5]^2.
    assert np.all((x >= -1) & (x <= 5))
    # Farther than the 95th percentile (= 1) of nearest-neighbour distances from every training point.
    dist = np.linalg.norm(x[:, None, :] - L_SHAPE[None, :, :], axis=-1).min(axis=1)
    assert np.all(dist > 1)
    np.testing.assert_array_equal(x, shift.away_from_data(L_SHAPE, 50, seed=3))
    assert not np.array_equal(x, shift.away_from_data(L_SHAPE, 50, seed=4))


def test_away_from_data_raises_without_room():
    # Unit square corners: nothing in [-0.25, 1.25]^2 is more than 1 from every corner.
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="found only 0"):
        shift.away_from_data(square, 5, seed=0, max_rounds=3)


def test_mahalanobis_by_hand():
    # Mean 0, covariance diag(4/3, 4/3) (ddof 1): d^2 = (x^2 + y^2) * 3/4.
    x_train = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    d = shift.mahalanobis(x_train, np.array([[0.0, 0.0], [2.0, 0.0], [0.0, -4.0]]))
    np.testing.assert_allclose(d, [0.0, np.sqrt(3.0), np.sqrt(12.0)], rtol=1e-5)


def test_mahalanobis_split_uses_scale_not_units():
    # Feature 0 varies 10x more than feature 1: variances 400/3 and 4/3.
    x_train = np.array([[-10.0, -1.0], [-10.0, 1.0], [10.0, -1.0], [10.0, 1.0]])
    x_test = np.array([[5.0, 0.0], [0.0, 2.0], [0.0, 0.0], [1.0, 0.1], [0.0, -3.0]])
    # d^2: 0.1875, 3, 0, 0.0075 + 0.0075, 6.75 -> the two farthest are 4 and 1 (Euclidean would pick 0).
    inside, far = shift.mahalanobis_split(x_train, x_test, fraction=0.4)
    np.testing.assert_array_equal(far, [1, 4])
    np.testing.assert_array_equal(inside, [0, 2, 3])
    inside, far = shift.mahalanobis_split(x_train, x_test, fraction=0.2)
    np.testing.assert_array_equal(far, [4])


def test_mahalanobis_split_edges():
    x_train = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]])  # a constant feature: the ridge keeps it solvable
    x_test = np.array([[1.0, 5.0], [1.0, 5.0], [9.0, 5.0]])
    inside, far = shift.mahalanobis_split(x_train, x_test, fraction=0.0)
    assert len(far) == 0 and list(inside) == [0, 1, 2]
    inside, far = shift.mahalanobis_split(x_train, x_test, fraction=0.5)  # 1.5 rounds up to 2: the tie goes to index 0
    np.testing.assert_array_equal(far, [0, 2])
    _, far = shift.mahalanobis_split(x_train, np.repeat(x_test, [2, 2, 1], axis=0), fraction=0.5)  # 2.5 -> 3
    np.testing.assert_array_equal(far, [0, 1, 4])
    with pytest.raises(ValueError):
        shift.mahalanobis_split(x_train, x_test, fraction=1.5)
