"""mcdropout.report.findings: the verdict rules, the sweep's table and findings, the comparison's tables and findings,
all on hand-made results whose every number is worked out beside it."""

import pytest

from mcdropout.core.tasks import get_task, task_for
from mcdropout.report import findings

REG, CLS = get_task("regression"), get_task("classification")


def _run(p, seed, val, train, *, mc_val=None, mc_train=None, key="rmse"):
    """One evaluated member as metrics.json holds it: the verdict loss ``key`` on train and val, dropout off and MC
    (MC: the same unless given)."""
    def evaluation(tr, va):
        return {"train": {key: tr}, "val": {key: va}, "test": {}}

    return {"p": p, "seed": seed, "standard": evaluation(train, val),
            "mc": evaluation(train if mc_train is None else mc_train, val if mc_val is None else mc_val)}


def _seeds(p, vals, trains, mc_vals=None, mc_trains=None, key="rmse"):
    """The members of one p, seed i with ``vals[i]`` and ``trains[i]``."""
    mc_vals, mc_trains = mc_vals or [None] * len(vals), mc_trains or [None] * len(vals)
    return [_run(p, s, v, t, mc_val=mv, mc_train=mt, key=key)
            for s, (v, t, mv, mt) in enumerate(zip(vals, trains, mc_vals, mc_trains))]


# --- verdicts: the reference, 2 SE on the paired validation loss, the train loss says which -----------------


def test_verdicts_against_the_lowest_seed_mean_validation_loss():
    runs = [*_seeds(0.0, [1.30, 1.40], [0.20, 0.21]),  # val +0.300 ± 0.000; train -0.305 ± 0.005: lower
            *_seeds(0.3, [1.00, 1.10], [0.50, 0.52]),  # seed-mean val 1.05, the lowest: the reference
            *_seeds(0.5, [1.02, 1.10], [0.60, 0.62]),  # val +0.010 ± 0.010: within 2 SE
            *_seeds(0.9, [1.50, 1.62], [0.90, 0.95])]  # val +0.510 ± 0.010; train +0.415 ± 0.015: higher
    expected = {0.0: "overfitting", 0.3: "good fit", 0.5: "good fit", 0.9: "underfitting"}
    assert findings.verdicts_of(REG, runs, "standard") == expected
    assert findings.verdicts_of(REG, runs, "mc") == expected
    assert findings.verdicts(REG, runs) == expected  # the two inferences agree: one word


# Two seeds whose paired differences are d - h and d + h: mean d, standard error exactly h. The validation
# difference has h = 0.01 (2 SE = 0.02); the train difference's h is ``spread``.
@pytest.mark.parametrize(("val_diff", "train_diff", "spread", "word"), [
    (0.0199, -0.2, 0.0, "good fit"),  # just inside 2 SE: a good fit, whatever the train loss does
    (0.0199, +0.2, 0.0, "good fit"),
    (-0.0199, -0.2, 0.0, "good fit"),
    (0.0201, -0.2, 0.0, "overfitting"),  # just outside, the train loss clearly lower
    (0.0201, +0.2, 0.0, "underfitting"),  # just outside, the train loss clearly higher
    (0.0201, -0.0199, 0.01, "worse fit"),  # the train loss lower, but within 2 SE of its noise
    (0.0201, -0.0201, 0.01, "overfitting"),  # ... and just beyond
    (0.0201, +0.0199, 0.01, "worse fit"),
    (0.0201, +0.0201, 0.01, "underfitting"),
    (0.0201, 0.0, 0.05, "worse fit"),  # the same train loss on average, seed by seed apart
    (0.0201, 0.0, 0.0, "worse fit"),  # exactly the same train loss
])
def test_verdict_boundaries_at_two_standard_errors(val_diff, train_diff, spread, word):
    ref = _seeds(0.2, [1.0, 1.0], [0.5, 0.5])
    other = _seeds(0.6, [1.0 + val_diff - 0.01, 1.0 + val_diff + 0.01],
                   [0.5 + train_diff - spread, 0.5 + train_diff + spread])
    if val_diff < 0:  # p = 0.6 has the lower validation loss: it is the reference, and p = 0.2 within 2 SE of it
        assert findings.verdicts(REG, ref + other) == {0.2: word, 0.6: "good fit"}
    else:
        assert findings.verdicts(REG, ref + other) == {0.2: "good fit", 0.6: word}


