import math

import numpy as np
import pytest

from mcdropout.scoring import acquisition as A


def _probs():
    # 2 passes, 3 points, 2 classes: point 0 certain and agreed; point 1 uncertain but agreed; point 2 disagreeing
    return np.array([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],
                     [[1.0, 0.0], [0.5, 0.5], [0.1, 0.9]]])


def test_scores_by_hand():
    p = _probs()
    h_mean = np.array([0.0, math.log(2), math.log(2)])  # the means are (1, 0), (.5, .5), (.5, .5)
    assert A.max_entropy(p) == pytest.approx(h_mean)
    assert A.variation_ratios(p) == pytest.approx([0.0, 0.5, 0.5])
    assert A.mean_std(p) == pytest.approx([0.0, 0.0, 0.4])  # std over 2 passes of 0.9/0.1: 0.4
    h_pass = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert A.bald(p) == pytest.approx([0.0, 0.0, math.log(2) - h_pass])


def test_bald_of_a_constant_prediction_is_zero_and_never_negative():
    p = np.tile(np.array([0.2, 0.3, 0.5]), (7, 4, 1))
    assert A.bald(p) == pytest.approx(np.zeros(4), abs=1e-12)
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(5), size=(10, 50))
    assert (A.bald(q) >= 0).all()


def test_regression_scores_by_hand():
    means = np.array([[0.0, 1.0], [2.0, 1.0]])  # variances 1 and 0
    assert A.max_variance(means, 0.5) == pytest.approx([1.25, 0.25])
    assert A.gaussian_bald(means, 0.5) == pytest.approx([0.5 * math.log(1 + 1 / 0.25), 0.0])
    with pytest.raises(ValueError):
        A.gaussian_bald(means, 0.0)


def test_top_and_random():
    assert A.top(np.array([0.1, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 2]  # ties: the lower index first
    assert np.array_equal(A.random_scores(5, 3), A.random_scores(5, 3))
    assert not np.array_equal(A.random_scores(5, 3), A.random_scores(5, 4))


def test_batchbald_of_one_point_is_balds_best():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3) * 0.5, size=(20, 30))
    assert A.batchbald(p, 1).tolist() == [int(np.argmax(A.bald(p)))]


def test_batchbald_prefers_new_information_to_a_copy():
    """Points 0 and 1 are the same input (given the weights, two independent draws of one label distribution), the
    most informative one; point 2 disagrees in another pattern, less informative alone. Top-2 BALD takes both copies;
    BatchBALD takes a copy and point 2, the batch whose labels tell more about the weights jointly."""
    rng = np.random.default_rng(2)
    a = np.where(rng.random(40) < 0.5, 0.05, 0.95)
    b = np.where(np.arange(40) % 2 == 0, 0.8, 0.25)
    p = np.stack([np.stack([a, 1 - a], -1), np.stack([a, 1 - a], -1), np.stack([b, 1 - b], -1)], axis=1)
    bald = A.bald(p)
    assert bald[0] == bald[1] > bald[2]
    assert sorted(A.top(bald, 2).tolist()) == [0, 1]
    chosen = A.batchbald(p, 2).tolist()
    assert chosen == [0, 2]
    mi = A.exact_joint_mutual_information
    assert mi(p, [0]) == pytest.approx(bald[0], abs=1e-12)  # one point: BALD
    assert mi(p, [0, 2]) > mi(p, [0, 1])  # what the greedy choice maximised
    assert mi(p, [0, 1]) < 2 * bald[0]  # a copy adds less than it holds alone (submodular)


def test_batchbald_with_sampled_configurations_agrees_with_exact():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4) * 0.3, size=(30, 25))
    exact = A.batchbald(p, 4, max_configs=4**4)
    sampled = A.batchbald(p, 4, max_configs=16, seed=0)  # from the 3rd point on: 16 drawn configurations
    assert exact[:2].tolist() == sampled[:2].tolist()  # identical while the joint is exact
    mi = A.exact_joint_mutual_information
    assert mi(p, sampled.tolist()) > 0.8 * mi(p, exact.tolist())  # a sampled estimate: close to the exact choice
    assert len(set(sampled.tolist())) == 4


def test_lazy_batchbald_picks_what_evaluating_every_point_picks():
    # the greedy choice by the exact joint MI of every candidate, step by step: the lazy bounds must not change it
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(3, 0.5), size=(8, 12))  # [T=8, N=12, K=3]
    p[:, 5] = p[:, 2]  # a copy of a point
    chosen: list[int] = []
    for _ in range(3):
        rest = [i for i in range(12) if i not in chosen]
        chosen.append(max(rest, key=lambda i: A.exact_joint_mutual_information(p, chosen + [i])))
    assert A.batchbald(p, 3, max_configs=27, chunk=2).tolist() == chosen
