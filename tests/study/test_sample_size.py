"""mcdropout.study.sample_size: the test metrics against the MC passes T, and the T each metric needs; the report's
sentences from them."""

import json

import numpy as np
import pytest

from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Regression
from mcdropout.data.datasets import DataError, build_dataset, write_dataset
from mcdropout.nn.model import seeded_mlp
from mcdropout.study.sample_size import GRID, enough, metrics_against_t, run_sample_size, seed_noise, single_run_error
from mcdropout.study.sweep import run_sweep, write_sweep_evaluation


def test_enough_is_where_one_run_stays_within_the_noise_for_good():
    grid = (1, 2, 5, 10, 20)
    flat = np.zeros(5)
    assert enough(np.array([5.0, 3.0, 2.08, 2.05, 2.0]), flat, 0.1, grid) == 5
    assert enough(np.array([2.0, 3.0, 2.05, 2.0, 2.0]), flat, 0.1, grid) == 5  # close at T = 1 by chance: not enough
    assert enough(np.array([2.0, 2.0, 2.0, 2.0, 2.0]), flat, 0.0, grid) == 1
    assert enough(np.array([2.0, 2.0, 2.0, 2.5, 2.0]), flat, 0.1, grid) is None  # only the reference itself
    # on the mean alone T = 5 would do; one run's spread (0.08 at T = 5) and bias (0.06) make 0.1 there
    assert enough(np.full(5, 2.0) + [0.3, 0.1, 0.06, 0.0, 0.0], np.array([0.2, 0.1, 0.08, 0.05, 0.02]), 0.099,
                  grid) == 10
    assert enough(np.full(5, 2.0), np.array([0.3, 0.3, 0.3, 0.3, 0.3]), 0.1, grid) is None  # MC as noisy as training
    np.testing.assert_allclose(single_run_error(np.array([0.0, 4.0, 0.0]), np.array([4.0, 3.0, 1.0])),
                               [4.0, 5.0, 1.0])


def test_seed_noise_is_the_sd_over_training_seeds_at_the_selected_p():
    metrics = {"best_p": 0.5, "runs": [{"p": 0.5, "mc": {"test": {"nll": v}}} for v in (1.0, 2.0, 4.0)]
               + [{"p": 0.1, "mc": {"test": {"nll": 100.0}}}]}
    assert seed_noise(metrics, "nll") == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    metrics["runs"] = metrics["runs"][:1]
    assert seed_noise(metrics, "nll") is None


def test_without_dropout_every_t_gives_the_same_metrics(tiny_params):
    splits = build_dataset("regression", tiny_params).splits
    model = seeded_mlp(0, in_dim=1, out_dim=1, hidden=(8,), p=0.0)
    table = metrics_against_t(model, Regression(), splits["val"], splits["test"], [0, 1])
    assert set(table) == {"rmse", "nll", "coverage_95", "crps"}
    for key, values in table.items():
        assert values.shape == (2, len(GRID))
        np.testing.assert_allclose(values, values[0, 0], rtol=1e-3, err_msg=key)  # noise refit: to its tolerance


def test_samples_json_of_a_sweep(tiny_params):
    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1]})
    with pytest.raises(DataError, match="run `mcdropout sweep --dataset classification` first"):
        run_sample_size(params, "classification")
    write_dataset("classification", params)
    folder = run_sweep(params, "classification", progress=False).folder
    metrics, _ = write_sweep_evaluation(params, "classification", folder, Paths.of(params).metrics_json(
        "classification"), progress=False)
    out = run_sample_size(params, "classification", repeats=3)
    json.dumps(out)
    assert (out["p"], out["seed"], out["repeats"], out["grid"]) == (metrics["best_p"], 0, 3, list(GRID))
    assert set(out["metrics"]) == {"accuracy", "nll", "brier", "ece"}
    for key, m in out["metrics"].items():
        assert len(m["mean"]) == len(m["sd"]) == len(m["single_run_error"]) == len(GRID)
        assert m["enough"] == enough(np.asarray(m["mean"]), np.asarray(m["sd"]), m["noise"])
        assert m["enough"] is None or m["enough"] in GRID
        noise = seed_noise(metrics, key)
        if key == "accuracy":  # a fraction of the 60 test points: at least one point's step
            assert m["noise"] == pytest.approx(max(noise, 1 / 60))
        else:
            assert m["noise"] == pytest.approx(noise) and m["noise_rule"] == "sd over training seeds"
    needs = [m["enough"] for m in out["metrics"].values()]
    assert out["needed"] == (None if None in needs else max(needs))
    assert out["default_enough"] == (out["needed"] is not None and params.mc.samples >= out["needed"])
    again = run_sample_size(params, "classification", repeats=3)
    assert again == out  # seeded