def test_verdicts_pair_the_seeds_whatever_the_order_of_the_runs():
    # seed 1's losses are 1.0 above seed 0's for both p: p = 0 is worse by 0.100 and 0.101, seed by seed (beyond 2 SE
    # of 0.0005), though the seeds' spread of 1.0 would hide that difference if the seeds were not paired
    runs = [_run(0.0, 1, 2.101, 0.3), _run(0.5, 0, 1.0, 0.5), _run(0.0, 0, 1.1, 0.2), _run(0.5, 1, 2.0, 0.6)]
    assert findings.verdicts(REG, runs) == {0.0: "overfitting", 0.5: "good fit"}


def test_a_verdict_needs_two_repeats():
    # one seed: no standard error, so nothing is beyond 2 SE: every p is a good fit, however far apart
    runs = [_run(0.0, 0, 2.0, 0.1), _run(0.5, 0, 1.0, 0.5), _run(0.9, 0, 3.0, 0.9)]
    assert findings.verdicts(REG, runs) == {0.0: "good fit", 0.5: "good fit", 0.9: "good fit"}


def test_equal_losses_are_a_good_fit():
    # a difference of rounding (5.6e-17 on both seeds: a standard error of 0) is not "beyond 2 SE"
    assert 0.1 + 0.2 != 0.3
    runs = [*_seeds(0.0, [0.1 + 0.2, 0.1 + 0.2], [0.1, 0.1]), *_seeds(0.5, [0.3, 0.3], [0.4, 0.4])]
    assert findings.verdicts(REG, runs) == {0.0: "good fit", 0.5: "good fit"}


def test_off_and_mc_judged_apart_each_against_its_own_reference():
    runs = [*_seeds(0.0, [1.30, 1.40], [0.20, 0.21], mc_vals=[1.02, 1.11]),
            *_seeds(0.5, [1.00, 1.10], [0.50, 0.52], mc_vals=[1.00, 1.12]),
            *_seeds(0.9, [1.50, 1.62], [0.90, 0.95], mc_vals=[0.90, 0.98])]
    # dropout off: p = 0.5 is the reference (val 1.05); MC: p = 0.9 (val 0.94), and p = 0.5 is worse than it by
    # 0.120 ± 0.020 with a train loss lower by 0.415 ± 0.015
    assert findings.verdicts_of(REG, runs, "standard") == {0.0: "overfitting", 0.5: "good fit", 0.9: "underfitting"}
    assert findings.verdicts_of(REG, runs, "mc") == {0.0: "overfitting", 0.5: "overfitting", 0.9: "good fit"}
    assert findings.verdicts(REG, runs) == {0.0: "overfitting", 0.5: "good fit (off) / overfitting (MC)",
                                            0.9: "underfitting (off) / good fit (MC)"}


def test_classification_verdicts_are_on_the_nll_not_the_error_rate():
    assert (REG.verdict_metric, CLS.verdict_metric) == ("rmse", "nll")
    runs = [*_seeds(0.0, [0.60, 0.64], [0.05, 0.06], key="nll"), *_seeds(0.5, [0.30, 0.32], [0.25, 0.27], key="nll")]
    for r in runs:  # p = 0 has the better validation accuracy: an error-rate rule would take it as the reference
        for mode in ("standard", "mc"):
            r[mode]["val"]["accuracy"] = 0.95 if r["p"] == 0.0 else 0.90
    assert findings.verdicts(CLS, runs) == {0.0: "overfitting", 0.5: "good fit"}


def test_the_rules_are_stated_in_the_report():
    for needle in ("lowest seed-mean validation loss", "within 2 standard errors", "paired over seeds",
                   "overfitting if its train loss is lower", "underfitting if it is higher", "a worse fit otherwise",
                   "both verdicts are shown"):
        assert needle in findings.RULES


# --- the sweep table and findings --------------------------------------------------------


def _member(p, seed, off, mc, off_nll=(1.0, 1.0, 1.0), mc_nll=(1.0, 1.0, 1.0), cov=0.95, key="rmse",
            extra="coverage_95", **mc_test):
    """A member with ``off``/``mc`` = (train, val, test) main metric both ways, the NLL both ways and the MC test
    uncertainty metric ``cov``."""
    splits = ("train", "val", "test")
    return {"p": p, "seed": seed,
            "standard": {s: {key: v, "nll": n} for s, v, n in zip(splits, off, off_nll)},
            "mc": {s: {key: v, "nll": n, **({extra: cov, **mc_test} if s == "test" else {})}
                   for s, v, n in zip(splits, mc, mc_nll)}}


