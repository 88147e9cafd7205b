"""The UCI table's judgements on hand-computed values: against published figures, method against method on the
same splits, and choices at an end of their grid."""

import math

import pytest

from mcdropout.study.uci_table import GRID_2018, edges, findings, gaussian_ll_at, paired_ll, verdict, where_below


def _result(method, lls, **choices):
    splits = [{"split": i, "ll": v, "rmse": 1.0, "seconds": 1.0, **{k: c[i] for k, c in choices.items()}}
              for i, v in enumerate(lls)]
    return {"dataset": "energy", "method": method, "splits": splits, "grid": {"p": [0.005, 0.1], "tau": [0.25, 0.75]},
            "mean": {"ll": sum(lls) / len(lls), "rmse": 1.0}, "stderr": {"ll": 0.01, "rmse": 0.1}}


def test_verdict_against_a_published_figure_needs_two_combined_standard_errors():
    # 0.03 and 0.04 combine to 0.05: within 0.10 of -1.21 is "within 2 SE" on either side
    assert verdict(-1.12, 0.03, -1.21, 0.04, higher_better=True) == "within 2 SE"
    assert verdict(-1.30, 0.03, -1.21, 0.04, higher_better=True) == "within 2 SE"
    assert verdict(-1.10, 0.03, -1.21, 0.04, higher_better=True) == "better"
    assert verdict(-1.32, 0.03, -1.21, 0.04, higher_better=True) == "below"
    assert verdict(0.40, 0.03, 0.54, 0.04, higher_better=False) == "better"  # RMSE: lower is better


def test_paired_ll_uses_the_splits_both_methods_ran():
    mc = _result("mc_dropout", [-1.0, -1.1, -1.2, -1.5])
    de = _result("deep_ensemble", [-1.2, -1.2, -1.4])  # split 3 not run
    out = paired_ll(mc, de)
    diffs = [0.2, 0.1, 0.2]
    sd = math.sqrt(sum((d - 0.5 / 3) ** 2 for d in diffs) / 2)
    assert out.n == 3 and out.diff == pytest.approx(0.5 / 3) and out.se == pytest.approx(sd / math.sqrt(3))
    assert out.verdict == "better"  # 0.167 against 2 x 0.033
    assert paired_ll(mc, _result("deep_ensemble", [-1.2])) is None  # one split says nothing about noise


def test_edges_flag_a_choice_at_an_end_of_its_grid_in_most_splits():
    r = _result("mc_dropout", [-1.0] * 4, p=[0.005, 0.005, 0.005, 0.1], tau=[0.25, 0.75, 0.5, 0.5])
    assert edges(r) == ["p low 3/4"]  # tau: 1/4 at each end, not most


def test_findings_count_datasets_held_and_name_those_below():
    mc = _result("mc_dropout", [-1.0, -1.1, -1.2])  # energy: 2018 grid -1.2115 +- 0.0053; ours -1.1 +- 0.01
    de = _result("deep_ensemble", [-1.2, -1.2, -1.4])  # against the 2017 ensemble: -1.38 +- 0.049
    text = findings([{"dataset": "energy", "methods": {"mc_dropout": mc, "deep_ensemble": de}}])
    assert text[0].startswith("MC dropout: test LL within 2 standard errors of the 2018 grid search or better on 1 "
                              "of 1 datasets (better beyond 2 standard errors on 1)")
    assert "ensemble" in text[1] and "within 2 standard errors" in text[1]
    assert "MC dropout higher on energy" in text[2]


def test_coverage_names_the_cells_not_yet_run():
    from mcdropout.study.uci_table import coverage

    text = coverage([{"dataset": "yacht", "methods": {"mc_dropout": {}, "deep_ensemble": {}}}])
    assert text.startswith("2 of the 24 dataset × method cells have run; not yet: bostonHousing MC dropout, ")
    assert "yacht Concrete" in text and "yacht MC dropout" not in text


def test_a_published_rmse_rounded_to_zero_is_shown_as_printed_and_not_judged():
    from mcdropout.study.uci_table import summary_table

    r = _result("deep_ensemble", [6.4, 6.5, 6.5])
    r = {**r, "dataset": "naval-propulsion-plant", "mean": {"ll": 6.47, "rmse": 0.00076},
         "stderr": {"ll": 0.02, "rmse": 0.00003}}
    rmse = next(x for x in summary_table([{"dataset": "naval-propulsion-plant", "methods": {"deep_ensemble": r}}])
                .splitlines() if x.startswith("| naval-propulsion-plant | 0.00076"))
    assert "| 0.00 ± 0.00 |" in rmse  # Lakshminarayanan et al. print 0.00 ± 0.00
    assert rmse.endswith("| deep ensemble: – (published as 0.00 ± 0.00: rounded away) |")


