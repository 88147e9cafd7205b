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


# --- the shift family: noise and rotation of growing intensity --------------------------------------------------


def test_noisy_inputs_at_intensity_zero_is_the_input_itself():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    assert shift.noisy_inputs(np.zeros((3, 2)), x, 0.0, seed=1) is x
    assert shift.shifted_family("noise", np.zeros((3, 2)), x, 0.0, seed=1) is x
    with pytest.raises(ValueError, match="intensity must be >= 0"):
        shift.noisy_inputs(x, x, -0.5, seed=1)


def test_noisy_inputs_sd_is_intensity_times_the_training_sd():
    # training sds 2, 0.5 and 0 (a constant feature: noise sd 1 x intensity)
    x_train = np.array([[-2.0, 0.5, 7.0], [2.0, -0.5, 7.0]])  # population sd: 2, 0.5, 0
    x = np.tile([[10.0, -3.0, 7.0]], (40_000, 1)).astype(np.float32)
    for intensity in (1.0, 0.5, 3.0):
        out = shift.noisy_inputs(x_train, x, intensity, seed=5)
        assert out.dtype == np.float32 and out.shape == x.shape
        noise = out.astype(np.float64) - x
        np.testing.assert_allclose(noise.std(0), intensity * np.array([2.0, 0.5, 1.0]), rtol=0.02)
        np.testing.assert_allclose(noise.mean(0), 0.0, atol=0.05 * intensity)
    np.testing.assert_array_equal(shift.noisy_inputs(x_train, x, 1.0, seed=5),
                                  shift.noisy_inputs(x_train, x, 1.0, seed=5))  # seeded
    assert not np.array_equal(shift.noisy_inputs(x_train, x, 1.0, seed=5), shift.noisy_inputs(x_train, x, 1.0, seed=6))
    # the family's name routes to the rule
    np.testing.assert_array_equal(shift.shifted_family("noise", x_train, x, 0.5, seed=5),
                                  shift.noisy_inputs(x_train, x, 0.5, seed=5))


def test_rotated_images_by_hand():
    x = np.arange(1, 10, dtype=np.float32)[None]  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]], row by row
    assert shift.rotated_images(x, 0) is x
    # 90 degrees, anticlockwise: [[3, 6, 9], [2, 5, 8], [1, 4, 7]]
    np.testing.assert_allclose(shift.rotated_images(x, 90), [[3, 6, 9, 2, 5, 8, 1, 4, 7]], atol=1e-5)
    np.testing.assert_allclose(shift.rotated_images(x, 180), [[9, 8, 7, 6, 5, 4, 3, 2, 1]], atol=1e-5)


def test_rotated_images_of_8x8_digits_equal_numpy_quarter_turns():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, size=(5, 8, 8)).astype(np.float32)  # scikit-learn's digits: 0..16
    x = images.reshape(5, 64)
    out = shift.rotated_images(x, 90)
    assert out.shape == (5, 64) and out.dtype == np.float32
    for img, turned in zip(images, out):
        np.testing.assert_allclose(turned.reshape(8, 8), np.rot90(img, 1), atol=1e-4)
    np.testing.assert_allclose(shift.rotated_images(x, 270)[2].reshape(8, 8), np.rot90(images[2], 3), atol=1e-4)
    np.testing.assert_array_equal(shift.shifted_family("rotation", x, x, 90, seed=0), out)
    # an angle between quarter turns moves pixels and fills the corners with the background 0
    tilted = shift.rotated_images(np.ones((1, 64), np.float32), 45).reshape(8, 8)
    assert tilted[0, 0] == 0.0 and tilted[3, 3] == pytest.approx(1.0)


def test_rotated_images_need_square_images():
    with pytest.raises(ValueError, match="10 features are not a square"):
        shift.rotated_images(np.zeros((2, 10), np.float32), 30)
    assert shift.rotated_images(np.zeros((2, 10), np.float32), 0).shape == (2, 10)  # 0 degrees: nothing to check
