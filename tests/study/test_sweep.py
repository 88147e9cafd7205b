import json

import numpy as np
import pytest

from mcdropout.core.config import Params
from mcdropout.data.datasets import build_dataset, write_dataset
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study.sweep import dvc_metrics, evaluate_sweep, run_sweep, summary_by_p
from mcdropout.training.train import fit_members


def test_batched_member_equals_single_run(tiny_params):
    """With p=0 (no RNG involved) a member of a batched sweep follows the single run exactly."""
    params = tiny_params.with_epochs(40)
    splits = build_dataset("regression", params).splits
    single = fit_members("regression", splits, [Member(0.0, 1)], params, progress=False)
    batched = fit_members("regression", splits, [Member(0.5, 0), Member(0.0, 1), Member(0.3, 2)], params,
                          progress=False)
    np.testing.assert_allclose(batched.history[:, :, 1], single.history[:, :, 0], rtol=1e-5, atol=1e-7)
    for a, b in zip(batched.models[1].parameters(), single.models[0].parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_sweep_checkpoints_and_metrics(tiny_params):
    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1]})
    write_dataset("classification", params)
    result = run_sweep(params, "classification", progress=False)
    names = sorted(p.name for p in result.folder.iterdir())
    assert names == ["p0.5_seed0.pt", "p0.5_seed1.pt", "p0_seed0.pt", "p0_seed1.pt"]
    model, meta = load_checkpoint(result.folder / "p0.5_seed1.pt")
    assert meta.p == 0.5 and meta.history.shape == (30, 4)
    metrics = evaluate_sweep(params, "classification", result.folder, progress=False)
    assert metrics["task"] == "classification" and metrics["mc_samples"] == 20
    assert [(r["p"], r["seed"], r["split"]) for r in metrics["runs"]] == [(0.0, 0, 0), (0.0, 1, 1), (0.5, 0, 0),
                                                                           (0.5, 1, 1)]
    assert [load_checkpoint(result.folder / r["checkpoint"])[1].split for r in metrics["runs"]] == [0, 1, 0, 1]
    for run in metrics["runs"]:
        for mode in ("standard", "mc"):
            assert {"accuracy", "nll", "brier", "ece"} <= set(run[mode]["test"])
    # best_p minimises the seed-mean validation NLL of the inference sweep.select names (MC dropout by default)
    val = {mode: {p: np.mean([r[mode]["val"]["nll"] for r in metrics["runs"] if r["p"] == p]) for p in (0.0, 0.5)}
           for mode in ("mc", "standard")}
    assert params.sweep.select == "mc" and metrics["best_p"] == min(val["mc"], key=val["mc"].get)
    assert metrics["best_p_by_inference"] == {mode: min(v, key=v.get) for mode, v in val.items()}
    selection = metrics["selection"]
    assert selection["inference"] == "mc" and selection["best_p"] == metrics["best_p"]
    assert selection["criterion"] == "lowest seed-mean validation NLL with MC dropout"
    assert [(c["p"], c["n"]) for c in selection["curve"]] == [(0.0, 2), (0.5, 2)]
    assert [c["mean"] for c in selection["curve"]] == pytest.approx([val["mc"][0.0], val["mc"][0.5]])
    assert selection["at_grid_edge"] == (metrics["best_p"] == 0.5)  # p = 0 is the natural bound, 0.5 the end
    standard = evaluate_sweep(params.override(**{"sweep.select": "standard"}), "classification", result.folder,
                              progress=False)
    assert standard["best_p"] == metrics["best_p_by_inference"]["standard"]
    assert standard["selection"]["inference"] == "standard"
    json.dumps(metrics)  # serialisable as written
    # dvc metrics show: three flat keys, the seed means at the selected p (each method's NLL is trust_summary's)
    best = [r for r in metrics["runs"] if r["p"] == metrics["best_p"]]
    assert dvc_metrics(metrics) == {
        "best_p": metrics["best_p"],
        "test_accuracy": round(np.mean([r["standard"]["test"]["accuracy"] for r in best]), 5),
        "mc_test_accuracy": round(np.mean([r["mc"]["test"]["accuracy"] for r in best]), 5)}
    # A second sweep with fewer members replaces the folder whole: no stale members.
    run_sweep(params.override(**{"sweep.p": [0.2]}), "classification", progress=False)
    assert sorted(p.name for p in result.folder.iterdir()) == ["p0.2_seed0.pt", "p0.2_seed1.pt"]


def test_reference_result_default_regression_sweep(workdir):
    """Default params: dropout helps, then hurts; train error rises with p; p >= 0.75 underfits."""
    params = Params().override(**{"mlflow.enabled": False})  # the science, not the tracking (tested apart)
    write_dataset("regression", params)
    result = run_sweep(params, "regression", progress=False)
    metrics = evaluate_sweep(params, "regression", result.folder, progress=False)
    rows = {r["p"]: r for r in summary_by_p(metrics)}
    noise = params.data.regression.noise
    best = metrics["best_p"]
    assert 0 < best < 0.75
    assert rows[best]["standard_test_rmse"] < rows[0.0]["standard_test_rmse"]
    train = [rows[p]["standard_train_rmse"] for p in sorted(rows)]
    assert all(b > a for a, b in zip(train, train[1:])), train
    assert rows[0.0]["standard_train_rmse"] < 0.5 * noise
    for p in (0.75, 0.9):
        assert rows[p]["standard_train_rmse"] > noise


@pytest.mark.slow
def test_default_classification_sweep_overfits_at_p0(workdir):
    params = Params()
    write_dataset("classification", params)
    result = run_sweep(params, "classification", progress=False)
    metrics = evaluate_sweep(params, "classification", result.folder, False)
    rows = {r["p"]: r for r in summary_by_p(metrics)}
    # 500 epochs (p = 0's validation NLL is lowest near epoch 55): p = 0 fits the training points closely and
    # generalises worse than they suggest, and worse than some p > 0
    assert rows[0.0]["standard_train_accuracy"] > 0.97
    assert rows[0.0]["standard_train_accuracy"] > rows[0.0]["standard_test_accuracy"]
    assert max(r["standard_test_accuracy"] for r in rows.values()) > rows[0.0]["standard_test_accuracy"]
    assert metrics["best_p"] > 0 and rows[metrics["best_p"]]["mc_val_nll"] < rows[0.0]["mc_val_nll"]
