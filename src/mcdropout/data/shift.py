"""Rules that pick a shifted set of points for a dataset: where a model has seen no data.

"MC dropout knows where it has seen no data" is only a claim until it is measured on
points the training data does not cover. Each kind of data gets one fixed, documented rule:

* **1-D regression** (:func:`beyond_range`): with ``span = max - min`` of the training
  inputs, ``ceil(n/2)`` points evenly spaced on ``[max + 0.1 span, max + margin span]``
  and ``floor(n/2)`` on ``[min - margin span, min - 0.1 span]`` (ends included), sorted.
  The gap of ``0.1 span`` keeps them clearly outside the data; targets come from the
  same curve and noise as the training data.
* **2-D classification, the moons** (:func:`away_from_data`): points uniform in the
  training data's bounding box enlarged by 50% (each side moved out by 25% of its
  width), kept only when their distance to the nearest training point exceeds the
  95th percentile of the training points' own nearest-neighbour distances, i.e. farther
  from the data than almost any training point is from its neighbour. No labels:
  they serve OOD detection only.
* **Real data** (:func:`mahalanobis_split`): the test points whose Mahalanobis distance
  to the training data is in the top ``fraction`` are the shifted split, the rest stay
  in distribution. Mahalanobis rather than Euclidean so that a feature's units or scale
  do not decide what "far" means.

And a **family of shifts of growing intensity** (Ovadia et al. 2019) for every dataset, labels kept,
intensity 0 the test set itself (:data:`FAMILIES`):

* ``noise`` (:func:`noisy_inputs`): the test inputs plus Gaussian noise whose sd is the intensity
  times each feature's training sd;
* ``rotation`` (:func:`rotated_images`), for square images flattened row by row (scikit-learn's
  ``digits``): each image rotated by the intensity in degrees, the rotated digit of Gal &
  Ghahramani (2016).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

GAP = 0.1  # beyond_range: the shifted points start this fraction of the span outside the data


def beyond_range(x_train: np.ndarray, n: int, margin: float = 0.5) -> np.ndarray:
    """``[n, 1]`` float32 points beyond the 1-D training range on both sides (rule in the module docstring).

    A zero span (all inputs equal) counts as a span of 1.
    """
    if margin <= GAP:
        raise ValueError(f"margin must exceed {GAP}, got {margin}")
    x = np.ravel(x_train).astype(float)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo or 1.0
    right = np.linspace(hi + GAP * span, hi + margin * span, math.ceil(n / 2))
    left = np.linspace(lo - margin * span, lo - GAP * span, n // 2)
    return np.concatenate([left, right])[:, None].astype(np.float32)


def nearest_neighbour_distances(x_train: np.ndarray) -> np.ndarray:
    """Distance from each training point to its nearest other training point."""
    dist, _ = cKDTree(x_train).query(x_train, k=2)
    return dist[:, 1]


def away_from_data(x_train: np.ndarray, n: int, seed: int, max_rounds: int = 100) -> np.ndarray:
    """``[n, d]`` float32 points uniform in the enlarged bounding box, far from every training point.

    Rule in the module docstring. Draws in batches from ``np.random.default_rng(seed)``
    (so the same seed gives the same points); raises ``ValueError`` when ``max_rounds``
    batches do not yield ``n`` such points (the box has no room away from the data).
    """
    x_train = np.asarray(x_train, float)
    lo, hi = x_train.min(axis=0), x_train.max(axis=0)
    pad = 0.25 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    threshold = np.percentile(nearest_neighbour_distances(x_train), 95)
    tree, rng = cKDTree(x_train), np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    found, batch = 0, max(10 * n, 1000)
    for _ in range(max_rounds):
        cand = rng.uniform(lo, hi, size=(batch, x_train.shape[1]))
        far = cand[tree.query(cand)[0] > threshold]
        kept.append(far)
        found += len(far)
        if found >= n:
            return np.concatenate(kept)[:n].astype(np.float32)
    raise ValueError(f"found only {found} of {n} points farther than {threshold:.4g} from the training data")


def mahalanobis(x_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each row of ``x`` to the training data.

    Uses the training mean and covariance (``ddof = 1``) with a ridge of ``1e-6`` times
    the mean feature variance on the diagonal, so constant or collinear features do not
    make it singular.
    """
    x_train, x = np.asarray(x_train, float), np.asarray(x, float)
    cov = np.atleast_2d(np.cov(x_train, rowvar=False))
    ridge = 1e-6 * float(np.mean(np.diag(cov))) or 1e-12
    diff = x - x_train.mean(axis=0)
    sol = np.linalg.solve(cov + ridge * np.eye(len(cov)), diff.T).T
    return np.sqrt(np.maximum(np.sum(diff * sol, axis=1), 0.0))


def mahalanobis_split(x_train: np.ndarray, x_test: np.ndarray, fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """``(in_idx, shifted_idx)``: indices into ``x_test``, each ascending.

    The ``fraction * N`` test points (rounded half up) with the largest :func:`mahalanobis`
    distance form the shifted split (equal distances: the earlier index counts as farther).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    dist = mahalanobis(x_train, x_test)
    k = math.floor(round(fraction * len(dist), 9) + 0.5)
    order = np.argsort(-dist, kind="stable")
    return np.sort(order[k:]), np.sort(order[:k])


def noisy_inputs(x_train: np.ndarray, x: np.ndarray, intensity: float, seed: int) -> np.ndarray:
    """``x`` plus Gaussian noise of sd ``intensity`` x each feature's training sd (a constant feature: sd 1);
    intensity 0 returns ``x`` unchanged."""
    if intensity < 0:
        raise ValueError(f"intensity must be >= 0, got {intensity}")
    if intensity == 0:
        return x
    sd = np.asarray(x_train, np.float64).std(0)
    sd = np.where(sd > 0, sd, 1.0)
    noise = np.random.default_rng(seed).standard_normal(np.shape(x)) * intensity * sd
    return (np.asarray(x, np.float64) + noise).astype(np.float32)


def rotated_images(x: np.ndarray, degrees: float) -> np.ndarray:
    """Each row of ``x``, a square image flattened row by row, rotated by ``degrees`` about its centre (bilinear,
    the corners filled with 0, the background of scikit-learn's digits); 0 degrees returns ``x`` unchanged."""
    if degrees == 0:
        return x
    side = math.isqrt(np.shape(x)[1])
    if side * side != np.shape(x)[1]:
        raise ValueError(f"rotation needs square images: {np.shape(x)[1]} features are not a square")
    from scipy.ndimage import rotate

    images = np.asarray(x, np.float64).reshape(-1, side, side)
    turned = rotate(images, degrees, axes=(2, 1), reshape=False, order=1, mode="constant", cval=0.0)
    return turned.reshape(len(images), -1).astype(np.float32)


FAMILIES = {
    "noise": "Gaussian noise on the test inputs, sd = intensity x each feature's training sd; labels kept",
    "rotation": "each test image rotated by the intensity in degrees; labels kept",
}


def shifted_family(family: str, x_train: np.ndarray, x: np.ndarray, intensity: float, seed: int) -> np.ndarray:
    """The test inputs ``x`` under shift ``family`` (:data:`FAMILIES`) at ``intensity``."""
    if family == "rotation":
        return rotated_images(x, intensity)
    return noisy_inputs(x_train, x, intensity, seed)