def test_sweep_table_cells_are_mean_and_standard_error_over_seeds():
    runs = [_member(0.0, 0, (0.10, 0.40, 0.50), (0.12, 0.41, 0.48), mc_nll=(0.3, 0.70, 0.60), cov=0.90),
            _member(0.0, 1, (0.20, 0.44, 0.56), (0.22, 0.45, 0.50), mc_nll=(0.3, 0.90, 0.64), cov=0.94),
            _member(0.5, 0, (0.30, 0.35, 0.38), (0.31, 0.36, 0.37), mc_nll=(0.3, 0.40, 0.45), cov=0.93)]
    head, body = findings.sweep_table(REG, runs, 0.5, {0.0: "overfitting", 0.5: "good fit"})
    assert head == ["p", "train RMSE (off)", "val RMSE (off)", "test RMSE (off)", "train RMSE (MC)", "test RMSE (MC)",
                    "val NLL (MC)", "test NLL (MC)", "test 95% coverage (MC)", "verdict"]
    # two seeds a and b: mean (a + b) / 2, standard error |a - b| / 2
    assert body[0] == ["0", "0.1500 ± 0.0500", "0.4200 ± 0.0200", "0.5300 ± 0.0300", "0.1700 ± 0.0500",
                       "0.4900 ± 0.0100", "0.8000 ± 0.1000", "0.6200 ± 0.0200", "0.9200 ± 0.0200", "overfitting"]
    # one seed: no standard error
    assert body[1] == ["0.5 (selected)", "0.3000 ± ?", "0.3500 ± ?", "0.3800 ± ?", "0.3100 ± ?", "0.3700 ± ?",
                       "0.4000 ± ?", "0.4500 ± ?", "0.9300 ± ?", "good fit"]


def test_classification_sweep_table_shows_error_rates():
    runs = [_member(0.5, s, (a, a, a), (a, a, a), key="accuracy", extra="ece", cov=0.05)
            for s, a in ((0, 0.9), (1, 0.8))]
    head, body = findings.sweep_table(CLS, runs, 0.5, {0.5: "good fit"})
    assert head[1] == "train error rate (off)" and head[8] == "test ECE (MC)"
    assert body[0][:2] == ["0.5 (selected)", "0.1500 ± 0.0500"]  # accuracies 0.9 and 0.8: errors 0.1 and 0.2
    assert body[0][8] == "0.0500 ± 0.0000"


def _selection(best, curve, edge, inference="mc"):
    return {"criterion": f"lowest seed-mean validation NLL with {'MC dropout' if inference == 'mc' else 'dropout off'}",
            "inference": inference, "best_p": best, "at_grid_edge": edge,
            "curve": [{"p": p, "mean": m, "se": se, "n": 3} for p, m, se in curve]}


CURVE = [(0.0, 0.9, 0.05), (0.5, 0.4, 0.01), (0.9, 0.35, 0.02)]


def test_selection_finding_flags_the_grid_edge_only_there():
    inside = findings.selection_finding({"best_p": 0.5, "selection": _selection(0.5, CURVE, False)})
    assert inside == ("p = 0.5 was selected by the lowest seed-mean validation NLL with MC dropout (validation NLL "
                      "0.4000 ± 0.0100); the test split took no part.")
    edge = findings.selection_finding({"best_p": 0.9, "selection": _selection(0.9, CURVE, True)})
    assert edge == ("p = 0.9 was selected by the lowest seed-mean validation NLL with MC dropout (validation NLL "
                    "0.3500 ± 0.0200); the test split took no part. It sits at an end of the grid (0 to 0.9): the "
                    "optimum may lie beyond it, so the grid does not bracket it.")
    # the flag is the selection's: the same choice, not flagged, says nothing of the edge
    assert "end of the grid" not in findings.selection_finding(
        {"best_p": 0.9, "selection": _selection(0.9, CURVE, False)})


