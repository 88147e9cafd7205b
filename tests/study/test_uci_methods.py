"""mcdropout.study.uci_methods: deep ensembles and Concrete dropout on the UCI splits: the scores against hand
values, the batched ensembles choosing as each split alone, Concrete dropout on a tiny folder."""

import math

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.data.sources import load_uci
from mcdropout.nn.model import MLP
from mcdropout.study import uci_methods
from mcdropout.study.uci_methods import ensemble_grid, ensemble_scores, run_concrete_splits, run_ensemble_splits
from uci_files import tiny_uci

PARAMS = Params().override(**{"mlflow.enabled": False})


def _constant(mean: float, raw: float) -> MLP:
    """A network whose head says N(mean, softplus(raw) + 1e-6) for every input (in standardised units)."""
    net = MLP(in_dim=2, out_dim=2, hidden=(), head="heteroscedastic")
    with torch.no_grad():
        net.linears[0].weight.zero_()
        net.linears[0].bias.copy_(torch.tensor([mean, raw]))
    return net.eval()


def test_ensemble_scores_by_hand():
    # standardised target: y = 10 + 2 z. Members: z ~ N(0, 1) and N(1, 1) -> y ~ N(10, 4) and N(12, 4)
    raw = math.log(math.e - 1)  # softplus = 1
    norm = (np.zeros(2), np.ones(2), 10.0, 2.0)
    x, y = np.zeros((2, 2)), np.array([11.0, 14.0])
    got = ensemble_scores([_constant(0.0, raw), _constant(1.0, raw)], x, y, norm)
    var = 4 * (1 + 1e-6) + 1.0  # aleatoric 4, epistemic var(10, 12) = 1
    ll = [-0.5 * math.log(2 * math.pi * var) - (v - 11.0) ** 2 / (2 * var) for v in y]
    assert got["rmse"] == pytest.approx(math.sqrt((0 + 9) / 2))
    assert got["ll"] == pytest.approx(np.mean(ll), rel=1e-5)
    assert got["aleatoric_var"] == pytest.approx(4.0, rel=1e-5) and got["epistemic_var"] == pytest.approx(1.0)
    a = 4 * (1 + 1e-6)
    mix = [math.log(0.5 * (math.exp(-(v - 10) ** 2 / (2 * a)) + math.exp(-(v - 12) ** 2 / (2 * a)))
                    / math.sqrt(2 * math.pi * a)) for v in y]
    assert got["ll_mixture"] == pytest.approx(np.mean(mix), rel=1e-5)


def test_the_grid_holds_the_papers_pair():
    assert (0.1, 40) in ensemble_grid(40) and len(ensemble_grid(40)) == 6


def test_batched_ensembles_choose_as_each_split_alone(tmp_path, monkeypatch):
    """Without dropout and with full batches (fewer rows than 100) the ensembles' training is deterministic up to
    float rounding: all splits as one batched model must choose, and score, what each split alone does."""
    ds = load_uci(tiny_uci(tmp_path, noise=0.3), "tiny")
    monkeypatch.setattr(uci_methods, "ENSEMBLE_LRS", (0.1, 0.003))
    together = run_ensemble_splits(ds, [0, 1, 2], epochs=2, samples=1, params=PARAMS, members=2)
    alone = [run_ensemble_splits(ds, [i], epochs=2, samples=1, params=PARAMS, members=2)[0] for i in range(3)]
    assert [r["split"] for r in together] == [0, 1, 2]
    for t, a in zip(together, alone):
        assert (t["lr"], t["epochs"]) == (a["lr"], a["epochs"])
        assert t["lr"] in (0.1, 0.003) and t["epochs"] in (2, 20)
        for key in ("rmse", "ll", "ll_mixture"):
            assert t[key] == pytest.approx(a[key], rel=1e-3), key


def test_concrete_learns_its_rate_chooses_its_epochs_on_validation_and_scores_a_mixture(tmp_path, monkeypatch):
    ds = load_uci(tiny_uci(tmp_path, noise=0.3), "tiny")
    assert uci_methods.concrete_grid(4000) == [40, 400, 4000] and uci_methods.concrete_grid(30) == [1, 3, 30]
    real, calls = uci_methods.concrete_scores, []

    def scores(model, x, y, norm, samples, seed):  # the grid's validation scores: split 0 best at 3, split 2 at 30
        out = real(model, x, y, norm, samples, seed)
        calls.append((seed, len(y)))
        if len(calls) <= 6:  # grid point g, split s: call 2 g + s
            g, s = divmod(len(calls) - 1, 2)
            out["ll"] = float(g == (1 if s == 0 else 2))
        return out

    monkeypatch.setattr(uci_methods, "concrete_scores", scores)
    out = run_concrete_splits(ds, [0, 2], epochs=30, samples=50, params=PARAMS)
    assert [r["split"] for r in out] == [0, 2]
    assert [r["epochs"] for r in out] == [3, 30]  # each split its own choice, then retrained for it
    assert [n for _, n in calls[:6]] == [round(0.2 * 32)] * 6 and [n for _, n in calls[6:]] == [8, 8]  # val, test
    for r in out:
        assert 0 < r["p"] < 1 and r["p"] != pytest.approx(0.1, abs=1e-6)  # it moved from where it started
        assert np.isfinite([r["rmse"], r["ll"], r["aleatoric_var"], r["epistemic_var"]]).all()
        assert r["epistemic_var"] > 0  # the MC passes disagree
