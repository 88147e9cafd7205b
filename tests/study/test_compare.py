import json

import numpy as np
import pytest
import torch

from mcdropout.core.config import from_dict, to_dict
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import DataError, build_dataset, load_dataset, write_dataset
from mcdropout.inference.evaluation import evaluate_model
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study.compare import (
    compare_members,
    comparison_rows,
    deep_ensemble_choice,
    ensemble_members,
    ensemble_seeds,
    learned_against_swept,
    run_compare,
    without_l2,
)
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
                                     "compare.patience": 5, "trust.ensemble_size": 2})
    names = ["concrete_seed0", "concrete_seed1", "l2_0.0001_seed0", "l2_0.0001_seed1", "l2_0.01_seed0",
             "l2_0.01_seed1", "early_stopping_seed0", "early_stopping_seed1", "p0.5_l2_0.0001_seed0",
             "p0.5_l2_0.0001_seed1", "p0.5_l2_0.01_seed0", "p0.5_l2_0.01_seed1"]
    members = compare_members(params)
    assert [m.name for m in members] == names
    assert [m.split for m in members] == [0, 1] * 6  # the i-th seed on repeat i's data, as in the sweep
    raw = to_dict(params)
    raw["compare"]["dropout_l2_p"] = None  # null in params.yaml leaves dropout + L2 out
    assert len(compare_members(from_dict(raw))) == 8
    write_dataset("regression", params)
    with pytest.raises(DataError, match="metrics.json: missing; run `mcdropout sweep --dataset regression` first"):
        run_compare(params, "regression", progress=False)  # λ = 0 and the ensembles' p come from the sweep
    sweep = run_sweep(params, "regression", progress=False)
    sweep_metrics = evaluate_sweep(params, "regression", sweep.folder, progress=False)
    write_json(Paths.of(params).metrics_json("regression"), sweep_metrics)
    result = run_compare(params, "regression", progress=False)
    m = result.metrics
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(f"{n}.pt" for n in names)
    # each L2 grid starts at λ = 0, the sweep's members of the same p; chosen by seed-mean validation NLL (dropout
    # off for the L2 grid, the sweep's inference for dropout + L2)
    for kind, key, p, mode in (("l2", "best_l2", 0.0, "standard"), ("dropout+l2", "best_dropout_l2", 0.5, "mc")):
        val = {v: np.mean([r[mode]["val"]["nll"] for r in m["runs"] if r["l2"] == v and r["method"] == kind])
               for v in (1e-4, 1e-2)}
        val[0.0] = np.mean([r[mode]["val"]["nll"] for r in sweep_metrics["runs"] if r["p"] == p])
        assert m[key] == min(val, key=val.get)
        chosen = m["selection"]["dropout_l2" if kind == "dropout+l2" else "l2"]
        assert chosen["best_l2"] == m[key] and chosen["inference"] == mode
        assert [c["l2"] for c in chosen["curve"]] == [0.0, 1e-4, 1e-2]
        assert [c["mean"] for c in chosen["curve"]] == pytest.approx([val[0.0], val[1e-4], val[1e-2]])
        assert [c["n"] for c in chosen["curve"]] == [2, 2, 2]
        assert chosen["at_grid_edge"] == (m[key] == 1e-2)  # λ = 0 is the natural bound, 0.01 the grid's end
    assert len(m["learned_p"]["mean"]) == 2 and all(0 < p < 1 for p in m["learned_p"]["mean"])
    concrete = [r for r in m["runs"] if r["method"] == "concrete"]
    assert all(len(r["learned_p"]) == 2 for r in concrete)
    assert [(r["seed"], r["split"]) for r in concrete] == [(0, 0), (1, 1)]
    early = [r for r in m["runs"] if r["method"] == "early_stopping"]
    assert all(0 <= r["best_epoch"] <= r["stop_epoch"] <= 29 for r in early)
    stopping = m["selection"]["early_stopping"]
    assert (stopping["patience"], stopping["epochs"], stopping["n"]) == (5, 30, 2)
    assert stopping["kept_epoch"]["mean"] == pytest.approx(np.mean([r["best_epoch"] + 1 for r in early]))
    assert stopping["never_stopped"] == sum(r["stop_epoch"] == 29 for r in early)
    # the ensembles: the deep ensemble of the best non-dropout setting, the MC-dropout ensemble at the sweep's p
    ensembles = m["ensembles"]
    assert ensembles["size"] == 2
    deep = ensembles["deep_ensemble"]
    assert deep["config"] == deep_ensemble_choice(m["runs"], sweep_metrics["runs"])["config"]
    assert [c["setting"] for c in deep["curve"]] == ["l2 0", "l2 0.0001", "l2 0.01", "early stopping"]
    assert ensembles["mc_dropout_ensemble"]["config"] == {"p": sweep_metrics["best_p"]}
    best_p = sweep_metrics["best_p"]
    assert ensembles["mc_dropout_ensemble"]["members"] == {
        "0": [f"p{best_p:g}_seed10000", f"p{best_p:g}_seed10001"],
        "1": [f"p{best_p:g}_seed10002", f"p{best_p:g}_seed10003"]}
    assert set(deep["members"]) == {"0", "1"} and [len(v) for v in deep["members"].values()] == [2, 2]
    saved = {p.stem: load_checkpoint(p)[1] for p in result.ensemble_folder.glob("*.pt")}
    named = {n for e in ("deep_ensemble", "mc_dropout_ensemble") for ms in ensembles[e]["members"].values() for n in ms}
    assert set(saved) == named
    for e in ("deep_ensemble", "mc_dropout_ensemble"):
        for seed, split in (("0", 0), ("1", 1)):
            assert {saved[n].split for n in ensembles[e]["members"][seed]} == {split}
    # a fit of its own: 2 ensembles x 2 repeats x 2 members, each network once (both ensembles are the same
    # networks when the deep ensemble's choice is λ = 0 and the sweep's p is 0)
    unique = {n for e in ("deep_ensemble", "mc_dropout_ensemble") for names in ensembles[e]["members"].values()
              for n in names}
    assert {meta.fit_members for meta in saved.values()} == {len(unique)}
    same = deep["config"] == {"method": "l2", "l2": 0.0} and best_p == 0
    assert len(unique) == (4 if same else 8)
    assert {saved[n].p for n in ensembles["mc_dropout_ensemble"]["members"]["0"]} == {best_p}
    assert result.ensemble.stack_size == len(unique)
    json.dumps(m)  # plain JSON

    rows = comparison_rows(sweep_metrics, m)
    assert [r["method"] for r in rows] == ["no regularisation", "dropout (sweep)", "Concrete dropout",
                                           "L2 weight decay, no dropout", "dropout + L2",
                                           "early stopping, no dropout"]
    concrete_row = rows[2]
    nll = [r["mc"]["test"]["nll"] for r in concrete]
    assert concrete_row["test_nll"] == pytest.approx(np.mean(nll))
    assert concrete_row["test_nll_se"] == pytest.approx(np.std(nll, ddof=1) / np.sqrt(2))
    errors = [r["standard"]["test"]["rmse"] for r in concrete]
    assert concrete_row["test_error"] == pytest.approx(np.mean(errors))
    assert concrete_row["test_error_se"] == pytest.approx(abs(errors[0] - errors[1]) / 2)
    assert concrete_row["gap"] == pytest.approx(concrete_row["test_error"] - concrete_row["train_error"])
    # paired with the sweep's selected dropout, seed by seed
    reference = {r["seed"]: r["mc"]["test"]["nll"] for r in sweep_metrics["runs"] if r["p"] == best_p}
    diffs = [r["mc"]["test"]["nll"] - reference[r["seed"]] for r in concrete]
    vs = concrete_row["nll_vs_selected_dropout"]
    assert vs["diff"] == pytest.approx(np.mean(diffs)) and vs["n"] == 2
    assert vs["se"] == pytest.approx(abs(diffs[0] - diffs[1]) / 2)
    assert vs["verdict"] in ("better", "worse", "no clear difference")
    if best_p > 0:  # the selected dropout against itself: no difference
        assert rows[1]["nll_vs_selected_dropout"] == {"diff": 0.0, "se": 0.0, "n": 2,
                                                      "verdict": "no clear difference"}
    assert [r["has_uncertainty"] for r in rows] == [False, sweep_metrics["best_p"] > 0, True, False, True, False]
    swept, learned = learned_against_swept(sweep_metrics, m)
    assert learned["member"].startswith("Concrete, learned p = ")
    for mode in ("standard", "mc"):
        assert learned[f"{mode}_test_nll"] == pytest.approx(np.mean([r[mode]["test"]["nll"] for r in concrete]))
    best = [r for r in sweep_metrics["runs"] if r["p"] == sweep_metrics["best_p"]]
    assert swept["standard_test_coverage_95"] == pytest.approx(np.mean([r["standard"]["test"]["coverage_95"]
                                                                        for r in best]))