def test_a_miss_is_split_into_what_the_mean_costs_and_what_the_variances_cost():
    assert gaussian_ll_at(1.0) == pytest.approx(-1.418939, abs=1e-6)  # -1/2 (log 2 pi + 1)
    # Concrete on concrete: ours RMSE 5.81, LL -3.04; the 2018 grid 4.8265, -2.9367. A variance matched to the
    # squared errors: -1/2 (log(2 pi 5.81^2) + 1) = -3.1785 and -1/2 (log(2 pi 4.8265^2) + 1) = -2.9931
    ours = {"mean": {"ll": -3.04, "rmse": 5.81}, "stderr": {"ll": 0.03, "rmse": 0.13}}
    text = where_below("Concrete", "concrete", ours, GRID_2018["concrete"])
    assert text == ("Concrete on concrete is 0.10 nats below: its RMSE is 5.81 ± 0.13 against 4.83, which alone costs "
                    "0.19 nats (a variance matched to the squared errors scores -3.18 at ours, -2.99 at theirs): the "
                    "miss is the mean's accuracy, and its variances win back 0.08.")
    same_mean = {"mean": {"ll": -3.04, "rmse": 4.8265}, "stderr": {"ll": 0.03, "rmse": 0.13}}
    assert where_below("Concrete", "concrete", same_mean, GRID_2018["concrete"]).endswith(
        "which accounts for 0.00 of the gap (a variance matched to the squared errors scores -2.99 at ours, -2.99 "
        "at theirs); the other 0.10 is in its variances.")


def test_findings_explain_each_dataset_below_its_published_figure():
    mc = _result("mc_dropout", [-1.3, -1.3, -1.3])  # energy: 2018 grid -1.2115 +- 0.0053: below
    text = findings([{"dataset": "energy", "methods": {"mc_dropout": mc}}])
    assert text[0].endswith("below it on energy.")
    assert text[1].startswith("MC dropout on energy is 0.09 nats below: its RMSE is 1.00 ± 0.10 against 0.54")


def test_findings_pair_every_two_methods_on_the_splits_both_ran():
    mc = _result("mc_dropout", [-1.2, -1.3, -1.2])
    concrete = _result("concrete", [-1.0, -1.1, -0.9])  # minus MC dropout: 0.2, 0.2, 0.3 -> 0.233 +- 0.033: higher
    de = _result("deep_ensemble", [-1.1, -0.9, -1.0])  # minus Concrete: -0.1, 0.2, -0.1 -> 0.0 +- 0.1: unclear
    text = findings([{"dataset": "energy", "methods": {"mc_dropout": mc, "concrete": concrete, "deep_ensemble": de}}])
    pairs = [t for t in text if " minus " in t]
    assert pairs[0].startswith("MC dropout minus deep ensemble") and "deep ensemble higher on energy" in pairs[0]
    assert pairs[1] == ("Concrete minus MC dropout, test LL split by split on the same splits (2 SE): Concrete higher "
                        "on energy; MC dropout higher on none; no clear difference on none.")
    assert pairs[2].endswith("no clear difference on energy.")


def test_a_standard_error_under_half_a_hundredth_keeps_one_significant_digit():
    from mcdropout.study.uci_table import summary_table

    mc = {**_result("mc_dropout", [-2.80, -2.81, -2.82]), "stderr": {"ll": 0.0041, "rmse": 0.00043}}
    mc["mean"] = {**mc["mean"], "rmse": 0.0789}
    de = _result("deep_ensemble", [-2.775, -2.785, -2.79])  # paired: -0.025 -0.025 -0.03
    mc["dataset"] = de["dataset"] = "power-plant"
    table = summary_table([{"dataset": "power-plant", "methods": {"mc_dropout": mc, "deep_ensemble": de}}])
    row = next(x for x in table.splitlines() if x.startswith("| power-plant | -2.810"))
    assert "| power-plant | 0.0789 ± 0.0004 | 1.00 ± 0.10 |" in table  # RMSE: three decimals would print ± 0.000
    # SE of (-0.025, -0.025, -0.03): sd 0.00289, / sqrt 3 = 0.00167
    assert row.startswith("| power-plant | -2.810 ± 0.004 (3) | -2.78 ± 0.01 (3) | "
                          "-0.027 ± 0.002 (3): ensemble better |")