def test_selection_finding_from_the_selection_rule():
    """:func:`mcdropout.study.selection.select` sets the flag: a choice at the upper end is flagged, one inside the
    grid or at p = 0 (nothing lies below it) is not."""
    from mcdropout.study.selection import select

    def runs(nll_by_p):
        return [{"p": p, "seed": s, "mc": {"val": {"nll": v + 0.01 * s}}} for p, v in nll_by_p.items()
                for s in (0, 1)]

    for nll_by_p, best, flagged in (({0.0: 0.9, 0.5: 0.4, 0.9: 0.3}, 0.9, True),
                                    ({0.0: 0.9, 0.5: 0.4, 0.9: 0.5}, 0.5, False),
                                    ({0.0: 0.3, 0.5: 0.4, 0.9: 0.5}, 0.0, False)):
        sel = select(runs(nll_by_p), "p", "mc")
        text = findings.selection_finding({"best_p": sel["best_p"], "selection": sel})
        assert text.startswith(f"p = {best:g} was selected by the lowest seed-mean validation NLL with MC dropout "
                               f"(validation NLL {nll_by_p[best] + 0.005:.4f} ± 0.0050)")
        assert ("It sits at an end of the grid (0 to 0.9)" in text) == flagged


def test_selection_finding_names_each_inference_where_they_differ():
    metrics = {"best_p": 0.5, "selection": _selection(0.5, CURVE, False)}
    same = findings.selection_finding({**metrics, "best_p_by_inference": {"mc": 0.5, "standard": 0.5}})
    assert "By inference" not in same
    differ = findings.selection_finding({**metrics, "best_p_by_inference": {"mc": 0.5, "standard": 0.3}})
    assert differ.endswith(" By inference: MC p = 0.5, off p = 0.3.")
    # a metrics.json from before selection objects: its words as they are
    old = findings.selection_finding({"best_p": 0.5, "selection": "lowest val loss"})
    assert old == "best p = 0.5 (lowest val loss)."


def _nll_runs(off, mc, zero=None):
    runs = [_member(0.5, s, (0.3,) * 3, (0.3,) * 3, off_nll=(0.1, 0.2, o), mc_nll=(0.1, 0.2, m))
            for s, (o, m) in enumerate(zip(off, mc))]
    return runs + [_member(0.0, s, (0.3,) * 3, (0.3,) * 3, off_nll=(0.1, 0.2, z)) for s, z in enumerate(zero or [])]


def test_nll_finding_says_what_the_paired_difference_says():
    # MC - off per seed: -0.10, -0.08: -0.090 ± 0.010, beyond 2 SE: MC lowers it
    lower = findings.nll_finding(_nll_runs([0.50, 0.60], [0.40, 0.52], zero=[0.8, 1.0]), 0.5)
    assert lower == ("Test NLL at p = 0.5: 0.550 ± 0.050 with dropout off, 0.460 ± 0.060 with MC dropout: MC lowers it "
                     "(paired difference -0.090 ± 0.010); at p = 0: 0.900 ± 0.100.")
    # -0.05, +0.02: -0.015 ± 0.035, within 2 SE: the finding is gone
    unclear = findings.nll_finding(_nll_runs([0.50, 0.60], [0.45, 0.62]), 0.5)
    assert unclear == ("Test NLL at p = 0.5: 0.550 ± 0.050 with dropout off, 0.535 ± 0.085 with MC dropout: MC makes "
                       "no clear difference (paired difference -0.015 ± 0.035).")
    # +0.10, +0.12: +0.110 ± 0.010: MC raises it
    assert "MC raises it (paired difference +0.110 ± 0.010)" in findings.nll_finding(
        _nll_runs([0.50, 0.60], [0.60, 0.72]), 0.5)
    # one seed: no standard error, no verdict
    assert "MC makes no clear difference (paired difference -0.100)." in findings.nll_finding(
        _nll_runs([0.50], [0.40]), 0.5)