# --- the λ = 0 point and the deep ensemble's choice, on hand-made evaluations --------------------------------


def _run(method, p, l2, seed, standard_val_nll, mc_val_nll=9.0, split=None):
    return {"method": method, "p": p, "l2": l2, "seed": seed, "split": seed if split is None else split,
            "standard": {"val": {"nll": standard_val_nll}}, "mc": {"val": {"nll": mc_val_nll}}}


SWEEP_RUNS = [_run("none", 0.0, 0.0, 0, 1.0), _run("none", 0.0, 0.0, 1, 1.4),
              _run("dropout", 0.5, 0.0, 0, 0.9, 0.7), _run("dropout", 0.5, 0.0, 1, 1.1, 0.8)]


def test_without_l2_is_the_sweeps_member_of_the_same_p():
    zero = without_l2(SWEEP_RUNS, 0.0)
    assert [(r["method"], r["p"], r["l2"], r["seed"], r["split"]) for r in zero] == [("l2", 0.0, 0.0, 0, 0),
                                                                                    ("l2", 0.0, 0.0, 1, 1)]
    assert zero[1]["standard"] is SWEEP_RUNS[1]["standard"]  # the sweep's evaluation, not a new one
    half = without_l2(SWEEP_RUNS, 0.5)
    assert [(r["method"], r["p"], r["l2"]) for r in half] == [("dropout+l2", 0.5, 0.0)] * 2
    assert [r["mc"]["val"]["nll"] for r in half] == [0.7, 0.8]
    assert without_l2(SWEEP_RUNS, None) == [] and without_l2(SWEEP_RUNS, 0.3) == []  # no dropout + L2, no such p
    assert SWEEP_RUNS[0]["method"] == "none" and SWEEP_RUNS[0]["l2"] == 0.0  # the sweep's runs are left as they were


