"""The trust comparison on tiny trained models: methods, shift rules per kind of data, the ensemble as one fit."""

import json

import pytest

from mcdropout.checkpoint import load_checkpoint
from mcdropout.compare import compare_members, ensemble_members, run_compare
from mcdropout.console import trust_table
from mcdropout.data import write_dataset
from mcdropout.experiment import train_group
from mcdropout.io import write_json
from mcdropout.paths import Paths
from mcdropout.report.trust import trust_findings
from mcdropout.sweep import evaluate_sweep, run_sweep
from mcdropout.trust import run_trust, summary


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
    assert set(summary(trust)) == set(names)
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
