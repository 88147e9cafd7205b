import numpy as np
import pytest

from mcdropout.core.config import ActiveConfig
from mcdropout.data.datasets import DataError, write_dataset
from mcdropout.study.active import area, initial_set, labels_to_reach, run_active


def test_initial_set_is_balanced_and_seeded():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    chosen = initial_set(y, 6, 3, seed=0)
    assert len(chosen) == 6 and len(set(chosen.tolist())) == 6
    assert np.bincount(y[chosen], minlength=3).tolist() == [2, 2, 2]
    assert np.array_equal(chosen, initial_set(y, 6, 3, seed=0))
    # a class with too few rows: the others fill in
    few = np.array([0, 1, 1, 1, 1])
    assert np.bincount(few[initial_set(few, 4, 2, seed=1)]).tolist() == [1, 3]


def test_a_regression_initial_set_is_random_and_seeded():
    y = np.linspace(0, 1, 30)
    chosen = initial_set(y, 5, None, seed=2)
    assert len(set(chosen.tolist())) == 5 and np.array_equal(chosen, initial_set(y, 5, None, seed=2))
    assert not np.array_equal(chosen, initial_set(y, 5, None, seed=3))


def test_labels_to_reach_and_area_by_hand():
    labels, errors = [20, 30, 40, 50], [0.3, 0.09, 0.11, 0.04]
    assert labels_to_reach(labels, errors, 0.10) == 30  # the first time the error is at most 10%
    assert labels_to_reach(labels, errors, 0.05) == 50
    assert labels_to_reach(labels, errors, 0.01) is None
    # trapezoids: 10 * (0.3 + 0.09) / 2 + 10 * (0.09 + 0.11) / 2 + 10 * (0.11 + 0.04) / 2 = 3.7, over 30 labels
    assert area(labels, errors) == pytest.approx(3.7 / 30)
    assert area([20], [0.5]) == 0.5


@pytest.fixture
def moons(tiny_params):
    params = tiny_params.override(**{"data.classification.n_train": 60})
    write_dataset("classification", params)
    return params


def _cfg(**kw):
    args = {"functions": ["random", "bald", "batchbald"], "initial": 4, "batch": 3, "budget": 10, "repeats": 2,
            "samples": 4, "epochs": 5}
    return ActiveConfig(**{**args, **kw})


def test_active_learning_curves_and_determinism(moons):
    out = run_active(moons, "classification", _cfg(), progress=False)
    assert out["functions"] == ["random", "bald", "batchbald"] and out["metric"] == "accuracy"
    for f, curve in out["curves"].items():
        assert [pt["labels"] for pt in curve] == [4, 7, 10]  # initial, then a batch of 3 per round up to the budget
        for pt in curve:
            assert pt["accuracy"]["n"] == 2 and 0 <= pt["accuracy"]["mean"] <= 1 and pt["nll"]["mean"] > 0
        per_repeat = out["per_repeat"][f]["accuracy"]
        assert len(per_repeat) == 2 and all(len(rep) == 3 for rep in per_repeat)
        assert curve[-1]["accuracy"]["mean"] == pytest.approx(np.mean([rep[-1] for rep in per_repeat]))
        assert out["auc"][f]["mean"] == pytest.approx(np.mean([area([4, 7, 10], rep) for rep in per_repeat]))
    # round 0: every function of a repeat starts from the same labelled set and weights
    first = {f: [rep[0] for rep in out["per_repeat"][f]["accuracy"]] for f in out["functions"]}
    assert first["bald"] == first["random"] == first["batchbald"]
    assert set(out["paired_auc"]) == {"bald", "batchbald"} and out["paired_auc"]["bald"]["n"] == 2
    assert set(out["labels_to_reach"]["bald"]) == {"0.1", "0.05"} and out["labels_to_reach"]["bald"]["0.1"]["of"] == 2
    again = run_active(moons, "classification", _cfg(), progress=False)
    assert again["curves"] == out["curves"] and again["per_repeat"] == out["per_repeat"]  # seeds: identical results


def test_members_keep_their_own_labelled_sets_and_acquired_points_leave_the_pool(moons, monkeypatch):
    import mcdropout.training.train as train

    seen: list[list[set]] = []  # per round, per member: the rows it trained on
    original = train.fit_members_on

    def spy(task, data, *args, **kwargs):
        seen.append([{tuple(v) for v in d["train"].x} for d in data])
        return original(task, data, *args, **kwargs)

    monkeypatch.setattr(train, "fit_members_on", spy)
    run_active(moons, "classification", _cfg(functions=["random", "bald"]), progress=False)
    assert len(seen) == 3 and all(len(members) == 4 for members in seen)  # one batched fit of 2 x 2 per round
    for rounds in zip(*seen):  # member by member, round after round
        assert [len(rows) for rows in rounds] == [4, 7, 10]  # no point labelled twice
        assert rounds[0] < rounds[1] < rounds[2]  # what a member labelled stays labelled; new points left the pool
    random0, bald0 = seen[0][0], seen[0][2]  # members: (random, 0), (random, 1), (bald, 0), (bald, 1)
    assert random0 == bald0 and seen[2][0] != seen[2][2]  # same start, then each its own choices


def test_warm_start_goes_on_from_the_last_weights(moons):
    cold = run_active(moons, "classification", _cfg(functions=["bald"]), progress=False)
    warm = run_active(moons, "classification", _cfg(functions=["bald"], warm_start=True), progress=False)
    assert warm["warm_start"] and not cold["warm_start"]
    first = lambda out: [rep[0] for rep in out["per_repeat"]["bald"]["accuracy"]]  # noqa: E731
    assert first(warm) == first(cold)  # round 0 is the same fit
    assert warm["per_repeat"] != cold["per_repeat"]


def test_regression_active_learning(tiny_params):
    write_dataset("regression", tiny_params)
    cfg = ActiveConfig(initial=4, batch=2, budget=8, repeats=2, samples=5, epochs=5)
    out = run_active(tiny_params, "regression", cfg, progress=False)
    assert out["functions"] == ["random", "max_variance", "bald"] and out["metric"] == "rmse"
    assert [pt["labels"] for pt in out["curves"]["bald"]] == [4, 6, 8]
    assert all(pt["rmse"]["mean"] > 0 for pt in out["curves"]["max_variance"])
    # RMSE: lower is better, so a function whose area is lower than random's is "better"
    pair = out["paired_auc"]["bald"]
    assert pair["diff"] == pytest.approx(out["auc"]["bald"]["mean"] - out["auc"]["random"]["mean"])


def test_active_learning_refuses_what_it_cannot_do(moons):
    with pytest.raises(DataError, match="coin_flip not for classification; choose from random"):
        run_active(moons, "classification", _cfg(functions=["bald"]).model_copy(update={"functions": ["bald",
                                                                                                       "coin_flip"]}))
    with pytest.raises(DataError, match="max_variance not for classification"):
        run_active(moons, "classification", _cfg(functions=["max_variance"]), progress=False)
    with pytest.raises(DataError, match=r"budget \(100 labels\) is more than the pool \(60 training rows\)"):
        run_active(moons, "classification", _cfg(budget=100), progress=False)
