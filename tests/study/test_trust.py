"""The trust comparison on tiny trained models: methods, shift rules per kind of data, the ensemble as one fit."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from scipy.stats import norm

from mcdropout.cli.console import trust_table
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Classification, Regression
from mcdropout.data import shift
from mcdropout.data.datasets import DataError, Split, write_dataset
from mcdropout.data.sources import regression_curve
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.report.trust import trust_findings
from mcdropout.scoring import metrics as M
from mcdropout.scoring.uncertainty import classification_prediction, regression_prediction
from mcdropout.study import trust as trust_module
from mcdropout.study.compare import ensemble_members, run_compare
from mcdropout.study.experiment import train_group
from mcdropout.study.methods.mc_dropout_ensemble import NAME as MC_ENSEMBLE
from mcdropout.study.sweep import evaluate_sweep, run_sweep
from mcdropout.study.trust import Method, evaluate_method, over_repeats, run_trust, shift_family, shifted_set, summary


@pytest.fixture
def study(tiny_params):
    return tiny_params.override(**{"sweep.p": [0.0, 0.3], "sweep.seeds": [0, 1], "trust.ensemble_size": 3,
                                   "trust.shift_points": 40, "compare.l2": [1e-3], "compare.dropout_l2_p": None})


def _prepare(params, dataset: str, compare: bool = False) -> None:
    """The sweep (metrics.json), then either the whole comparison (compare.json; it trains both ensembles) or the
    ensembles alone, with a compare.json that names them and nothing else (Concrete dropout is then left out)."""
    write_dataset(dataset, params)
    result = run_sweep(params, dataset, progress=False)
    paths = Paths.of(params)
    metrics = evaluate_sweep(params, dataset, result.folder, progress=False)
    write_json(paths.metrics_json(dataset), metrics)
    if compare:
        write_json(paths.compare_json(dataset), run_compare(params, dataset, progress=False).metrics)
        return
    config = {"method": "l2", "l2": params.compare.l2[0]}
    by_seed = ensemble_members(params, config, metrics["best_p"])
    members = [m for groups in by_seed.values() for group in groups.values() for m in group]
    train_group(params, dataset, members, paths.ensemble_dir(dataset), "ensemble", evaluate=False, progress=False)
    configs = {"deep_ensemble": config, MC_ENSEMBLE: {"p": metrics["best_p"]}}
    write_json(paths.compare_json(dataset), {  # a compare.json with no comparison members: only the ensembles
        "dataset": dataset, "task": metrics["task"], "best_l2": None, "best_dropout_l2": None, "selection": {},
        "runs": [], "ensembles": {
            **{name: {"selected_by": f"chosen for the test ({name})", "config": configs[name],
                      "members": {str(s): [m.name for m in group] for s, group in groups.items()}}
               for name, groups in by_seed.items()}, "size": params.trust.ensemble_size}})


def _a_rate_over_both_repeats(est):
    return est["n"] == 2 and 0 <= est["mean"] <= 1


def test_regression_methods_shift_and_recalibration(study):
    _prepare(study, "regression", compare=True)
    trust = run_trust(study, "regression", progress=False)
    names = [m["name"] for m in trust["methods"]]
    assert names == ["standard", "mc_dropout", "deep_ensemble", "mc_dropout_ensemble", "concrete"]
    assert trust["seeds"] == [0, 1] and trust["repeats"] == 2 and all(m["repeats"] == 2 for m in trust["methods"])
    assert trust["repeat"].endswith("; one data split)")  # generated data: the seeds share the rows
    assert trust["shift"]["labeled"] and trust["shift"]["n"] == 40 and trust["shift"]["n_in_distribution"] == 50
    assert trust["shift_family"] == {"name": "noise", "rule": shift.FAMILIES["noise"],
                                     "intensities": [0.0, 0.25, 0.5, 1.0, 2.0]}
    assert trust["ensemble_size"] == 3
    by = {m["name"]: m for m in trust["methods"]}
    assert by["standard"]["ood_auroc"] is None and by["standard"]["selective"] is None  # constant noise: no rank
    assert [m["epistemic"] for m in trust["methods"]] == [False, True, True, True, True]
    for name in ("deep_ensemble", "mc_dropout_ensemble", "concrete"):
        assert _a_rate_over_both_repeats(by[name]["ood_auroc"]["std"])
        assert _a_rate_over_both_repeats(by[name]["ood_auroc"]["std_fpr95"])
        assert set(by[name]["selective"]) == {"drop_10", "drop_20", "drop_50", "aurc"}
    for m in trust["methods"]:
        assert set(m["in_distribution"]) == {"error", "nll", "coverage_95"}
        assert all(set(v) == {"mean", "se", "n"} and v["n"] == 2 for v in m["in_distribution"].values())
        assert 0 <= m["recalibrated"]["coverage_95"]["mean"] <= 1 and m["recalibrated"]["conformal_q"]["mean"] > 0
        assert m["recalibrated"]["n_val"] == 30 and m["recalibrated"]["conformal_rank"] == 30  # facts, kept as such
        assert m["predict_ms_per_1000"]["mean"] > 0 and m["predict_ms_per_1000"]["n"] == 1  # timed on repeat 0
        assert m["train_seconds"]["mean"] > 0 and m["train_seconds"]["n"] == 2
        # the shift family point by point; at intensity 0 it is the test split itself
        curve = m["shift_curve"]
        assert [pt["intensity"] for pt in curve] == [0.0, 0.25, 0.5, 1.0, 2.0]
        assert {k: curve[0][k]["mean"] for k in ("error", "nll")} == \
            {k: m["in_distribution"][k]["mean"] for k in ("error", "nll")}
        assert curve[-1]["error"]["mean"] > curve[0]["error"]["mean"]  # inputs with noise of 2 sds: worse
        assert m["selected_by"]
        # the same setting on every repeat, but Concrete dropout's learned rates, one per repeat
        assert ("config_by_repeat" in m) == (m["name"] == "concrete")
    rates = by["concrete"]["config_by_repeat"]
    assert len(rates) == 2 and rates[0] == by["concrete"]["config"] and rates[0] != rates[1]
    assert all(len(r["learned_p"]) == 2 and r["init_p"] == 0.1 for r in rates)
    assert by["mc_dropout"]["config"] == {"p": trust["best_p"], "samples": 20}
    assert by["mc_dropout_ensemble"]["config"] == {"p": trust["best_p"], "members": 3, "samples_per_member": 7}
    # the ensembles: trust.ensemble_size networks per repeat, trained by the comparison in a fit of their own
    compare = json.loads(Paths.of(study).compare_json("regression").read_text())
    assert by["deep_ensemble"]["config"] == {**compare["ensembles"]["deep_ensemble"]["config"], "members": 3}
    folder = Paths.of(study).ensemble_dir("regression")
    metas = {p.stem: load_checkpoint(p)[1] for p in sorted(folder.glob("*.pt"))}
    deep = compare["ensembles"]["deep_ensemble"]["members"]
    assert [(metas[n].seed, metas[n].split) for s in ("0", "1") for n in deep[s]] == \
        [(10000, 0), (10001, 0), (10002, 0), (10003, 1), (10004, 1), (10005, 1)]
    assert {m.p for n, m in metas.items() if n in deep["0"]} == {0.0}
    assert {m.fit_members for m in metas.values()} == {12} and len({m.fit_seconds for m in metas.values()}) == 1
    share = 3 * metas[deep["0"][0]].fit_seconds / 12
    assert by["deep_ensemble"]["train_seconds"] == {"mean": pytest.approx(share), "se": 0.0, "n": 2}
    # paired over the repeats: MC dropout against each other method, each ensemble against one of its members
    pairs = {(r["a"], r["b"], r["part"], r["metric"]): r for r in trust["paired"]}
    assert {b for a, b, _, _ in pairs if a == "mc_dropout"} == {"standard", "deep_ensemble", "mc_dropout_ensemble",
                                                                "concrete"}
    assert {(a, b) for a, b, _, _ in pairs if a != "mc_dropout"} == {
        ("deep_ensemble", "deep_ensemble:single_member"), ("mc_dropout_ensemble", "mc_dropout_ensemble:single_member")}
    assert {part for _, _, part, _ in pairs} == {"in_distribution", "shifted", "strongest_shift"}
    row = pairs[("mc_dropout", "standard", "in_distribution", "nll")]
    assert row["n"] == 2 and row["diff"] == pytest.approx(by["mc_dropout"]["in_distribution"]["nll"]["mean"]
                                                          - by["standard"]["in_distribution"]["nll"]["mean"])
    json.dumps(trust)  # plain data
    assert summary(trust) == {f"nll_{n}": round(by[n]["in_distribution"]["nll"]["mean"], 5)
                              for n in names if n != "standard"}
    assert "deep_ensemble" in trust_table(trust)
    said = " ".join(trust_findings(trust))
    assert f"{by['deep_ensemble']['in_distribution']['nll']['mean']:.3f} ± " in said and "split-conformal" in said


def test_moons_shift_has_no_labels_and_ranks_by_entropy_and_mi(study):
    _prepare(study, "classification")
    trust = run_trust(study, "classification", progress=False)
    assert not trust["shift"]["labeled"] and "away from both moons" in trust["shift"]["rule"]
    by = {m["name"]: m for m in trust["methods"]}
    assert list(by) == ["standard", "mc_dropout", "deep_ensemble", "mc_dropout_ensemble"]  # no comparison: no Concrete
    assert by["mc_dropout"]["shifted"] is None
    for name in ("deep_ensemble", "mc_dropout_ensemble"):
        assert set(by[name]["ood_auroc"]) >= {"entropy", "mutual_info"}
        assert by[name]["ood_auroc"]["entropy"]["n"] == 2
    assert set(by["standard"]["ood_auroc"]) == {"entropy", "entropy_fpr95"}  # one net: no mutual information
    # its softmax ranks points, but it is no model uncertainty: left out of the headline
    assert by["standard"]["selective"] is not None and by["standard"]["epistemic"] is False
    assert set(summary(trust)) == {"nll_mc_dropout", "nll_deep_ensemble", "nll_mc_dropout_ensemble"}
    recal = by["mc_dropout"]["recalibrated"]
    assert {"temperature", "nll_before", "nll_after"} <= set(recal)
    share = recal["temperature_at_bound"]  # the share of repeats whose T sits at a bound of its search
    assert share["n"] == 2 and share["mean"] in (0.0, 0.5, 1.0)
    assert recal["nll_before"]["mean"] == pytest.approx(by["mc_dropout"]["in_distribution"]["nll"]["mean"])
    # no labels on the shifted set: the pairs are on the test split and the strongest shift of the family only
    assert {r["part"] for r in trust["paired"]} == {"in_distribution", "strongest_shift"}
    assert {r["metric"] for r in trust["paired"] if r["a"] == "mc_dropout"} == {"error", "nll", "ece"}


def test_real_data_shift_is_the_farthest_test_points(study):  # also: re-split per repeat
    params = study.override(**{"datasets.wine": {"source": "sklearn", "name": "wine"}})  # not a default any more
    _prepare(params, "wine")
    trust = run_trust(params, "wine", progress=False)
    total = trust["shift"]["n"] + trust["shift"]["n_in_distribution"]
    assert total == 36  # the test split: 20% of 178 rows
    assert trust["shift"]["labeled"] and trust["shift"]["n"] == round(0.2 * total)
    assert all(m["shifted"] is not None and m["shifted"]["nll"]["n"] == 2 for m in trust["methods"])
    assert "a random train/val/test split of the rows" in trust["repeat"]
    metrics = json.loads(Paths.of(params).metrics_json("wine").read_text())
    assert {(r["seed"], r["split"]) for r in metrics["runs"]} == {(0, 0), (1, 1)}
    # the two repeats saw different test points: the per-repeat errors are not all equal
    assert any(m["in_distribution"]["error"]["se"] > 0 for m in trust["methods"])


# --- every cell of one method's row, through a fake method whose MC samples are known (no training) -------------------


NOISE = 3.0


def _regression_rows(mean, std):
    """Inputs whose fake MC prediction has this mean and predictive std: x = (mean, a), the T = 2 sample means
    mean -/+ a with a = sqrt(std^2 - 3^2), noise 3."""
    return np.stack([np.asarray(mean, float), np.sqrt(np.asarray(std, float) ** 2 - NOISE**2)], axis=1)


def _fake_mc(x):
    return regression_prediction(np.stack([x[:, 0] - x[:, 1], x[:, 0] + x[:, 1]]), NOISE)


def _fake_standard(x):
    return regression_prediction(x[None, :, 0], NOISE)


# val: 19 points, mean 0, std 3, normalised residuals 0.1, 0.2, ..., 1.9 -> the conformal q (the 19th of 19) is 1.9
VAL = Split(_regression_rows(np.zeros(19), np.full(19, 3.0)), 3.0 * 0.1 * np.arange(1, 20))
# test: std (the rank) 3, 4, 5, 6, 3; errors 1, 6, 2, 12, 0.5, two of them below the mean; z = 1/3, 1.5, 0.4, 2, 1/6
TEST = Split(_regression_rows([0.0, 0.0, 1.0, 2.0, 0.0], [3.0, 4.0, 5.0, 6.0, 3.0]),
             np.array([1.0, -6.0, 3.0, -10.0, 0.5]))
# shifted: std 4, 6, 7; errors 2, 12, 7 (z = 0.5, 2, 1)
SHIFT = (_regression_rows([0.0, 0.0, 0.0], [4.0, 6.0, 7.0]), np.array([2.0, -12.0, 7.0]), "rule")


def _mixture_nll(y, mean, a):
    return -np.mean(np.log(0.5 * (norm.pdf(y, mean - a, NOISE) + norm.pdf(y, mean + a, NOISE))))


def test_trust_regression_cells_by_hand():
    method = Method("mc_dropout", _fake_mc, 12.5, has_uncertainty=True)
    row = evaluate_method(Regression(), method, SimpleNamespace(splits={"val": VAL}), TEST, SHIFT)
    assert row["train_seconds"] == 12.5 and row["predict_ms_per_1000"] > 0
    assert row["shift_curve"] == [] and "single_member" not in row  # no family given; not an ensemble
    ind = row["in_distribution"]
    assert ind["error"] == pytest.approx(math.sqrt((1 + 36 + 4 + 144 + 0.25) / 5))  # RMSE
    assert ind["nll"] == pytest.approx(_mixture_nll(TEST.y, TEST.x[:, 0], TEST.x[:, 1]))
    assert ind["coverage_95"] == pytest.approx(0.8)  # z = 2 is outside +-1.96
    shifted = row["shifted"]
    assert shifted["error"] == pytest.approx(math.sqrt((4 + 144 + 49) / 3))
    assert shifted["nll"] == pytest.approx(_mixture_nll(SHIFT[1], SHIFT[0][:, 0], SHIFT[0][:, 1]))
    assert shifted["coverage_95"] == pytest.approx(2 / 3)
    # OOD: out 4 beats in 3, 3 and ties 4 (2.5); out 6 beats 3, 3, 4, 5 and ties 6 (4.5); out 7 beats all (5): 12/15.
    assert row["ood_auroc"] == {"std": pytest.approx(0.8), "std_fpr95": pytest.approx(0.4)}  # threshold 4.2: 5, 6
    # selective: most certain first (the tie at std 3 in input order): errors 1, 0.5, 6, 2, 12
    risk = [1.0, 0.75, 2.5, 2.375, 4.3]
    assert row["selective"] == {"drop_10": pytest.approx(4.3), "drop_20": pytest.approx(2.375),
                                "drop_50": pytest.approx(2.5), "aurc": pytest.approx(np.mean(risk))}
    curve = row["curves"]["risk_coverage"]
    assert curve["coverage"] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0]) and curve["risk"] == pytest.approx(risk)
    hist = row["curves"]["histogram"]
    assert hist["uncertainty"] == "std" and hist["edges"] == pytest.approx(np.linspace(3.0, 7.0, 21).tolist())
    stds_in, stds_out = _fake_mc(TEST.x).std, _fake_mc(SHIFT[0]).std
    edges = np.linspace(stds_in.min(), stds_out.max(), 21)  # the values' own range (7 may be 7 + 1 ulp)
    assert hist["in_distribution"] == np.histogram(stds_in, edges)[0].tolist()
    assert hist["shifted"] == np.histogram(stds_out, edges)[0].tolist()
    assert (sum(hist["in_distribution"]), sum(hist["shifted"]), hist["in_distribution"][0], hist["shifted"][-1]) \
        == (5, 3, 2, 1)
    recal = row["recalibrated"]
    assert recal["conformal_q"] == pytest.approx(1.9)  # from val, not from the 5 test points (+inf there)
    assert recal["variance_scale"] == pytest.approx(0.1 * math.sqrt(130))  # sqrt(mean(0.1 k)^2), k = 1..19
    # conformal: |z| <= 1.9; scaled: |z| <= 1.96 * 1.140 = 2.235; raw: |z| <= 1.96
    assert (recal["coverage_95"], recal["scaled_coverage_95"], recal["raw_coverage_95"]) == pytest.approx((0.8, 1, 0.8))
    assert (recal["coverage_95_shifted"], recal["scaled_coverage_95_shifted"], recal["raw_coverage_95_shifted"]) \
        == pytest.approx((2 / 3, 1, 2 / 3))
    # conformal widths 2 q std: test stds average 4.2, shifted 17 / 3
    assert recal["width_95"] == pytest.approx(2 * 1.9 * 4.2)
    assert recal["width_95_shifted"] == pytest.approx(2 * 1.9 * 17 / 3)
    assert (recal["conformal_level"], recal["conformal_rank"], recal["n_val"]) == (0.95, 19, 19)


def test_trust_regression_standard_has_no_rank_and_unlabeled_shift():
    method = Method("standard", _fake_standard, 1.0, has_uncertainty=False)
    row = evaluate_method(Regression(), method, SimpleNamespace(splits={"val": VAL}), TEST, (SHIFT[0], None, "r"))
    assert row["ood_auroc"] is None and row["selective"] is None and row["curves"] is None
    assert row["shifted"] is None
    assert row["in_distribution"]["nll"] == pytest.approx(-np.mean(norm.logpdf(TEST.y, TEST.x[:, 0], NOISE)))
    assert set(row["recalibrated"]) == {"variance_scale", "conformal_q", "conformal_level", "conformal_rank", "n_val",
                                        "coverage_95", "width_95", "scaled_coverage_95",
                                        "raw_coverage_95"}  # no shifted labels: no shifted coverage
    # q = 1.9 of the 19th of 19 scores (ceil(20 x 0.95)); the interval mean +- 1.9 x 3 is 11.4 wide everywhere
    assert (row["recalibrated"]["conformal_level"], row["recalibrated"]["conformal_rank"],
            row["recalibrated"]["n_val"]) == (0.95, 19, 19)
    assert row["recalibrated"]["width_95"] == pytest.approx(2 * 1.9 * 3.0)
    # val: mean 0, std 3 (the noise alone): the same q and scale as the MC fake
    assert row["recalibrated"]["conformal_q"] == pytest.approx(1.9)
    # a constant uncertainty does not rank: no OOD AUROC even when the method says it has one
    flat = Method("flat", _fake_standard, 1.0, has_uncertainty=True)
    row = evaluate_method(Regression(), flat, SimpleNamespace(splits={"val": VAL}), TEST, SHIFT)
    assert row["ood_auroc"] is None
    assert row["selective"]["aurc"] == pytest.approx(np.mean(np.cumsum([1, 6, 2, 12, 0.5]) / np.arange(1, 6)))


def _fake_classifier(x):
    return classification_prediction(x.T)  # columns: the two passes' probability of class 1


# test: passes (0.9, 0.9), (0.6, 0.6), (0.2, 0.5), (0.05, 0.25) -> p = 0.9, 0.6, 0.35, 0.15, labels 1, 1, 0, 0;
# entropy 0.325, 0.673, 0.647, 0.423; mutual information 0, 0, 0.0507, 0.0423
CTEST = Split(np.array([[0.9, 0.9], [0.6, 0.6], [0.2, 0.5], [0.05, 0.25]]), np.array([1.0, 0.0, 0.0, 1.0]))
# shifted, no labels: p = 0.5 each (entropy log 2); mutual information 0, 0.368, 0.131
CSHIFT = (np.array([[0.5, 0.5], [0.125, 0.875], [0.25, 0.75]]), None, "away")
CVAL = Split(np.array([[0.95, 0.85], [0.1, 0.2], [0.8, 0.9], [0.3, 0.1], [0.7, 0.9], [0.2, 0.2]]),
             np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]))


def _log_mean_probs(x):
    p = x.mean(1)
    return np.log(np.stack([1 - p, p], axis=1))


def test_trust_classification_cells_by_hand():
    method = Method("mc_dropout", _fake_classifier, 2.0, has_uncertainty=True)
    row = evaluate_method(Classification(), method, SimpleNamespace(splits={"val": CVAL}), CTEST, CSHIFT)
    ind = row["in_distribution"]
    assert ind["error"] == pytest.approx(0.5)  # points 1 and 3 wrong
    assert ind["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.65, 0.15])))
    assert ind["ece"] == pytest.approx(M.ece_k(CTEST.y.astype(int), np.exp(_log_mean_probs(CTEST.x))))
    assert row["shifted"] is None
    # entropy: every shifted point (log 2) above every test point; MI: out 0 ties in 0, 0 (1 pair), out 0.368 and
    # 0.131 beat all four (8): 9/12. fpr95: entropy threshold log 2 -> none flagged; MI threshold 0.0131 -> 2 of 4.
    assert row["ood_auroc"] == {"entropy": pytest.approx(1.0), "entropy_fpr95": 0.0,
                                "mutual_info": pytest.approx(0.75), "mutual_info_fpr95": pytest.approx(0.5)}
    # selective by entropy: errors in order 0 (0.325), 1 (0.423), 0 (0.647), 1 (0.673)
    risk = [0.0, 0.5, 1 / 3, 0.5]
    assert row["selective"] == {"drop_10": pytest.approx(0.5), "drop_20": pytest.approx(0.5),
                                "drop_50": pytest.approx(0.5), "aurc": pytest.approx(np.mean(risk))}
    assert row["curves"]["risk_coverage"] == {"coverage": pytest.approx([0.25, 0.5, 0.75, 1.0]),
                                              "risk": pytest.approx(risk)}
    hist = row["curves"]["histogram"]
    assert hist["uncertainty"] == "entropy" and hist["shifted"] == [0] * 19 + [3]
    h = M.binary_entropy(np.array([0.9, 0.6, 0.35, 0.15]))
    lo, width = h.min(), (math.log(2) - h.min()) / 20
    expected = np.bincount(np.minimum(((h - lo) / width).astype(int), 19), minlength=20).tolist()
    assert hist["in_distribution"] == expected and expected[0] == 1
    # temperature on val, against a reference fit by scipy on a fine grid
    recal = row["recalibrated"]
    log_val, y_val = _log_mean_probs(CVAL.x), CVAL.y.astype(int)
    grid = np.geomspace(0.05, 20, 3001)[:, None, None]  # steps of 0.2%
    nll = -np.mean(np.take_along_axis(log_softmax(log_val / grid, axis=-1), y_val[None, :, None], -1), axis=(1, 2))
    t = recal["temperature"]
    assert t == pytest.approx(grid[int(np.argmin(nll)), 0, 0], rel=3e-3) and 0.1 < t < 10
    log_test = _log_mean_probs(CTEST.x)
    after = softmax(log_test / t, axis=1)
    y_test = CTEST.y.astype(int)
    assert recal["nll_before"] == pytest.approx(ind["nll"])
    assert recal["nll_after"] == pytest.approx(-np.mean(np.log(after[np.arange(4), y_test])), rel=1e-6)
    assert recal["ece_before"] == pytest.approx(ind["ece"])
    assert recal["ece_after"] == pytest.approx(M.ece_k(y_test, after), rel=1e-6)
    assert recal["temperature_at_bound"] == 0.0  # an interior optimum (over repeats: the share at a bound)
    assert set(recal) == {"temperature", "temperature_at_bound", "nll_before", "nll_after", "ece_before", "ece_after"}


def test_summary_is_each_methods_rounded_test_nll_in_flat_keys():
    def est(v):
        return {"mean": v, "se": 0.01, "n": 3}

    trust = {"methods": [
        {"name": "mc_dropout", "epistemic": True, "in_distribution": {"error": est(0.1234567), "nll": est(1.0000049)},
         "selective": {"aurc": est(0.2)}},
        # standard inference: no model uncertainty of its own, even where its softmax ranks points (classification)
        {"name": "standard", "epistemic": False, "in_distribution": {"error": est(0.2), "nll": est(2.0)},
         "selective": {"aurc": est(0.25)}},
        {"name": "deep_ensemble", "in_distribution": {"error": est(0.2), "nll": est(0.123456)},  # epistemic: default
         "selective": {"aurc": est(0.3)}}]}
    assert summary(trust) == {"nll_mc_dropout": 1.0, "nll_deep_ensemble": 0.12346}


# --- the helpers around the table, without training --------------------------------------------------------


def _data_and_params(source, x_train, shift_points=6):
    data = SimpleNamespace(schema=SimpleNamespace(source=source), splits={"train": Split(x_train, x_train[:, 0])})
    params = SimpleNamespace(trust=SimpleNamespace(shift_points=shift_points),
                             data=SimpleNamespace(seed=3, regression=SimpleNamespace(noise=0.2)))
    return data, params


def test_shifted_set_follows_the_rule_of_each_kind_of_data():
    x1 = np.array([[0.0], [1.0], [4.0]], np.float32)
    x, y, rule = shifted_set(*_data_and_params("synthetic", x1, shift_points=5))
    # span 4: right 4.4 .. 6 (3 points), left -2 .. -0.4 (2 points)
    assert x.dtype == np.float32 and x[:, 0].tolist() == pytest.approx([-2.0, -0.4, 4.4, 5.2, 6.0])
    noise = 0.2 * np.random.default_rng(3 + 7).standard_normal(5)  # the data seed + 7
    assert y.dtype == np.float32 and y == pytest.approx(regression_curve(x[:, 0]) + noise, abs=1e-6)
    assert rule == "1-D: points beyond the training range on both sides, same curve and noise"
    x2 = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [3.0, 3.0], [3.1, 3.0], [3.0, 3.1]], np.float32)
    x, y, rule = shifted_set(*_data_and_params("synthetic", x2, shift_points=4))
    assert y is None and rule == "2-D: points away from both moons (no labels: OOD detection only)"
    assert np.array_equal(x, shift.away_from_data(x2, 4, seed=3))
    mahalanobis = "test points farthest from the training data (Mahalanobis)"
    for source, x_train in (("csv", x1), ("csv", x2), ("synthetic", np.zeros((4, 3), np.float32))):
        x, y, rule = shifted_set(*_data_and_params(source, x_train))
        assert x.shape == (0, x_train.shape[1]) and x.dtype == np.float32 and y is None and rule == mahalanobis


def test_member_seconds_and_load(tmp_path, monkeypatch):
    from mcdropout.study.methods import base

    seconds = base.member_seconds
    assert seconds(SimpleNamespace(fit_seconds=12.0, fit_members=4)) == 3.0
    assert seconds(SimpleNamespace(fit_seconds=12.0, fit_members=1)) == 12.0
    assert seconds(SimpleNamespace(fit_seconds=12.0, fit_members=0)) == 12.0
    missing = tmp_path / "m.pt"
    with pytest.raises(DataError) as err:
        base.load_member(missing, "sweep --dataset d")
    assert str(err.value) == f"{missing}: missing; run `mcdropout sweep --dataset d` first"
    missing.write_bytes(b"")
    monkeypatch.setattr(base, "load_checkpoint", lambda path: ("model", path))
    assert base.load_member(missing, "sweep") == ("model", missing)


def test_timed_ms_per_1000_runs_three_times_and_a_tenth_of_a_second(monkeypatch):
    def clock_of(ticks):
        ticks = iter(ticks)
        return SimpleNamespace(perf_counter=lambda: next(ticks))

    calls = []
    x = np.zeros((4, 1))
    # a warm-up call before the clock starts (a one-off cost), then the timed calls:
    # 0.1 s already gone after the third call (the bound itself ends the loop): 3 calls, the last reading 0.4 s
    monkeypatch.setattr(trust_module, "time", clock_of([0.0, 0.1, 0.4]))
    assert trust_module._timed_ms_per_1000(calls.append, x) == pytest.approx(0.4 / 3 / 4 * 1e6)
    assert len(calls) == 1 + 3 and all(c is x for c in calls)
    # fast calls: six, until 0.1 s has passed (a clock that does not start at 0)
    calls.clear()
    monkeypatch.setattr(trust_module, "time", clock_of([1.0, 1.02, 1.05, 1.099, 1.125, 1.25]))
    assert trust_module._timed_ms_per_1000(calls.append, x) == pytest.approx(0.25 / 6 / 4 * 1e6)
    assert len(calls) == 1 + 6


def test_trust_regression_conformal_scores_are_residuals_from_the_val_mean():
    # the val set shifted by +1 in both mean and target: the same residuals, so the same q and scale as above
    val = Split(_regression_rows(np.ones(19), np.full(19, 3.0)), 1.0 + 3.0 * 0.1 * np.arange(1, 20))
    row = evaluate_method(Regression(), Method("m", _fake_mc, 1.0, True), SimpleNamespace(splits={"val": val}),
                          TEST, SHIFT)
    assert row["recalibrated"]["conformal_q"] == pytest.approx(1.9)
    assert row["recalibrated"]["variance_scale"] == pytest.approx(0.1 * math.sqrt(130))


def test_trust_without_a_rank_or_without_shifted_points():
    # has_uncertainty False: nothing is ranked, even when the std varies from point to point
    row = evaluate_method(Regression(), Method("m", _fake_mc, 1.0, has_uncertainty=False),
                          SimpleNamespace(splits={"val": VAL}), TEST, SHIFT)
    assert row["ood_auroc"] is None and row["selective"] is None and row["curves"] is None
    assert row["shifted"]["coverage_95"] == pytest.approx(2 / 3)
    # no shifted points: no shifted score, no OOD AUROC, a histogram of the test points alone
    empty = (np.empty((0, 2)), None, "none")
    row = evaluate_method(Classification(), Method("m", _fake_classifier, 1.0, True),
                          SimpleNamespace(splits={"val": CVAL}), CTEST, empty)
    assert row["shifted"] is None and row["ood_auroc"] is None
    hist = row["curves"]["histogram"]
    h = M.binary_entropy(np.array([0.9, 0.6, 0.35, 0.15]))
    assert hist["shifted"] is None and hist["edges"] == pytest.approx(np.linspace(h.min(), h.max(), 21).tolist())
    assert hist["in_distribution"] == np.histogram(h, np.linspace(h.min(), h.max(), 21))[0].tolist()
    assert set(row["recalibrated"]) == {"temperature", "temperature_at_bound", "nll_before", "nll_after",
                                        "ece_before", "ece_after"}


def test_curves_pick_fifty_points_and_bin_a_zero_uncertainty():
    errors = np.arange(100.0)
    out = trust_module._curves(errors, np.arange(100.0), "std", None)
    pick = np.linspace(0, 99, 50).round().astype(int)  # 50 of the 100 points, the first and the last among them
    assert out["risk_coverage"]["coverage"] == pytest.approx(((pick + 1) / 100).tolist())
    assert out["risk_coverage"]["risk"] == pytest.approx((pick / 2).tolist())  # mean of 0..k
    assert out["histogram"]["shifted"] is None and out["histogram"]["in_distribution"] == [5] * 20
    # every uncertainty 0 (and no shifted points): the histogram spans [0, 1], all in the first bin
    out = trust_module._curves(np.array([1.0, 0.0, 1.0]), np.zeros(3), "entropy", None)
    assert out["histogram"]["edges"] == pytest.approx(np.linspace(0.0, 1.0, 21).tolist())
    assert out["histogram"]["in_distribution"] == [3] + [0] * 19
    assert out["risk_coverage"] == {"coverage": pytest.approx([1 / 3, 2 / 3, 1.0]),
                                    "risk": pytest.approx([1.0, 0.5, 2 / 3])}


# val and test with passes of probability exactly 0 and 1 (log 0 would be -inf): clipped at 1e-12
ZVAL = Split(np.vstack([CVAL.x, [[0.0, 0.0], [1.0, 1.0]]]), np.concatenate([CVAL.y, [0.0, 1.0]]))
ZTEST = Split(np.vstack([CTEST.x, [[1.0, 1.0]]]), np.concatenate([CTEST.y, [0.0]]))
ZSHIFT = (np.array([[0.0, 0.0], [0.3, 0.5], [0.8, 1.0]]), np.array([1.0, 0.0, 1.0]), "labeled")


@pytest.mark.filterwarnings("error")  # log 0 is a warning
def test_trust_classification_recalibrates_zero_probabilities_and_labeled_shift():
    row = evaluate_method(Classification(), Method("m", _fake_classifier, 1.0, True),
                          SimpleNamespace(splits={"val": ZVAL}), ZTEST, ZSHIFT)
    recal = row["recalibrated"]
    log_val = np.log(np.clip(np.stack([1 - ZVAL.x.mean(1), ZVAL.x.mean(1)], axis=1), 1e-12, 1.0))
    grid = np.geomspace(0.05, 20, 3001)[:, None, None]
    y_val = ZVAL.y.astype(int)[None, :, None]
    nll = -np.mean(np.take_along_axis(log_softmax(log_val / grid, axis=-1), y_val, -1), axis=(1, 2))
    t = recal["temperature"]
    assert t == pytest.approx(grid[int(np.argmin(nll)), 0, 0], rel=3e-3)
    for suffix, (x, y) in {"": (ZTEST.x, ZTEST.y), "_shifted": ZSHIFT[:2]}.items():
        p = x.mean(1)
        probs = np.stack([1 - p, p], axis=1)
        after = softmax(np.log(np.clip(probs, 1e-12, 1.0)) / t, axis=1)
        y = y.astype(int)
        assert recal[f"nll_before{suffix}"] == pytest.approx(M.nll_k(y, probs))
        assert recal[f"nll_after{suffix}"] == pytest.approx(M.nll_k(y, after), rel=1e-9)
        assert recal[f"ece_before{suffix}"] == pytest.approx(M.ece_k(y, probs))
        assert recal[f"ece_after{suffix}"] == pytest.approx(M.ece_k(y, after), rel=1e-9)
    assert row["shifted"]["error"] == pytest.approx(1 / 3)  # p = 0, 0.4, 0.9: the second is right (class 0)


# --- over the repeats: means and standard errors, kept facts, the shift curve point by point, paired verdicts -----


def _repeat(error, nll, auroc, curve, temperature, at_bound, rank, ms):
    return {"in_distribution": {"error": error, "nll": nll}, "shifted": None, "ood_auroc": auroc,
            "shift_curve": [{"intensity": a, "error": e} for a, e in curve],
            "recalibrated": {"temperature": temperature, "temperature_at_bound": at_bound, "conformal_level": 0.95,
                             "conformal_rank": rank, "n_val": rank},
            "curves": {"histogram": {"uncertainty": "std", "edges": [0.0, float(rank)]}, "flag": at_bound == 1.0},
            "train_seconds": 2.0, "predict_ms_per_1000": ms}


def test_over_repeats_by_hand():
    repeats = [_repeat(1.0, 2.0, {"std": 0.6}, [(0.0, 1.0), (1.0, 3.0)], 1.5, 0.0, 19, 10.0),
               _repeat(2.0, 4.0, None, [(0.0, 2.0), (1.0, 5.0)], 2.5, 1.0, 20, None),
               _repeat(3.0, 6.0, {"std": 0.8}, [(0.0, 3.0), (1.0, 7.0)], 0.5, 1.0, 21, None)]
    out = over_repeats(repeats)
    third = 1 / math.sqrt(3)
    # error 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); nll 2, 4, 6: se 2/sqrt(3)
    assert out["in_distribution"] == {"error": {"mean": 2.0, "se": pytest.approx(third), "n": 3},
                                      "nll": {"mean": 4.0, "se": pytest.approx(2 * third), "n": 3}}
    assert out["shifted"] is None
    # a repeat without a value counts out: 0.6 and 0.8, mean 0.7, se |0.6 - 0.8| / 2
    assert out["ood_auroc"] == {"std": {"mean": pytest.approx(0.7), "se": pytest.approx(0.1), "n": 2}}
    # the shift curve point by point, its intensities kept: errors 1, 2, 3 at 0 and 3, 5, 7 at 1
    assert out["shift_curve"] == [{"intensity": 0.0, "error": {"mean": 2.0, "se": pytest.approx(third), "n": 3}},
                                  {"intensity": 1.0, "error": {"mean": 5.0, "se": pytest.approx(2 * third), "n": 3}}]
    recal = out["recalibrated"]
    assert recal["temperature"] == {"mean": pytest.approx(1.5), "se": pytest.approx(third), "n": 3}
    # T at a bound in 2 of 3 repeats: the share, 0, 1, 1 with sd sqrt(1/3), se 1/3
    assert recal["temperature_at_bound"] == {"mean": pytest.approx(2 / 3), "se": pytest.approx(1 / 3), "n": 3}
    # facts, flags, words and lists are the first repeat's, not averaged
    assert (recal["conformal_level"], recal["conformal_rank"], recal["n_val"]) == (0.95, 19, 19)
    assert out["curves"] == {"histogram": {"uncertainty": "std", "edges": [0.0, 19.0]}, "flag": False}
    assert out["train_seconds"] == {"mean": 2.0, "se": 0.0, "n": 3}
    assert out["predict_ms_per_1000"] == {"mean": 10.0, "se": None, "n": 1}  # timed on the first repeat only
    # two repeats: se = |a - b| / 2; one repeat: no se
    two = over_repeats(repeats[:2])
    assert two["in_distribution"]["nll"] == {"mean": 3.0, "se": pytest.approx(1.0), "n": 2}
    assert over_repeats(repeats[:1])["in_distribution"]["error"] == {"mean": 1.0, "se": None, "n": 1}
    assert two["ood_auroc"] == {"std": {"mean": 0.6, "se": None, "n": 1}}


def _scores(error, nll, coverage):
    return {"error": error, "nll": nll, "coverage_95": coverage}


def test_paired_comparisons_by_hand():
    def runs(error, nll, coverage, last=None, single=None):
        out = []
        for i in range(3):
            point = _scores(error[i], nll[i], coverage[i]) if last is None else _scores(*last[i])
            r = {"in_distribution": _scores(error[i], nll[i], coverage[i]), "shifted": None,
                 "shift_curve": [{"intensity": 2.0, **point}]}
            if single is not None:
                r["single_member"] = _scores(single[0][i], single[1][i], 0.9)
            out.append(r)
        return out

    per_repeat = {
        "standard": runs([2.0, 2.2, 1.9], [0.5, 0.7, 0.6], [0.80, 0.85, 0.75]),
        "mc_dropout": runs([1.0, 1.1, 0.9], [0.5, 0.6, 0.7], [0.95, 0.90, 0.93]),
        "deep_ensemble": runs([0.8, 0.9, 0.85], [0.4, 0.45, 0.5], [0.95, 0.95, 0.95],
                              single=([1.0, 1.2, 1.1], [0.6, 0.7, 0.65])),
        "short": runs([1.0] * 3, [1.0] * 3, [1.0] * 3)[:2],  # fewer repeats: not paired
    }
    out = trust_module._comparisons(Regression(), per_repeat)
    assert {r["part"] for r in out} == {"in_distribution", "strongest_shift"}  # no shifted labels
    out = [r for r in out if r["part"] == "in_distribution"]  # the strongest shift is the test set here: below
    pairs = {(r["a"], r["b"], r["metric"]): r for r in out}
    # MC dropout minus standard: errors -1, -1.1, -1.0 (mean -31/30, sd 1/sqrt(300), se 1/30): better
    row = pairs[("mc_dropout", "standard", "error")]
    assert (row["diff"], row["se"], row["n"], row["verdict"]) == \
        (pytest.approx(-31 / 30), pytest.approx(1 / 30), 3, "better")
    # NLL 0, -0.1, 0.1: mean 0, se 0.1 / sqrt(3): no clear difference
    row = pairs[("mc_dropout", "standard", "nll")]
    assert (row["diff"], row["se"], row["verdict"]) == \
        (pytest.approx(0.0, abs=1e-12), pytest.approx(0.1 / math.sqrt(3)), "no clear difference")
    # coverage: the distance from 0.95, lower is better: 0, 0.05, 0.02 against 0.15, 0.10, 0.20
    row = pairs[("mc_dropout", "standard", "coverage_95_gap")]
    d = np.array([-0.15, -0.05, -0.18])
    assert (row["diff"], row["se"], row["verdict"]) == \
        (pytest.approx(d.mean()), pytest.approx(d.std(ddof=1) / math.sqrt(3)), "better")
    # against the deep ensemble MC dropout is worse in error: 0.2, 0.2, 0.05 (mean 0.15, se 0.05): 0.15 > 0.1
    row = pairs[("mc_dropout", "deep_ensemble", "error")]
    assert (row["diff"], row["se"], row["verdict"]) == (pytest.approx(0.15), pytest.approx(0.05), "worse")
    assert not any("short" in (r["a"], r["b"]) for r in out)
    # the ensemble against its own first member: -0.2, -0.3, -0.25 (se 0.05 / sqrt(3)); NLL -0.2, -0.25, -0.15
    row = pairs[("deep_ensemble", "deep_ensemble:single_member", "error")]
    assert (row["diff"], row["se"], row["verdict"], row["part"]) == \
        (pytest.approx(-0.25), pytest.approx(0.05 / math.sqrt(3)), "better", "in_distribution")
    row = pairs[("deep_ensemble", "deep_ensemble:single_member", "nll")]
    assert (row["diff"], row["verdict"]) == (pytest.approx(-0.2), "better")
    assert len(out) == 3 * 2 + 2  # three metrics against two methods, two against the ensemble's member
    # the strongest shift of the family: its last point
    per_repeat = {"mc_dropout": runs([1.0] * 3, [1.0] * 3, [0.95] * 3, last=[(1.0, 2.0, 0.9)] * 3),
                  "standard": runs([1.0] * 3, [1.0] * 3, [0.95] * 3, last=[(1.0, 3.0, 0.7), (1.0, 3.1, 0.7),
                                                                          (1.0, 2.9, 0.7)])}
    out = trust_module._comparisons(Regression(), per_repeat)
    strongest = {r["metric"]: r for r in out if r["part"] == "strongest_shift"}
    assert strongest["nll"]["diff"] == pytest.approx(-1.0) and strongest["nll"]["verdict"] == "better"
    assert strongest["coverage_95_gap"]["diff"] == pytest.approx(-0.2)
    assert strongest["error"]["verdict"] == "no clear difference"  # equal: not beyond rounding
    assert trust_module._comparisons(Regression(), {"standard": per_repeat["standard"]}) == []  # no MC dropout


def _family_inputs():
    x_train = np.array([[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 2.0, 5.0]], np.float32)  # training sds 1, 1, 0, 1
    test = Split(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], np.float32), np.array([0.0, 1.0]))
    data = SimpleNamespace(splits={"train": Split(x_train, np.zeros(2))}, schema=SimpleNamespace(name="toy"))
    params = SimpleNamespace(trust=SimpleNamespace(shift_intensities=(0.0, 0.5, 2.0), rotation_angles=(0.0, 90.0)),
                             data=SimpleNamespace(seed=3))
    return data, test, params


def test_shift_family_at_intensity_zero_is_the_test_set():
    data, test, params = _family_inputs()
    noise = shift_family(data, test, params, "noise")
    assert [a for a, _ in noise] == [0.0, 0.5, 2.0]
    assert noise[0][1] is test.x  # intensity 0: the test inputs themselves
    # intensity i-th: noise of seed data.seed + 11 + i
    np.testing.assert_array_equal(noise[1][1], shift.noisy_inputs(data.splits["train"].x, test.x, 0.5, seed=15))
    np.testing.assert_array_equal(noise[2][1], shift.noisy_inputs(data.splits["train"].x, test.x, 2.0, seed=16))
    assert not np.array_equal(noise[1][1], test.x)
    rotation = shift_family(data, test, params, "rotation")  # 4 features: 2 x 2 images
    assert [a for a, _ in rotation] == [0.0, 90.0] and rotation[0][1] is test.x
    np.testing.assert_allclose(rotation[1][1], [[2.0, 4.0, 1.0, 3.0], [6.0, 8.0, 5.0, 7.0]], atol=1e-5)
    three = SimpleNamespace(splits={"train": Split(data.splits["train"].x[:, :3], np.zeros(2))},
                            schema=SimpleNamespace(name="toy"))
    with pytest.raises(DataError, match="datasets.toy.shift = rotation: rotation needs square images"):
        shift_family(three, Split(test.x[:, :3], test.y), params, "rotation")


def test_shift_curve_at_intensity_zero_equals_the_test_scores():
    # the fake MC prediction's mean is the first input: moved by +1, the errors y - mean become e - 1
    family = [(0.0, TEST.x), (1.0, TEST.x + np.array([1.0, 0.0]))]
    row = evaluate_method(Regression(), Method("m", _fake_mc, 1.0, True), SimpleNamespace(splits={"val": VAL}),
                          TEST, SHIFT, family, timed=False)
    assert row["predict_ms_per_1000"] is None  # not timed
    zero, one = row["shift_curve"]
    assert zero == {"intensity": 0.0, **row["in_distribution"]}
    # errors 0, -7, 1, -13, -0.5 with std 3, 4, 5, 6, 3: z = 0, 1.75, 0.2, 2.17, 0.17, one outside 1.96
    assert one["intensity"] == 1.0
    assert one["error"] == pytest.approx(math.sqrt((0 + 49 + 1 + 169 + 0.25) / 5))
    assert one["coverage_95"] == pytest.approx(0.8)
    shifted_mean = TEST.x[:, 0] + 1
    assert one["nll"] == pytest.approx(_mixture_nll(TEST.y, shifted_mean, TEST.x[:, 1]))


def test_an_ensemble_is_scored_beside_its_first_member():
    single = Method("ens", _fake_mc, 1.0, True, single_member=_fake_standard)
    row = evaluate_method(Regression(), single, SimpleNamespace(splits={"val": VAL}), TEST, SHIFT, timed=False)
    assert row["single_member"]["error"] == pytest.approx(row["in_distribution"]["error"])  # the same means
    assert row["single_member"]["nll"] == pytest.approx(-np.mean(norm.logpdf(TEST.y, TEST.x[:, 0], NOISE)))
    assert set(row["single_member"]) == {"error", "nll", "coverage_95"}


def test_paired_comparisons_without_a_shift_family():
    run = {"in_distribution": _scores(1.0, 1.0, 0.95), "shifted": None, "shift_curve": []}
    out = trust_module._comparisons(Regression(), {"mc_dropout": [run, run], "standard": [run, run]})
    assert {r["part"] for r in out} == {"in_distribution"}


def test_over_repeats_when_a_repeat_lacks_a_key():
    """_ood leaves out an uncertainty that does not vary on one repeat (MC dropout at p = 0: mutual information is
    rounding noise): the others still combine, and the missing one counts only the repeats that have it."""
    out = over_repeats([{"ood_auroc": {"entropy": 0.6, "mutual_info": 0.7}}, {"ood_auroc": {"entropy": 0.8}}])
    assert out["ood_auroc"]["entropy"] == {"mean": pytest.approx(0.7), "se": pytest.approx(0.1), "n": 2}
    assert out["ood_auroc"]["mutual_info"] == {"mean": pytest.approx(0.7), "se": None, "n": 1}
