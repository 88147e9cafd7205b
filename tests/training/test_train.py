import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from scipy.special import logsumexp
from scipy.stats import norm

from mcdropout.cli import main
from mcdropout.core.config import Params, to_dict
from mcdropout.data.datasets import build_dataset, load_dataset, write_dataset
from mcdropout.inference.evaluation import raw_samples
from mcdropout.nn.checkpoint import CheckpointError, load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.training.train import fit_members


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
    evaluation = json.loads((workdir / "reports/regression/p0.2_seed0.json").read_text())
    test = evaluation["mc"]["test"]
    assert 0.85 <= test["coverage_95"] <= 1.0
    # The reported MC NLL is the mixture NLL of the T sample means with the val-fitted noise, recomputed with SciPy
    # from the checkpoint's MC samples (T and seed from params.yaml).
    model, _ = load_checkpoint(workdir / "models/regression/p0.2_seed0.pt")
    split = load_dataset("regression", params.data.dir).splits["test"]
    samples = raw_samples(model, split.x, "regression", "mc", params.mc.samples, params.mc.seed)
    assert samples.shape == (params.mc.samples, len(split.y))
    y, s = split.y.astype(np.float64), evaluation["noise_std"]["mc"]
    expected = -np.mean(logsumexp(norm.logpdf(y, samples, s), axis=0) - np.log(len(samples)))
    assert test["nll"] == pytest.approx(expected, rel=1e-6)
    assert test["rmse"] == pytest.approx(float(np.sqrt(np.mean((y - samples.mean(0)) ** 2))), rel=1e-6)


MEMORY_CHILD = r"""
import os, sys
import numpy as np, torch
from mcdropout.core.config import Params
from mcdropout.data.datasets import Split
from mcdropout.nn.members import Member
from mcdropout.training.routine import DropoutRoutine
from mcdropout.training.train import fit_members, fit_members_on

torch.set_num_threads(1)
k, rss = int(sys.argv[1]), {}
end = DropoutRoutine.end_epoch


def record(self):
    end(self)
    if len(self.history) in (k, 3 * k):
        with open("/proc/self/statm") as f:
            rss[len(self.history)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


DropoutRoutine.end_epoch = record
rng = np.random.default_rng(0)
x = rng.standard_normal((384, 8)).astype(np.float32)
split = Split(x, x.sum(1).astype(np.float32))
params = Params().override(**{"model.hidden": [16], "train.epochs": 3 * k, "train.batch_size": 4,
                              "mlflow.enabled": False, "train.accelerator": "cpu", "train.devices": 1})
members = [Member(0.1, s, input_p=0.1, l2=1e-4) for s in range(3)]
fit_members("regression", {"train": split, "val": split}, members, params, progress=False)
print(rss[3 * k] - rss[k])
rss.clear()
fit_members_on("regression", [{"train": split, "val": split}] * 2, [0, 1, 1], members, params, progress=False)
print(rss[3 * k] - rss[k])
"""


@pytest.mark.skipif(not Path("/proc/self/statm").is_file(), reason="reads /proc/self/statm (Linux)")
def test_memory_does_not_grow_with_steps():
    """Issue 16: memory grew ~240 kB an optimiser step. RSS after k epochs against after 3k epochs of many tiny
    mini-batches (96 steps an epoch, 1,152 steps between the two), shared and per-member data: a leak of 8 kB a
    step would add 9 MB."""
    src = Path(__file__).parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, "6"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    shared, per_member = (int(v) for v in out.stdout.split())
    assert shared < 8 * 2**20 and per_member < 8 * 2**20, (shared, per_member)


