"""mcdropout.study.selection: the one rule that picks a setting from a grid, on hand-made evaluations."""

import pytest

from mcdropout.study.selection import CRITERIA, INFERENCES, select, val_nll


def run(key, value, seed, mc, standard):
    """An evaluated member as ``evaluate_model`` gives it, reduced to what the rule reads: the validation NLL."""
    return {key: value, "seed": seed, "mc": {"val": {"nll": mc}, "test": {"nll": 99.0}},
            "standard": {"val": {"nll": standard}, "test": {"nll": -99.0}}}


# validation NLL, seeds 0 and 1:   MC dropout       dropout off
#   p = 0                          1.0, 1.2 (1.1)   0.9, 1.1 (1.0)
#   p = 0.1                        0.8, 1.0 (0.9)   1.0, 1.4 (1.2)
#   p = 0.5                        0.95, 0.95       1.1, 1.3 (1.2)
RUNS = [run("p", 0.5, 0, 0.95, 1.1), run("p", 0.0, 0, 1.0, 0.9), run("p", 0.1, 0, 0.8, 1.0),
        run("p", 0.5, 1, 0.95, 1.3), run("p", 0.0, 1, 1.2, 1.1), run("p", 0.1, 1, 1.0, 1.4)]


def test_val_nll_reads_the_inference_asked_for():
    assert val_nll(RUNS[0], "mc") == 0.95 and val_nll(RUNS[0], "standard") == 1.1
    assert INFERENCES == ("mc", "standard")


def test_select_by_mc_dropout_hand_values():
    out = select(RUNS, "p", "mc")
    assert out["best_p"] == 0.1 and out["inference"] == "mc"
    assert out["criterion"] == CRITERIA["mc"] == "lowest seed-mean validation NLL with MC dropout"
    assert out["at_grid_edge"] is False  # 0.1 is inside the grid 0 .. 0.5
    # the curve over the grid, sorted by p: seed means, SE = |a - b| / 2 for two seeds
    curve = out["curve"]
    assert [c["p"] for c in curve] == [0.0, 0.1, 0.5]
    assert [c["mean"] for c in curve] == pytest.approx([1.1, 0.9, 0.95])
    assert [c["se"] for c in curve] == pytest.approx([0.1, 0.1, 0.0], abs=1e-12)
    assert [c["n"] for c in curve] == [2, 2, 2]
    assert set(out) == {"criterion", "inference", "best_p", "at_grid_edge", "curve"}


def test_select_by_standard_inference_at_the_natural_bound():
    out = select(RUNS, "p", "standard")
    assert out["best_p"] == 0.0 and out["criterion"] == CRITERIA["standard"]
    assert [c["mean"] for c in out["curve"]] == pytest.approx([1.0, 1.2, 1.2])
    assert out["at_grid_edge"] is False  # p = 0 is the natural bound: nothing lies beyond it
    assert select(RUNS, "p", "standard", bound=None)["at_grid_edge"] is True  # without a bound it is an end


def test_a_choice_at_the_upper_end_is_flagged():
    runs = [run("p", 0.0, 0, 2.0, 2.0), run("p", 0.2, 0, 1.5, 1.5), run("p", 0.4, 0, 1.0, 1.8)]
    out = select(runs, "p", "mc")
    assert out["best_p"] == 0.4 and out["at_grid_edge"] is True  # the optimum may lie beyond 0.4
    assert out["curve"][0] == {"p": 0.0, "mean": 2.0, "se": None, "n": 1}  # one seed: no SE
    assert select(runs, "p", "standard")["best_p"] == 0.2 and select(runs, "p", "standard")["at_grid_edge"] is False


def test_ties_go_to_the_value_seen_first():
    runs = [run("l2", 0.01, 0, 1.0, 1.0), run("l2", 0.001, 0, 1.0, 1.0), run("l2", 0.1, 0, 3.0, 3.0)]
    out = select(runs, "l2", "mc")
    assert out["best_l2"] == 0.01  # equal means: the first seen, not the smallest
    assert [c["l2"] for c in out["curve"]] == [0.001, 0.01, 0.1]  # the curve is sorted all the same
    flipped = select(runs[1::-1] + runs[2:], "l2", "mc")
    assert flipped["best_l2"] == 0.001


def test_select_other_grids_empty_and_one_value():
    assert select([], "p", "mc") is None
    one = select([run("p", 0.3, 0, 1.0, 1.0), run("p", 0.3, 1, 2.0, 2.0)], "p", "mc")
    assert one["best_p"] == 0.3 and one["at_grid_edge"] is False  # a grid of one value has no end to be at
    assert one["curve"] == [{"p": 0.3, "mean": 1.5, "se": pytest.approx(0.5), "n": 2}]
    # an L2 grid with λ = 0 as its natural bound: the upper end is flagged, λ = 0 is not
    l2 = [run("l2", 0.0, 0, 1.0, 1.0), run("l2", 1e-3, 0, 0.9, 0.9), run("l2", 1e-1, 0, 0.5, 1.1)]
    assert select(l2, "l2", "mc")["at_grid_edge"] is True and select(l2, "l2", "mc")["best_l2"] == 1e-1
    assert select(l2, "l2", "standard")["best_l2"] == 1e-3
    high = [run("l2", 0.0, 0, 0.1, 0.1), *l2[1:]]
    assert select(high, "l2", "mc")["best_l2"] == 0.0 and select(high, "l2", "mc")["at_grid_edge"] is False
    # a bound elsewhere: a grid of rates whose natural end is not 0
    assert select(l2, "l2", "mc", bound=1e-1)["at_grid_edge"] is False
    with pytest.raises(KeyError):
        select(RUNS, "p", "bayes")
