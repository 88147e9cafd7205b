"""Acquisition functions of active learning: which pool points to label next, from MC-dropout samples.

Pure functions of the samples a model gives for the pool (classification: probabilities ``[T, N, K]``; regression:
means ``[T, N]`` and an observation-noise std), as in Gal, Islam & Ghahramani (2017), "Deep Bayesian Active Learning
with Image Data", and Kirsch, van Amersfoort & Gal (2019), BatchBALD. Every score is higher for a point more worth
labelling; :func:`top` takes a batch by score, :func:`batchbald` chooses its batch jointly.

* ``max_entropy``: the entropy of the mean prediction, H[y | x];
* ``variation_ratios``: 1 - max_y p(y | x);
* ``mean_std``: the std over the T passes of each class probability, averaged over classes;
* ``bald``: the mutual information between the label and the weights, H[y | x] - E_w H[y | x, w] (Houlsby et al.
  2011); for a Gaussian regression model 0.5 log(1 + var_w(mean) / noise^2);
* ``max_variance`` (regression): the predictive variance var_w(mean) + noise^2;
* ``random``: uniform scores (the baseline), seeded.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

EPS = 1e-12


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -np.sum(p * np.log(np.clip(p, EPS, 1.0)), axis=axis)


def max_entropy(probs: np.ndarray) -> np.ndarray:
    """``[N]``: the entropy of the mean of ``probs [T, N, K]`` (nats)."""
    return _entropy(np.asarray(probs, np.float64).mean(0))


def variation_ratios(probs: np.ndarray) -> np.ndarray:
    """``[N]``: 1 - the largest mean class probability."""
    return 1.0 - np.asarray(probs, np.float64).mean(0).max(-1)


def mean_std(probs: np.ndarray) -> np.ndarray:
    """``[N]``: each class probability's std over the passes, averaged over the classes."""
    return np.asarray(probs, np.float64).std(0).mean(-1)


def bald(probs: np.ndarray) -> np.ndarray:
    """``[N]``: mutual information between label and weights, H[mean] - mean of H[each pass] (nats, >= 0)."""
    p = np.asarray(probs, np.float64)
    return np.maximum(_entropy(p.mean(0)) - _entropy(p).mean(0), 0.0)


def gaussian_bald(means: np.ndarray, noise: float) -> np.ndarray:
    """``[N]``: BALD of a Gaussian regression model with passes' means ``[T, N]`` and noise std ``noise``: the mutual
    information of a Gaussian with epistemic variance v and noise s^2, 0.5 log(1 + v / s^2)."""
    if noise <= 0:
        raise ValueError(f"noise must be > 0, got {noise}")
    return 0.5 * np.log1p(np.asarray(means, np.float64).var(0) / noise**2)


def max_variance(means: np.ndarray, noise: float) -> np.ndarray:
    """``[N]``: the predictive variance, the passes' variance plus the noise variance."""
    return np.asarray(means, np.float64).var(0) + noise**2


def random_scores(n: int, seed: int) -> np.ndarray:
    """``[N]``: uniform scores, the same for the same seed."""
    return np.random.default_rng(seed).random(n)


