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
from mcdropout.study.compare import compare_members, ensemble_members, run_compare
from mcdropout.study.experiment import train_group
from mcdropout.study.sweep import evaluate_sweep, run_sweep
from mcdropout.study.trust import Method, evaluate_method, run_trust, shifted_set, summary


@pytest.fixture
def study(tiny_params):
    return tiny_params.override(**{"sweep.p": [0.0, 0.3], "sweep.seeds": [0, 1], "trust.ensemble_size": 3,
                                   "trust.shift_points": 40, "compare.l2": [1e-3], "compare.dropout_l2_p": None})


def _prepare(params, dataset: str, compare: bool = False) -> None:
    write_dataset(dataset, params)
    result = run_sweep(params, dataset, progress=False)
    write_json(Paths.of(params).metrics_json(dataset), evaluate_sweep(params, dataset, result.folder, progress=False))
    if compare:  # the comparison, and the deep ensemble in the same fit
        run_compare(params, dataset, progress=False)
    else:  # the deep ensemble alone
        train_group(params, dataset, ensemble_members(params), Paths.of(params).ensemble_dir(dataset), "ensemble",
                    evaluate=False, progress=False)


def test_regression_methods_shift_and_recalibration(study):
    _prepare(study, "regression", compare=True)
    trust = run_trust(study, "regression", progress=False)
    names = [m["name"] for m in trust["methods"]]
    assert names == ["standard", "mc_dropout", "deep_ensemble", "concrete"]
    assert trust["shift"]["labeled"] and trust["shift"]["n"] == 40 and trust["shift"]["n_in_distribution"] == 50
    by = {m["name"]: m for m in trust["methods"]}
    assert by["standard"]["ood_auroc"] is None and by["standard"]["selective"] is None  # constant noise: no rank
    for name in ("deep_ensemble", "concrete"):
        auroc = by[name]["ood_auroc"]["std"]
        assert 0 <= auroc <= 1 and 0 <= by[name]["ood_auroc"]["std_fpr95"] <= 1
        assert set(by[name]["selective"]) == {"drop_10", "drop_20", "drop_50", "aurc"}
    for m in trust["methods"]:
        assert set(m["in_distribution"]) == {"error", "nll", "coverage_95"}
        assert 0 <= m["recalibrated"]["coverage_95"] <= 1 and m["recalibrated"]["conformal_q"] > 0
        assert m["predict_ms_per_1000"] > 0 and m["train_seconds"] > 0
    # the ensemble: trust.ensemble_size networks without dropout, trained in the comparison's batched model
    folder = Paths.of(study).ensemble_dir("regression")
    metas = [load_checkpoint(p)[1] for p in sorted(folder.glob("*.pt"))]
    assert [(m.p, m.seed) for m in metas] == [(0.0, 0), (0.0, 1), (0.0, 2)]
    compared = len(compare_members(study))
    assert {m.fit_members for m in metas} == {compared + 3} and len({m.fit_seconds for m in metas}) == 1
    assert by["deep_ensemble"]["train_seconds"] == pytest.approx(3 * metas[0].fit_seconds / (compared + 3))
    json.dumps(trust)  # plain data
    assert set(summary(trust)) == {f"nll_{n}" for n in names if n != "standard"}
    assert "deep_ensemble" in trust_table(trust)
    said = " ".join(trust_findings(trust))
    assert f"{by['deep_ensemble']['in_distribution']['nll']:.4f}" in said and "Split-conformal" in said


def test_moons_shift_has_no_labels_and_ranks_by_entropy_and_mi(study):
    _prepare(study, "classification")
    trust = run_trust(study, "classification", progress=False)
    assert not trust["shift"]["labeled"] and "away from both moons" in trust["shift"]["rule"]
    by = {m["name"]: m for m in trust["methods"]}
    assert by["mc_dropout"]["shifted"] is None
    assert set(by["deep_ensemble"]["ood_auroc"]) >= {"entropy", "mutual_info"}
    assert set(by["standard"]["ood_auroc"]) == {"entropy", "entropy_fpr95"}  # one net: no mutual information
    assert {"temperature", "nll_before", "nll_after"} <= set(by["mc_dropout"]["recalibrated"])


def test_real_data_shift_is_the_farthest_test_points(study):
    _prepare(study, "wine")
    trust = run_trust(study, "wine", progress=False)
    total = trust["shift"]["n"] + trust["shift"]["n_in_distribution"]
    assert trust["shift"]["labeled"] and trust["shift"]["n"] == round(0.2 * total)
    assert all(m["shifted"] is not None for m in trust["methods"])


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
    assert row["name"] == "mc_dropout" and row["train_seconds"] == 12.5 and row["predict_ms_per_1000"] > 0
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


def test_trust_regression_standard_has_no_rank_and_unlabeled_shift():
    method = Method("standard", _fake_standard, 1.0, has_uncertainty=False)
    row = evaluate_method(Regression(), method, SimpleNamespace(splits={"val": VAL}), TEST, (SHIFT[0], None, "r"))
    assert row["ood_auroc"] is None and row["selective"] is None and row["curves"] is None
    assert row["shifted"] is None
    assert row["in_distribution"]["nll"] == pytest.approx(-np.mean(norm.logpdf(TEST.y, TEST.x[:, 0], NOISE)))
    assert set(row["recalibrated"]) == {"variance_scale", "conformal_q", "coverage_95", "scaled_coverage_95",
                                        "raw_coverage_95"}  # no shifted labels: no shifted coverage
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
    assert set(recal) == {"temperature", "nll_before", "nll_after", "ece_before", "ece_after"}


def test_summary_is_each_methods_rounded_test_nll_in_flat_keys():
    trust = {"methods": [
        {"name": "mc_dropout", "in_distribution": {"error": 0.1234567, "nll": 1.0000049, "coverage_95": 0.95},
         "ood_auroc": {"std": 0.876543, "std_fpr95": 0.5}},
        {"name": "standard", "in_distribution": {"error": 0.2, "nll": 2.0, "coverage_95": 0.9}, "ood_auroc": None},
        {"name": "deep_ensemble", "in_distribution": {"error": 0.2, "nll": 0.123456, "coverage_95": 0.9},
         "ood_auroc": None}]}
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
    # 0.1 s already gone after the third call (the bound itself ends the loop): 3 calls, the last reading 0.4 s
    monkeypatch.setattr(trust_module, "time", clock_of([0.0, 0.1, 0.4]))
    assert trust_module._timed_ms_per_1000(calls.append, x) == pytest.approx(0.4 / 3 / 4 * 1e6)
    assert len(calls) == 3 and all(c is x for c in calls)
    # fast calls: six, until 0.1 s has passed (a clock that does not start at 0)
    calls.clear()
    monkeypatch.setattr(trust_module, "time", clock_of([1.0, 1.02, 1.05, 1.099, 1.125, 1.25]))
    assert trust_module._timed_ms_per_1000(calls.append, x) == pytest.approx(0.25 / 6 / 4 * 1e6)
    assert len(calls) == 6


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
    assert set(row["recalibrated"]) == {"temperature", "nll_before", "nll_after", "ece_before", "ece_after"}


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