def test_auroc_finding_words_follow_two_standard_errors_of_one_half():
    def runs(entropy, mutual_info):
        return [_member(0.9, s, (0.9,) * 3, (0.9,) * 3, key="accuracy", extra="ece", auroc_entropy=e,
                        auroc_mutual_info=m) for s, (e, m) in enumerate(zip(entropy, mutual_info))]

    text = findings.auroc_finding(0.9, runs([0.84, 0.86], [0.25, 0.29]))
    assert text == ("At p = 0.9, error-detection AUROC on the test split: predictive entropy 0.85 ± 0.01: it ranks "
                    "wrong predictions as more uncertain than right ones; mutual information 0.27 ± 0.02: it ranks "
                    "right predictions as more uncertain than wrong ones (below 0.5).")
    # the same means, wider: within 2 SE of 0.5 both
    wide = findings.auroc_finding(0.9, runs([0.55, 1.15], [0.0, 0.54]))
    assert wide.count("does not tell wrong predictions from right ones (within 2 SE of 0.5)") == 2
    assert "0.85 ± 0.30" in wide and "0.27 ± 0.27" in wide


def test_epistemic_finding():
    assert findings.epistemic_finding(0.5, 0.171, 0.572) == (
        "At p = 0.5 the MC epistemic std is 0.171 inside the training range and 0.572 outside it (3.3x): MC "
        "dropout's epistemic std grows where it has seen no data.")
    assert "barely changes outside the data" in findings.epistemic_finding(0.5, 0.2, 0.2)
    assert "lower outside the data than inside it" in findings.epistemic_finding(0.5, 0.3, 0.1)
    assert findings.epistemic_finding(0.0, 0.0, 0.0) == (
        "At p = 0 MC dropout has no spread (no dropout): its epistemic std is 0 everywhere.")


def test_sweep_findings_in_order():
    runs = _nll_runs([0.50, 0.60], [0.40, 0.52], zero=[0.8, 1.0])
    metrics = {"best_p": 0.5, "runs": runs, "selection": _selection(0.5, CURVE, False)}
    said = findings.sweep_findings(metrics, epistemic=(0.171, 0.572))
    assert [s.split(" ")[:3] for s in said] == [["p", "=", "0.5"], ["At", "p", "="], ["Test", "NLL", "at"]]
    assert said[1].startswith("At p = 0.5 the MC epistemic std is 0.171")
    assert len(findings.sweep_findings(metrics)) == 2  # no 1-D inputs: no epistemic finding
    for r in runs:
        r["mc"]["test"].update(auroc_entropy=0.8, auroc_mutual_info=0.7)
    said = findings.sweep_findings(metrics)
    assert said[1].startswith("At p = 0.5, error-detection AUROC on the test split") and len(said) == 3


# --- the comparison ----------------------------------------------------------------------


def _crow(method, test_error, nll, mc=True, has_uncertainty=None, extra="test_coverage_95", setting="s", vs=None,
          nll_se=0.02, error_se=0.01):
    return {"method": method, "setting": setting, "seeds": 3, "train_error": 0.1, "test_error": test_error,
            "test_error_se": error_se, "gap": test_error - 0.1, "test_nll": nll, "test_nll_se": nll_se, extra: 0.95,
            "nll_vs_selected_dropout": vs,
            "uncertainty": "MC dropout" if mc else "none (constant noise fitted on val)",
            "has_uncertainty": mc if has_uncertainty is None else has_uncertainty}


def _vs(diff, se, verdict, n=3):
    return {"diff": diff, "se": se, "n": n, "verdict": verdict}


def test_comparison_table_flags_methods_without_a_model_uncertainty():
    rows = [_crow("no regularisation", 0.44, 0.6, mc=False, vs=_vs(0.14, 0.03, "worse")),
            _crow("dropout (sweep)", 0.38, 0.4619, vs=_vs(0.0, 0.0, "no clear difference")),
            _crow("Concrete dropout", 0.39, 0.45, vs=_vs(0.01, None, "no clear difference", n=1), nll_se=None),
            _crow("L2", 0.40, 0.5, mc=False, vs=_vs(float("nan"), None, "no clear difference", n=0))]
    head, body, note = findings.comparison_table(REG, rows)
    assert head == ["method", "setting", "test RMSE", "train RMSE", "gap", "test NLL", "test 95% coverage",
                    "uncertainty from", "test NLL against the selected p"]
    assert body[0] == ["no regularisation", "s", "0.4400 ± 0.0100", "0.1000", "0.3400", "(0.6000 ± 0.0200)†",
                       "(0.9500)†", "none (constant noise fitted on val)", "worse (+0.140 ± 0.030)"]
    assert body[1][5:7] == ["0.4619 ± 0.0200", "0.9500"] and body[1][-1] == "-"  # the reference itself
    assert body[2][5] == "0.4500 ± ?" and body[2][-1] == "no clear difference (+0.010)"  # one seed
    assert body[3][-1] == "-"  # no seeds in common
    assert "NLL and 95% coverage come from MC dropout" in note and "(in brackets)" in note
    assert "paired over seeds" in note

    rows = [_crow("L2", 0.08, 0.25, mc=False, has_uncertainty=True, extra="test_ece")]
    head, body, note = findings.comparison_table(CLS, rows)
    assert head[2] == "test error rate" and head[6] == "test ECE"
    assert body[0][5:7] == ["0.2500 ± 0.0200†", "0.9500†"] and body[0][-1] == "-"
    assert "the sigmoid probability of one deterministic net" in note
    *_, note = findings.comparison_table(task_for(["a", "b", "c"]), rows)
    assert "the softmax probabilities of one deterministic net" in note


