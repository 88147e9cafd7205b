import numpy as np
import pytest

from mcdropout.data.datasets import DataError, write_dataset
from mcdropout.study.active import initial_set, labels_to_reach, run_active


def test_initial_set_is_balanced_and_seeded():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    chosen = initial_set(y, 6, 3, seed=0)
    assert len(chosen) == 6 and len(set(chosen.tolist())) == 6
    assert np.bincount(y[chosen], minlength=3).tolist() == [2, 2, 2]
    assert np.array_equal(chosen, initial_set(y, 6, 3, seed=0))
    # a class with too few rows: the others fill in
    few = np.array([0, 1, 1, 1, 1])
    assert np.bincount(few[initial_set(few, 4, 2, seed=1)]).tolist() == [1, 3]


def test_labels_to_reach_by_hand():
    curve = [{"labels": n, "accuracy": {"mean": a}} for n, a in ((20, 0.7), (30, 0.91), (40, 0.89), (50, 0.96))]
    assert labels_to_reach(curve, 0.10) == 30  # the first time the error is at most 10%
    assert labels_to_reach(curve, 0.05) == 50
    assert labels_to_reach(curve, 0.01) is None


@pytest.fixture
def moons(tiny_params):
    params = tiny_params.override(**{"data.classification.n_train": 60})
    write_dataset("classification", params)
    return params


def _run(params, **kw):
    args = {"initial": 4, "batch": 3, "budget": 10, "repeats": 2, "samples": 4, "epochs": 5, "progress": False}
    return run_active(params, "classification", ["random", "bald", "batchbald"], **{**args, **kw})


def test_active_learning_curves_and_determinism(moons):
    out = _run(moons)
    assert out["functions"] == ["random", "bald", "batchbald"]
    for curve in out["curves"].values():
        assert [pt["labels"] for pt in curve] == [4, 7, 10]  # initial, then a batch of 3 per round up to the budget
        for pt in curve:
            assert pt["accuracy"]["n"] == 2 and 0 <= pt["accuracy"]["mean"] <= 1 and pt["nll"]["mean"] > 0
    assert set(out["labels_to_reach"]["bald"]) == {"0.1", "0.05"}
    assert _run(moons)["curves"] == out["curves"]  # seeds give identical results


def test_active_learning_refuses_what_it_cannot_do(moons):
    with pytest.raises(DataError, match="unknown acquisition function"):
        run_active(moons, "classification", ["bald", "coin_flip"], progress=False)
    write_dataset("regression", moons)
    with pytest.raises(DataError, match="classification so far"):
        run_active(moons, "regression", ["bald"], progress=False)