def test_deep_ensemble_choice_hand_values():
    # standard validation NLL, seeds 0 and 1: no regularisation 1.0, 1.4 (1.2); λ = 0.001: 0.8, 1.0 (0.9);
    # λ = 0.1: 1.1, 1.1; early stopping: 0.95, 0.95; Concrete and dropout + L2 (lower still) are not candidates
    runs = [_run("l2", 0.0, 1e-3, 0, 0.8), _run("l2", 0.0, 1e-3, 1, 1.0), _run("l2", 0.0, 0.1, 0, 1.1),
            _run("l2", 0.0, 0.1, 1, 1.1), _run("early_stopping", 0.0, 0.0, 0, 0.95),
            _run("early_stopping", 0.0, 0.0, 1, 0.95), _run("concrete", 0.1, 0.0, 0, 0.1),
            _run("dropout+l2", 0.5, 1e-3, 0, 0.1)]
    out = deep_ensemble_choice(runs, SWEEP_RUNS)
    assert out["config"] == {"method": "l2", "l2": 1e-3}
    assert out["selected_by"].startswith("lowest seed-mean validation NLL with dropout off")
    curve = {c["setting"]: c for c in out["curve"]}
    assert list(curve) == ["l2 0", "l2 0.001", "l2 0.1", "early stopping"]  # in the order seen
    assert [curve[k]["mean"] for k in curve] == pytest.approx([1.2, 0.9, 1.1, 0.95])
    assert [curve[k]["se"] for k in curve] == pytest.approx([0.2, 0.1, 0.0, 0.0], abs=1e-12)
    assert {c["n"] for c in out["curve"]} == {2}
    # early stopping best
    stop = [{**r, "standard": {"val": {"nll": 0.5}}} if r["method"] == "early_stopping" else r for r in runs]
    assert deep_ensemble_choice(stop, SWEEP_RUNS)["config"] == {"method": "early_stopping"}
    # no regularisation best: λ = 0 from the sweep
    low = [{**r, "standard": {"val": {"nll": 0.1}}} for r in SWEEP_RUNS]
    assert deep_ensemble_choice(runs, low)["config"] == {"method": "l2", "l2": 0.0}
    # a tie goes to the setting seen first (the sweep's λ = 0 comes first)
    tie = [_run("l2", 0.0, 1e-3, 0, 1.2), _run("early_stopping", 0.0, 0.0, 0, 1.2)]
    assert deep_ensemble_choice(tie, SWEEP_RUNS)["config"] == {"method": "l2", "l2": 0.0}
    assert deep_ensemble_choice(tie)["config"] == {"method": "l2", "l2": 1e-3}  # without the sweep's runs
    with pytest.raises(DataError, match="the deep ensemble needs L2 or early-stopping members"):
        deep_ensemble_choice([_run("concrete", 0.1, 0.0, 0, 0.1)])


def test_ensemble_members_and_their_seeds(tiny_params):
    params = tiny_params.override(**{"sweep.seeds": [0, 3], "trust.ensemble_size": 3})
    assert ensemble_seeds(params, 0) == [10000, 10001, 10002] and ensemble_seeds(params, 3) == [10009, 10010, 10011]
    by = ensemble_members(params, {"method": "l2", "l2": 0.01}, 0.3)
    assert list(by) == ["deep_ensemble", "mc_dropout_ensemble"] and list(by["deep_ensemble"]) == [0, 3]
    assert [m.name for m in by["deep_ensemble"][3]] == ["l2_0.01_seed10009", "l2_0.01_seed10010", "l2_0.01_seed10011"]
    assert [m.name for m in by["mc_dropout_ensemble"][0]] == ["p0.3_seed10000", "p0.3_seed10001", "p0.3_seed10002"]
    assert {m.split for m in by["deep_ensemble"][3]} == {1} and {m.split for m in by["mc_dropout_ensemble"][0]} == {0}
    stop = ensemble_members(params, {"method": "early_stopping"}, 0.3)["deep_ensemble"][0]
    assert [(m.p, m.l2, m.early_stopping) for m in stop] == [(0.0, 0.0, True)] * 3
    assert [m.name for m in stop] == ["early_stopping_seed10000", "early_stopping_seed10001",
                                      "early_stopping_seed10002"]


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