def test_learned_table_both_ways():
    learned = [{"member": "sweep's best p = 0.5", "standard_test_rmse": 0.38, "mc_test_rmse": 0.3725,
                "standard_test_nll": 0.4569, "mc_test_nll": 0.4619}]
    head, body = findings.learned_table(learned)
    assert head == ["member", "test RMSE (off)", "test RMSE (MC)", "test NLL (off)", "test NLL (MC)"]
    assert body == [["sweep's best p = 0.5", "0.3800", "0.3725", "0.4569", "0.4619"]]


@pytest.mark.parametrize(("vs", "words"), [
    (_vs(-0.03, 0.01, "better"), "better (paired difference -0.030 ± 0.010 nats)."),
    (_vs(0.01, 0.02, "no clear difference"), "no clear difference (paired difference +0.010 ± 0.020 nats)."),
    (_vs(0.09, 0.01, "worse"), "worse (paired difference +0.090 ± 0.010 nats)."),
    (_vs(0.09, None, "no clear difference", n=1), "no clear difference."),
])
def test_concrete_finding(vs, words):
    rows = [_crow("dropout (sweep)", 0.38, 0.462), _crow("Concrete dropout", 0.3947, 0.495, vs=vs)]
    compare = {"learned_p": {"mean": [0.477, 0.452], "sd": [0.002, 0.003]}, "runs": [{"method": "concrete"}]}
    text = findings.concrete_finding(rows, compare, [], 0.5)
    assert text == ("Concrete dropout learned p = layer 1: 0.477 ± 0.002, layer 2: 0.452 ± 0.003 (seed mean ± sd; the "
                    "sweep selected p = 0.5). Its MC test NLL 0.495 against the selected p's: " + words)


@pytest.mark.parametrize(("changes", "words"), [
    ([[0.002, -0.004], [0.001, 0.003]], "moved by at most 0.004: they have settled."),
    ([[0.002, -0.05], [0.001, 0.003]], "moved by at most 0.050: they have not converged, so the learned value says "
                                       "where training stopped, not where the objective's optimum is."),
])
def test_concrete_finding_says_whether_the_rates_settled(changes, words):
    rows = [_crow("Concrete dropout", 0.3947, 0.495, vs=_vs(0.01, 0.02, "no clear difference"))]
    compare = {"learned_p": {"mean": [0.477, 0.452], "sd": [0.002, 0.003]},
               "runs": [{"method": "concrete", "learned_p_change_last_10pct": c} for c in changes]}
    text = findings.concrete_finding(rows, compare, [], 0.5)
    assert text.endswith(" Over the last 10% of the epochs the learned rates " + words)


def test_best_of_finding_names_the_overall_lowest_nll_only_when_it_differs():
    mc_best = [_crow("dropout (sweep)", 0.38, 0.46), _crow("L2", 0.376, 0.50, mc=False, setting="best λ = 0.001")]
    text = findings.best_of_finding(mc_best)
    assert text == ("Lowest test error: L2 (best λ = 0.001, 0.3760). Lowest test NLL with a model uncertainty "
                    "(MC dropout): dropout (sweep) (0.4600).")
    plain_best = [_crow("dropout (sweep)", 0.38, 0.46), _crow("early", 0.369, 0.4234, mc=False)]
    assert findings.best_of_finding(plain_best).endswith(
        "; over all rows: early (0.4234, none (constant noise fitted on val)).")
    assert len(findings.comparison_findings(plain_best, {"runs": []}, {"runs": [], "best_p": 0.5})) == 1


