import math

import pytest

from mcdropout.scoring.stats import BETTER, UNCLEAR, WORSE, at_grid_edge, estimate, paired, pm


def test_estimate_by_hand():
    est = estimate([1.0, 2.0, 3.0])
    assert est["mean"] == 2.0 and est["n"] == 3
    assert est["se"] == pytest.approx(1.0 / math.sqrt(3))  # sd 1 (ddof 1), over sqrt(3)


def test_estimate_one_value_has_no_standard_error_and_none_is_empty():
    assert estimate([4.0]) == {"mean": 4.0, "se": None, "n": 1}
    assert estimate([]) == {"mean": None, "se": None, "n": 0}
    assert estimate([1.0, float("nan"), None, 3.0])["n"] == 2


def test_paired_difference_beyond_two_standard_errors():
    # differences 1.0, 1.2, 0.8: mean 1.0, sd 0.2, se 0.2/sqrt(3) = 0.115: far beyond 2 SE
    out = paired([2.0, 2.2, 1.8], [1.0, 1.0, 1.0])
    assert out.diff == pytest.approx(1.0) and out.se == pytest.approx(0.2 / math.sqrt(3))
    assert out.verdict == WORSE  # a is higher, lower is better
    assert paired([2.0, 2.2, 1.8], [1.0, 1.0, 1.0], lower_is_better=False).verdict == BETTER
    assert paired([1.0, 1.0, 1.0], [2.0, 2.2, 1.8]).verdict == BETTER


def test_paired_difference_inside_the_noise_is_no_clear_difference():
    # differences 1, -0.5, 0.2: mean 0.233, se 0.435: inside 2 SE
    out = paired([2.0, 0.5, 1.2], [1.0, 1.0, 1.0])
    assert out.verdict == UNCLEAR
    # the boundary: differences 1, 2, 3 have mean 2 and se 0.577 -> beyond; differences 0, 2, 4 -> 2 / 1.155 -> not
    assert paired([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]).verdict == WORSE
    assert paired([0.0, 2.0, 4.0], [0.0, 0.0, 0.0]).verdict == UNCLEAR


def test_paired_needs_two_repeats_and_equal_lengths():
    assert paired([5.0], [1.0]).verdict == UNCLEAR  # one repeat says nothing about noise
    with pytest.raises(ValueError):
        paired([1.0, 2.0], [1.0])


def test_grid_edge():
    grid = [0.0, 0.1, 0.5, 0.9]
    assert at_grid_edge(grid, 0.9) and at_grid_edge(grid, 0.0)
    assert not at_grid_edge(grid, 0.5)
    assert not at_grid_edge([0.5], 0.5)  # a grid of one value has no edge to move past


def test_pm_text():
    assert pm({"mean": 0.1234, "se": 0.0049, "n": 3}) == "0.123 ± 0.005"
    assert pm({"mean": 1.0, "se": None, "n": 1}, 1) == "1.0 ± ?"
    assert pm({"mean": None, "se": None, "n": 0}) == "–"


def test_paired_equal_results_are_no_clear_difference_despite_rounding():
    a = [0.1 + 0.2, 0.5, 0.7]
    b = [0.3, 0.5, 0.7]  # 0.1 + 0.2 = 0.30000000000000004
    assert paired(a, b).verdict == UNCLEAR
    assert paired([0.98, 0.98, 0.98], [0.96, 0.96, 0.96]).verdict == WORSE  # the same real difference every repeat
