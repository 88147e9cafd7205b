import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from mcdropout.checkpoint import CheckpointError, load_checkpoint
from mcdropout.cli import main
from mcdropout.config import Params, to_dict
from mcdropout.data import build_dataset, write_dataset
from mcdropout.experiment import run_single
from mcdropout.members import Member
from mcdropout.train import fit_members


def test_same_seed_identical_metrics(tiny_params):
    write_dataset("regression", tiny_params)
    a = run_single(tiny_params, "regression", progress=False)
    b = run_single(tiny_params, "regression", progress=False)
    assert a.evaluation == b.evaluation
    np.testing.assert_array_equal(a.meta.history, b.meta.history)
    other = run_single(tiny_params.override(**{"train.seed": 1}), "regression", progress=False)
    assert other.evaluation["standard"]["test"]["rmse"] != a.evaluation["standard"]["test"]["rmse"]


def test_history_and_checkpoint(tiny_params):
    write_dataset("classification", tiny_params)
    outcome = run_single(tiny_params, "classification", progress=False)
    assert outcome.meta.history.shape == (30, 4)
    assert np.isfinite(outcome.meta.history).all()
    assert outcome.checkpoint.name == "p0.2_seed0.pt"
    payload = torch.load(outcome.checkpoint, weights_only=True)  # the safe loader reads it
    assert payload["meta"]["task"] == "classification"
    model, meta = load_checkpoint(outcome.checkpoint)
    x = torch.from_numpy(build_dataset("classification", tiny_params).splits["test"].x)
    torch.testing.assert_close(model(x), outcome.model(x))
    assert meta.p == 0.2 and meta.seed == 0


def test_bad_checkpoint(tmp_path):
    path = tmp_path / "x.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_p0_overfits_with_defaults():
    """The reference behaviour: unregularised, the MLP chases the noise of 30 points."""
    params = Params().for_dataset("regression")
    splits = build_dataset("regression", params).splits
    fit = fit_members("regression", splits, [Member(0.0, 0)], params, progress=False)
    model = fit.models[0]
    noise = params.data.regression.noise

    def rmse(split):
        x, y = torch.from_numpy(splits[split].x), torch.from_numpy(splits[split].y)
        with torch.no_grad():
            return float(((model(x)[:, 0] - y) ** 2).mean().sqrt())

    assert rmse("train") < 0.5 * noise  # well below the noise level
    assert rmse("test") > 1.2 * noise  # and worse than the noise on new points


def test_default_p02_mc_interval_covers_test_points(workdir):
    """Issue 3's check: defaults, p = 0.2: the MC 95% interval covers 85-100% of test points."""
    params = Params().override(**{"mlflow.enabled": False})
    write_dataset("regression", params)
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(params)))
    runner = CliRunner()
    assert runner.invoke(main, ["train", "--task", "regression", "--p", "0.2", "--quiet"]).exit_code == 0
    result = runner.invoke(main, ["evaluate", "--task", "regression", "--model", "models/regression/p0.2_seed0.pt"])
    assert result.exit_code == 0, result.output
    assert "mc cover95" in result.output and "mc nll" in result.output
    test = json.loads((workdir / "reports/regression/p0.2_seed0.json").read_text())["mc"]["test"]
    assert 0.85 <= test["coverage_95"] <= 1.0
    assert test["nll"] == test["nll"]  # finite