# --- the arc: overfitting -> good fit -> underfitting across the grid ----------------------------


@pytest.mark.parametrize(("verdicts", "said"), [
    ({0.0: "overfitting", 0.3: "good fit", 0.5: "good fit", 0.9: "worse fit"},
     "By the verdict rules: overfitting at p = 0; a good fit at p = 0.3, 0.5. No p of this grid underfits: the arc "
     "is not complete here."),
    ({0.0: "good fit", 0.9: "underfitting"},
     "By the verdict rules: a good fit at p = 0; underfitting at p = 0.9. No p of this grid overfits: the arc is not "
     "complete here."),
    ({0.0: "good fit", 0.5: "good fit"},
     "By the verdict rules: a good fit at p = 0, 0.5. No p of this grid overfits and none underfits: the arc is not "
     "complete here."),
    ({0.9: "underfitting", 0.0: "overfitting", 0.5: "good fit", 0.1: "overfitting"},  # any order: sorted by p
     "By the verdict rules: overfitting at p = 0, 0.1; a good fit at p = 0.5; underfitting at p = 0.9. The grid shows "
     "the whole arc from overfitting to underfitting."),
])
def test_arc_finding(verdicts, said):
    assert findings.arc_finding(verdicts) == said


def test_arc_finding_counts_a_split_verdict_for_both_inferences():
    # dropout off and MC disagree at p = 0.9: its underfitting (MC) completes the arc
    said = findings.arc_finding({0.0: "overfitting", 0.5: "good fit", 0.9: "good fit (off) / underfitting (MC)"})
    assert said == ("By the verdict rules: overfitting at p = 0; a good fit at p = 0.5, 0.9; underfitting at p = 0.9. "
                    "The grid shows the whole arc from overfitting to underfitting.")
    # "worse fit" is none of the three: without an underfitting p the arc stays incomplete
    assert findings.arc_finding({0.0: "overfitting", 0.5: "good fit", 0.9: "worse fit"}).endswith(
        "No p of this grid underfits: the arc is not complete here.")


def test_sweep_findings_put_the_arc_after_the_selection():
    runs = _nll_runs([0.50, 0.60], [0.40, 0.52])
    metrics = {"best_p": 0.5, "runs": runs, "selection": _selection(0.5, CURVE, False)}
    said = findings.sweep_findings(metrics, verdict_by_p={0.0: "overfitting", 0.5: "good fit"})
    assert len(said) == 3
    assert said[0].startswith("p = 0.5 was selected")
    assert said[1] == ("By the verdict rules: overfitting at p = 0; a good fit at p = 0.5. No p of this grid "
                       "underfits: the arc is not complete here.")
    assert said[2].startswith("Test NLL at p = 0.5")
    assert findings.sweep_findings(metrics, verdict_by_p={}) == [said[0], said[2]]  # no verdicts: no arc


# --- how the comparison's settings were chosen ---------------------------------------------------


def _l2(best, edge):
    return {"criterion": "lowest seed-mean validation NLL with dropout off", "inference": "standard",
            "best_l2": best, "at_grid_edge": edge, "curve": []}


def _early(never_stopped, n=3, mean=57.4, se=12.6):
    return {"patience": 20, "epochs": 200, "kept_epoch": {"mean": mean, "se": se, "n": n},
            "never_stopped": never_stopped, "n": n}


def test_grid_findings_word_each_selection():
    compare = {"selection": {"l2": _l2(0.01, True), "dropout_l2": _l2(0.0, False), "early_stopping": _early(2)}}
    assert findings.grid_findings(compare) == [
        "L2 weight decay without dropout: the selected λ = 0.01 is the largest of the grid; stronger decay may be "
        "better (the optimum is not bracketed).",
        "dropout + L2: λ = 0 has the lowest validation NLL: on this data weight decay adds nothing that validation "
        "can see.",
        "Early stopping (patience 20) kept epoch 57 ± 13 of 200; 2 of 3 members never stopped: the patience outlasted "
        "the epochs left, so they kept their best epoch without the rule ending their training.",
    ]