def top(scores: np.ndarray, batch: int) -> np.ndarray:
    """The indices of the ``batch`` highest scores, highest first (ties to the lower index)."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return order[:batch]


def batchbald(probs: np.ndarray, batch: int, max_configs: int = 4096, seed: int = 0, chunk: int = 64) -> np.ndarray:
    """A batch chosen greedily by the joint mutual information of its labels and the weights (Kirsch et al. 2019):
    each step adds the point that most raises ``H[y_1..y_b] - sum_i E_w H[y_i | w]``, so two points that carry the
    same information are not both taken, as top-``batch`` BALD would.

    ``probs [T, N, K]``. The joint entropy sums over the batch's label configurations exactly while there are at most
    ``max_configs`` of them (K^b), and over ``max_configs`` configurations drawn from the model beyond (seeded), the
    estimate of the paper. The first point is BALD's best.

    Lazy greedy: a point's gain can only shrink as the batch grows (the joint mutual information is submodular,
    Kirsch et al. 2019, and the gain of a point alone is its BALD score), so each step evaluates candidates in
    ``chunk``-sized groups, highest bound first, and stops once no bound left can beat the best gain found. With
    exact joint entropies that picks what evaluating every point would pick (ties to the lower index); with drawn
    configurations the bounds are estimates too.
    """
    p = np.asarray(probs, np.float64)
    t, n, k = p.shape
    batch = min(batch, n)
    conditional = _entropy(p).mean(0)  # [N]: E_w H[y_i | w]
    bound = bald(p)  # [N]: an upper bound of each point's gain
    chosen: list[int] = []
    info = 0.0  # I(y_chosen; w)
    joint = np.ones((t, 1))  # [T, C]: p(configuration | w_t) of the chosen points' labels
    rng = np.random.default_rng(seed)
    for _ in range(batch):
        bound[chosen] = -np.inf
        order = np.lexsort((np.arange(n), -bound))[:n - len(chosen)]
        best, best_gain = -1, -np.inf
        for start in range(0, len(order), chunk):
            cand = order[start:start + chunk]
            if bound[cand[0]] < best_gain - 1e-12:  # nothing left can win (ties are still looked at)
                break
            h = _joint_entropies(joint, p[:, cand, :].reshape(t, -1), len(cand), k)
            gains = h - conditional[chosen].sum() - conditional[cand] - info
            bound[cand] = gains
            for i in np.lexsort((cand, -gains))[:1]:
                if gains[i] > best_gain or (gains[i] == best_gain and cand[i] < best):
                    best, best_gain = int(cand[i]), float(gains[i])
        chosen.append(best)
        info += best_gain
        joint = _extend(joint, p[:, best, :], max_configs, rng)
    return np.asarray(chosen)


def _joint_entropies(joint: np.ndarray, flat: np.ndarray, n: int, k: int, cells: int = 2_000_000) -> np.ndarray:
    """``[N]``: the entropy of (the chosen points' labels, candidate n's label), from ``joint [T, C]`` and the pool's
    probabilities ``flat [T, N * K]``; pool points in chunks of at most ``cells`` numbers (bounded memory)."""
    t, c = joint.shape
    sampled = getattr(joint, "sampled", False)
    weight = np.asarray(joint).mean(0)  # [C]: how likely each (drawn) configuration is
    # drawn configurations give an estimate: single precision is ample there, and five times faster
    dtype = np.float32 if sampled else np.float64
    joint_t, flat = np.asarray(joint, dtype).T / t, flat.astype(dtype, copy=False)
    out = np.empty(n)
    step = max(1, cells // max(c * k, 1))
    for start in range(0, n, step):
        stop = min(n, start + step)
        m = (joint_t @ flat[:, start * k:stop * k]).reshape(c, stop - start, k)  # p(config, label)
        terms = m * np.log(np.maximum(m, EPS if not sampled else np.float32(1e-30)))
        if sampled:  # configurations drawn with probability weight: an importance-weighted mean
            out[start:stop] = -np.mean(np.sum(terms, axis=2) / weight[:, None], axis=0)
        else:
            out[start:stop] = -np.sum(terms, axis=(0, 2))
    return out


class _Sampled(np.ndarray):
    """The joint over configurations drawn from the model (no longer every configuration)."""
    sampled = True


def _extend(joint: np.ndarray, p_new: np.ndarray, max_configs: int, rng: np.random.Generator) -> np.ndarray:
    """``joint [T, C]`` extended by a point with probabilities ``p_new [T, K]``: every configuration times every
    label while that stays within ``max_configs``, else ``max_configs`` configurations drawn from the model."""
    t, c = joint.shape
    k = p_new.shape[1]
    if c * k <= max_configs and not getattr(joint, "sampled", False):
        return (joint[:, :, None] * p_new[:, None, :]).reshape(t, c * k)
    # draw configurations: a pass w_t uniformly, then a configuration and a label from that pass
    draws = rng.integers(0, t, size=max_configs)
    cols = np.empty(max_configs, dtype=np.int64)
    labels = np.empty(max_configs, dtype=np.int64)
    for w in np.unique(draws):  # all the draws of one pass at once
        at = np.flatnonzero(draws == w)
        cols[at] = rng.choice(c, size=len(at), p=joint[w] / joint[w].sum())
        labels[at] = rng.choice(k, size=len(at), p=p_new[w] / p_new[w].sum())
    out = joint[:, cols] * p_new[:, labels]
    return out.view(_Sampled)


def exact_joint_mutual_information(probs: np.ndarray, points: list[int]) -> float:
    """The mutual information between the labels of ``points`` (jointly) and the weights, summed over every label
    configuration: the reference the greedy choice is tested against (K^b terms: small batches only)."""
    p = np.asarray(probs, np.float64)[:, points, :]  # [T, b, K]
    t, b, k = p.shape
    h_joint = 0.0
    for config in itertools.product(range(k), repeat=b):
        pj = np.prod(p[:, np.arange(b), list(config)], axis=1).mean()
        h_joint -= pj * math.log(max(pj, EPS))
    return h_joint - float(_entropy(p).mean(0).sum())
