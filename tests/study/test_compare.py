import json

import numpy as np
import pytest
import torch

from mcdropout.core.config import from_dict, to_dict
from mcdropout.data.datasets import build_dataset, load_dataset, write_dataset
from mcdropout.inference.evaluation import evaluate_model
from mcdropout.nn.members import Member
from mcdropout.study.compare import compare_members, comparison_rows, learned_against_swept, run_compare
from mcdropout.study.sweep import evaluate_sweep, run_sweep
from mcdropout.training.routine import early_stopping
from mcdropout.training.train import fit_members


def test_early_stopping_rule_hand_values():
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.9, 3.0]
    assert early_stopping(losses, patience=2) == (2, 4)  # epochs 3 and 4 no better than 3.0 at epoch 2
    assert early_stopping(losses, patience=4) == (6, 7)  # 2.9 at epoch 6 comes in time; never stops
    assert early_stopping([1.0, 1.0, 1.0], patience=2) == (0, 2)  # equal is not better
    assert early_stopping([3.0, 2.0, 1.0], patience=1) == (2, 2)


def test_stacked_early_stopping_follows_the_rule_and_keeps_best_weights(tiny_params):
    params = tiny_params.override(**{"compare.patience": 10, "model.hidden": [32, 32]}).with_epochs(150)
    splits = build_dataset("regression", params).splits
    members = [Member(0.0, 0, early_stopping=True), Member(0.2, 1), Member(0.0, 2, early_stopping=True)]
    fit = fit_members("regression", splits, members, params, progress=False)
    assert fit.stop_epoch[1] == -1 and fit.best_epoch[1] == -1
    for i in (0, 2):
        best, stop = early_stopping(fit.history[:, 1, i].tolist(), 10)
        assert (fit.best_epoch[i], fit.stop_epoch[i]) == (best, stop)
        # the returned weights are those of the best epoch: their val MSE is the history's
        with torch.no_grad():
            out = fit.models[i](torch.from_numpy(splits["val"].x).float())[:, 0].numpy()
        mse = float(np.mean((out - splits["val"].y) ** 2))
        assert mse == pytest.approx(fit.history[best, 1, i], rel=1e-4)
    assert min(fit.stop_epoch[0], fit.stop_epoch[2]) < 149, fit.stop_epoch  # an actual stop happens


def test_run_compare_outputs(tiny_params):
    params = tiny_params.override(**{"compare.l2": [1e-4, 1e-2], "sweep.seeds": [0, 1], "sweep.p": [0.0, 0.5],
                                     "compare.patience": 5})
    names = ["concrete_seed0", "concrete_seed1", "l2_0.0001_seed0", "l2_0.0001_seed1", "l2_0.01_seed0",
             "l2_0.01_seed1", "early_stopping_seed0", "early_stopping_seed1", "p0.5_l2_0.0001_seed0",
             "p0.5_l2_0.0001_seed1", "p0.5_l2_0.01_seed0", "p0.5_l2_0.01_seed1"]
    assert [m.name for m in compare_members(params)] == names
    raw = to_dict(params)
    raw["compare"]["dropout_l2_p"] = None  # null in params.yaml leaves dropout + L2 out
    assert len(compare_members(from_dict(raw))) == 8
    write_dataset("regression", params)
    result = run_compare(params, "regression", progress=False)
    m = result.metrics
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(f"{n}.pt" for n in names)
    for kind, key in (("l2", "best_l2"), ("dropout+l2", "best_dropout_l2")):
        val = {v: np.mean([r["standard"]["val"]["rmse"] ** 2 for r in m["runs"] if r["l2"] == v
                           and r["method"] == kind]) for v in (1e-4, 1e-2)}
        assert m[key] == min(val, key=val.get)
    assert len(m["learned_p"]["mean"]) == 2 and all(0 < p < 1 for p in m["learned_p"]["mean"])
    concrete = [r for r in m["runs"] if r["method"] == "concrete"]
    assert all(len(r["learned_p"]) == 2 for r in concrete)
    early = [r for r in m["runs"] if r["method"] == "early_stopping"]
    assert all(0 <= r["best_epoch"] <= r["stop_epoch"] <= 29 for r in early)
    json.dumps(m)  # plain JSON

    sweep = run_sweep(params, "regression", progress=False)
    sweep_metrics = evaluate_sweep(params, "regression", sweep.folder, progress=False)
    rows = comparison_rows(sweep_metrics, m)
    assert [r["method"] for r in rows] == ["no regularisation", "dropout (sweep)", "Concrete dropout",
                                           "L2 weight decay, no dropout", "dropout + L2",
                                           "early stopping, no dropout"]
    concrete_row = rows[2]
    expected = np.mean([r["mc"]["test"]["nll"] for r in concrete])
    assert concrete_row["test_nll"] == pytest.approx(expected)
    assert concrete_row["gap"] == pytest.approx(concrete_row["test_error"] - concrete_row["train_error"])
    assert [r["has_uncertainty"] for r in rows] == [False, sweep_metrics["best_p"] > 0, True, False, True, False]
    swept, learned = learned_against_swept(sweep_metrics, m)
    assert learned["member"].startswith("Concrete, learned p = ")
    for mode in ("standard", "mc"):
        assert learned[f"{mode}_test_nll"] == pytest.approx(np.mean([r[mode]["test"]["nll"] for r in concrete]))
    best = [r for r in sweep_metrics["runs"] if r["p"] == sweep_metrics["best_p"]]
    assert swept["standard_test_coverage_95"] == pytest.approx(np.mean([r["standard"]["test"]["coverage_95"]
                                                                        for r in best]))


def test_concrete_model_option_single_run(tiny_params):
    from mcdropout.study.experiment import run_single

    params = tiny_params.override(**{"model.dropout": "concrete", "model.concrete.init_p": 0.3})
    write_dataset("classification", params)
    outcome = run_single(params, "classification", progress=False)
    assert outcome.checkpoint.name == "concrete_seed0.pt"
    assert len(outcome.model.learned_p) == 2 and outcome.meta.p_history.shape == (30, 2)
    assert outcome.meta.p_history[0].tolist() == pytest.approx([0.3, 0.3], abs=0.01)
    splits = load_dataset("classification", params.data.dir).splits
    again = evaluate_model(outcome.model, "classification", splits, 20, 0)
    assert again["mc"]["test"]["nll"] == pytest.approx(outcome.evaluation["mc"]["test"]["nll"])