def test_progress_lines_show_elapsed_and_remaining_time(capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 2)).astype(np.float32)
    from mcdropout.data.datasets import Split

    split = Split(x, x[:, 0].copy())
    params = Params().override(**{"model.hidden": [4], "train.epochs": 200, "mlflow.enabled": False,
                                  "train.accelerator": "cpu", "train.devices": 1})
    fit_members("regression", {"train": split, "val": split}, [Member(0.1, 0)], params, label="tiny")
    first, *lines = capsys.readouterr().err.splitlines()  # not a terminal: a line at once, then every 10%
    assert first == "tiny: training 200 epochs"
    assert [line.split(",")[0] for line in lines] == [f"tiny: epoch {e}/200" for e in range(20, 201, 20)]
    assert all("elapsed, about" in line and line.endswith("left)") for line in lines)
    assert lines[-1].endswith("about 0s left)")


# --- fit_dataset: each member on the data of its repeat ---------------------------------------------------------


def _declared(params, name):
    return params.override(**{f"datasets.{name}": {"source": "sklearn", "name": name}})


def _affine_stats(model):
    from mcdropout.nn.model import Affine

    first, last = model[0], model[-1]
    assert isinstance(first, Affine) and not first.inverse
    stats = {"x_mean": first.shift.numpy(), "x_std": first.scale.numpy()}
    if isinstance(last, Affine):
        stats.update(y_mean=last.shift.numpy(), y_std=last.scale.numpy())
    return stats


def test_fit_dataset_standardises_each_repeat_by_its_own_training_rows(tiny_params):
    from mcdropout.training.train import fit_dataset, standardizer

    params = _declared(tiny_params, "diabetes").with_epochs(10)
    data = build_dataset("diabetes", params)
    assert data.schema.resplit and data.schema.standardize
    members = [Member(0.0, 0, split=0), Member(0.0, 1, split=1)]
    fit = fit_dataset(data, members, params, progress=False)
    got = [_affine_stats(m) for m in fit.models]
    for i, stats in enumerate(got):  # each model holds its own split's training statistics
        want = standardizer(data.repeat(i).splits["train"], data.task)
        for key in ("x_mean", "x_std", "y_mean", "y_std"):
            np.testing.assert_allclose(stats[key], want[key], rtol=1e-6)
    assert not np.allclose(got[0]["x_mean"], got[1]["x_mean"]) and got[0]["y_mean"] != got[1]["y_mean"]
    # and trains on that split: the member of split 1 is the single run on repeat 1's data (p = 0: no masks)
    alone = fit_members(data.task, data.repeat(1).splits, [Member(0.0, 1)], params, progress=False, standardize=True)
    np.testing.assert_allclose(fit.history[:, :, 1], alone.history[:, :, 0], rtol=1e-4, atol=1e-6)
    x = torch.from_numpy(data.repeat(1).splits["test"].x)
    with torch.no_grad():
        torch.testing.assert_close(fit.models[1](x), alone.models[0](x), rtol=1e-4, atol=1e-4)
        assert not torch.allclose(fit.models[0](x), alone.models[0](x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("case", ["resplit_false", "one_split"])
def test_fit_dataset_with_one_shared_split_is_fit_members(tiny_params, case):
    from mcdropout.training.train import fit_dataset

    params = _declared(tiny_params, "iris").with_epochs(10)
    if case == "resplit_false":  # every member sees the written split, whatever its repeat
        params = params.override(**{"sweep.resplit": False})
        members = [Member(0.0, 0, split=0), Member(0.3, 1, split=1)]
    else:  # a re-split dataset, but every member on repeat 0
        members = [Member(0.0, 0), Member(0.3, 1)]
    data = build_dataset("iris", params)
    fit = fit_dataset(data, members, params, progress=False, global_seed=7)
    same = fit_members(data.task, data.splits, members, params, progress=False, global_seed=7, standardize=True)
    np.testing.assert_array_equal(fit.history, same.history)  # the same fit, dropout masks included
    x = torch.from_numpy(data.splits["test"].x)
    for a, b in zip(fit.models, same.models):
        for key, value in _affine_stats(a).items():
            np.testing.assert_array_equal(value, _affine_stats(b)[key])
        with torch.no_grad():
            torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