def test_grid_findings_say_nothing_of_a_bracketed_choice():
    compare = {"selection": {"l2": _l2(1e-4, False), "dropout_l2": _l2(0.001, False), "early_stopping": _early(0)}}
    # a weight decay inside the grid: no sentence; early stopping that stopped every member: its epoch only
    assert findings.grid_findings(compare) == ["Early stopping (patience 20) kept epoch 57 ± 13 of 200."]
    swapped = {"selection": {"l2": _l2(0.0, False), "dropout_l2": _l2(0.01, True), "early_stopping": None}}
    said = findings.grid_findings(swapped)
    assert [s.split(":")[0] for s in said] == ["L2 weight decay without dropout", "dropout + L2"]
    assert "adds nothing" in said[0] and "the selected λ = 0.01 is the largest of the grid" in said[1]
    one = {"selection": {"l2": None, "dropout_l2": None, "early_stopping": _early(0, n=1, se=None)}}
    assert findings.grid_findings(one) == ["Early stopping (patience 20) kept epoch 57 ± ? of 200."]


@pytest.mark.parametrize("compare", [{}, {"selection": "lowest val NLL"}, {"selection": None},
                                     {"selection": {}}])
def test_grid_findings_of_an_old_or_empty_selection(compare):
    assert findings.grid_findings(compare) == []


def test_grid_findings_from_the_selection_rule():
    """:func:`mcdropout.study.selection.select` with λ = 0 as the natural bound (as compare.py calls it): the upper
    end is flagged and worded, λ = 0 is not flagged but said to add nothing."""
    from mcdropout.study.selection import select

    def runs(nll_by_l2):
        return [{"l2": lam, "seed": s, "standard": {"val": {"nll": v + 0.01 * s}}} for lam, v in nll_by_l2.items()
                for s in (0, 1)]

    top = select(runs({0.0: 0.9, 1e-4: 0.5, 1e-3: 0.4}), "l2", "standard", bound=0.0)
    zero = select(runs({0.0: 0.3, 1e-4: 0.5, 1e-3: 0.4}), "l2", "standard", bound=0.0)
    inside = select(runs({0.0: 0.9, 1e-4: 0.3, 1e-3: 0.4}), "l2", "standard", bound=0.0)
    assert (top["at_grid_edge"], zero["at_grid_edge"], inside["at_grid_edge"]) == (True, False, False)
    assert findings.grid_findings({"selection": {"l2": top, "dropout_l2": zero}}) == [
        "L2 weight decay without dropout: the selected λ = 0.001 is the largest of the grid; stronger decay may be "
        "better (the optimum is not bracketed).",
        "dropout + L2: λ = 0 has the lowest validation NLL: on this data weight decay adds nothing that validation "
        "can see."]
    assert findings.grid_findings({"selection": {"l2": inside, "dropout_l2": inside}}) == []


def test_comparison_findings_in_order():
    rows = [_crow("dropout (sweep)", 0.38, 0.46), _crow("Concrete dropout", 0.39, 0.45, vs=_vs(0.01, 0.02, "x"))]
    compare = {"learned_p": {"mean": [0.4], "sd": [0.01]}, "runs": [],
               "selection": {"l2": _l2(0.01, True), "dropout_l2": None, "early_stopping": _early(1)}}
    said = findings.comparison_findings(rows, compare, {"runs": [], "best_p": 0.5})
    assert [s.split(" ")[0] for s in said] == ["Concrete", "L2", "Early", "Lowest"]
    assert said[-1] == findings.best_of_finding(rows)


def test_plain_uncertainty_names_what_the_dagger_figures_are():
    assert findings.plain_uncertainty(REG) == findings.PLAIN_GAUSSIAN
    assert findings.plain_uncertainty(CLS) == "the sigmoid probability of one deterministic net (no epistemic part)"
    assert findings.plain_uncertainty(task_for(["a", "b", "c"])) == (
        "the softmax probabilities of one deterministic net (no epistemic part)")


def test_comparison_table_shows_the_train_errors_spread_where_known():
    row = {**_crow("L2", 0.40, 0.5, mc=False), "train_error_se": 0.004}
    head, body, _ = findings.comparison_table(REG, [row])
    assert body[0][3] == "0.1000 ± 0.0040"
    assert findings.comparison_table(REG, [_crow("L2", 0.40, 0.5, mc=False)])[1][0][3] == "0.1000"  # older files
