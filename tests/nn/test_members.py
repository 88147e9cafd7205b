"""mcdropout.nn.members: member names and methods, and the seed-mean selection rule."""

import pytest

from mcdropout.nn.members import Member, best_by_seed_mean


@pytest.mark.parametrize("member, name, method", [
    (Member(0.2, 1), "p0.2_seed1", "dropout"),
    (Member(0.75, 0), "p0.75_seed0", "dropout"),
    (Member(0.0, 0), "p0_seed0", "none"),
    (Member(0.0, 2, l2=1e-4), "l2_0.0001_seed2", "l2"),
    (Member(0.0, 0, l2=1e-5), "l2_1e-05_seed0", "l2"),
    (Member(0.5, 3, l2=1e-3), "p0.5_l2_0.001_seed3", "dropout+l2"),
    (Member(0.0, 1, early_stopping=True), "early_stopping_seed1", "early_stopping"),
    (Member(0.3, 1, early_stopping=True), "p0.3_early_stopping_seed1", "dropout+early_stopping"),
    (Member(0.1, 0, dropout="concrete"), "concrete_seed0", "concrete"),
    (Member(0.1, 4, dropout="concrete", l2=1e-3), "concrete_seed4", "concrete"),
])
def test_name_and_method(member, name, method):
    assert member.name == name
    assert member.method == method


def test_input_p_does_not_change_name_or_method():
    assert Member(0.2, 0, input_p=0.1).name == Member(0.2, 0).name == "p0.2_seed0"


def test_members_of_a_comparison_have_distinct_names():
    members = [Member(0.1, s, dropout="concrete") for s in (0, 1)]
    members += [Member(0.0, s, l2=v) for v in (1e-5, 1e-4) for s in (0, 1)]
    members += [Member(0.0, s, early_stopping=True) for s in (0, 1)]
    members += [Member(0.5, s, l2=v) for v in (1e-5, 1e-4) for s in (0, 1)]
    members += [Member(p, s) for p in (0.0, 0.5) for s in (0, 1)]
    names = [m.name for m in members]
    assert len(set(names)) == len(names)


def _runs(*pairs):
    return [{"p": p, "loss": loss} for p, loss in pairs]


def test_best_by_seed_mean_by_hand():
    runs = _runs((0.0, 3.0), (0.5, 2.0), (0.0, 1.0), (0.5, 2.5), (0.9, 0.5), (0.9, 5.0))
    # seed means: 0.0 -> 2.0, 0.5 -> 2.25, 0.9 -> 2.75
    assert best_by_seed_mean(runs, "p", lambda r: r["loss"]) == 0.0
    # the loss function decides: higher is better here
    assert best_by_seed_mean(runs, "p", lambda r: -r["loss"]) == 0.9


def test_best_by_seed_mean_ties_go_to_the_first_value_seen():
    runs = _runs((0.5, 1.0), (0.1, 2.0), (0.5, 3.0), (0.1, 2.0))  # both means 2.0
    assert best_by_seed_mean(runs, "p", lambda r: r["loss"]) == 0.5
    assert best_by_seed_mean(list(reversed(runs)), "p", lambda r: r["loss"]) == 0.1


def test_best_by_seed_mean_empty_and_generator():
    assert best_by_seed_mean([], "p", lambda r: r["loss"]) is None
    assert best_by_seed_mean((r for r in _runs((0.2, 1.0)) if r["p"] > 1), "p", lambda r: r["loss"]) is None
    assert best_by_seed_mean((r for r in _runs((0.2, 1.0), (0.3, 0.5))), "p", lambda r: r["loss"]) == 0.3
