"""mcdropout.report.inputs: what a report section reads (metrics.json, the data, the sweep's checkpoints of the lowest
seed, their histories, the optional comparison, trust and samples files), and the one-line errors naming the
command to run when something is missing. Untrained checkpoints: no training."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import DataError, load_dataset, write_dataset
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp
from mcdropout.report.inputs import check_inputs, load_inputs
from mcdropout.study.sweep import evaluate_sweep, summary_by_p
from mcdropout.tracking.sidecar import write_runs

P, SEEDS = (0.0, 0.5), (2, 1)  # the lowest seed is 1, not the first one written nor 0
EPOCHS = 6


def _history(p: float, seed: int) -> torch.Tensor:
    """A history whose every value says whose it is: 10 p + seed, plus the epoch / 100."""
    return torch.full((EPOCHS, 4), 10 * p + seed) + torch.arange(EPOCHS)[:, None] / 100


def _save(folder: Path, name: str, data, member: Member) -> None:
    task, schema = data.task, data.schema
    model = seeded_mlp(member.seed, in_dim=len(schema.features), out_dim=task.out_dim, hidden=[8, 8], p=member.p,
                       dropout=member.dropout)
    meta = CheckpointMeta(task=task.name, seed=member.seed, dataset=name, features=list(schema.features),
                          classes=None if schema.classes is None else list(schema.classes), method=member.method,
                          l2=member.l2, noise_std={"standard": 0.3, "mc": 0.3} if task.fits_noise else None,
                          mc_samples=4, history=_history(member.p, member.seed))
    save_checkpoint(folder / f"{member.name}.pt", model, meta)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """data/, models/<name>/sweep/ and reports/<name>/metrics.json of regression (tracked: a runs.json) and
    classification (untracked) for p in P and the seeds SEEDS."""
    root = tmp_path_factory.mktemp("inputs")
    params = Params().override(**{
        "data.dir": str(root / "data"), "train.models_dir": str(root / "models"), "data.regression.n_test": 40,
        "data.classification.n_train": 40, "data.classification.n_val": 40, "data.classification.n_test": 60,
        "model.hidden": [8, 8], "mc.samples": 4, "sweep.p": list(P), "sweep.seeds": list(SEEDS),
        "mlflow.enabled": False,
        "datasets": {"regression": {"source": "synthetic"}, "classification": {"source": "synthetic"}}})
    paths = Paths.of(params, root / "reports")
    for name in ("regression", "classification"):
        write_dataset(name, params)
        data = load_dataset(name, params.data.dir)
        for seed in SEEDS:
            for p in P:
                _save(paths.sweep_dir(name), name, data, Member(p, seed))
        write_json(paths.metrics_json(name), evaluate_sweep(params, name, paths.sweep_dir(name), progress=False))
    write_runs(paths.sweep_dir("regression"), "sweep-parent", {"p0_seed1": "child"})
    return params, paths


def _copy(paths: Paths, root: Path) -> Paths:
    """The project copied under ``root`` (a test that adds files leaves the module's project as it was)."""
    copied = Paths(root / "data", root / "models", root / "reports")
    for src, dst in zip((paths.data, paths.models, paths.reports), (copied.data, copied.models, copied.reports)):
        shutil.copytree(src, dst)
    return copied


# --- check_inputs: the files are there, nothing read -----------------------------------------


def test_missing_metrics_json_is_one_line_naming_the_command(project, tmp_path):
    params, paths = project
    empty = Paths(paths.data, paths.models, tmp_path / "reports")
    with pytest.raises(DataError) as err:
        check_inputs("regression", empty)
    assert str(err.value) == (f"{tmp_path / 'reports' / 'regression' / 'metrics.json'}: missing; run `mcdropout sweep "
                              f"--dataset regression` first (it trains and evaluates the sweep)")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=r"metrics.json: missing; run `mcdropout sweep --dataset classification`"):
        load_inputs(params, "classification", empty)


def test_missing_checkpoints_and_missing_data_name_their_commands(project, tmp_path):
    params, paths = project
    no_models = Paths(paths.data, tmp_path / "models", paths.reports)
    with pytest.raises(DataError) as err:
        check_inputs("regression", no_models)
    assert str(err.value) == (f"{tmp_path / 'models' / 'regression' / 'sweep'}: no checkpoints; run `mcdropout sweep "
                              f"--dataset regression` first")
    no_data = Paths(tmp_path / "data", paths.models, paths.reports)
    with pytest.raises(DataError) as err:
        check_inputs("regression", no_data)
    assert str(err.value) == (f"{tmp_path / 'data' / 'regression'}: no dataset here; run `mcdropout data --dataset "
                              f"regression` first")


def test_check_inputs_reads_no_file_but_load_inputs_refuses_a_damaged_one(project, tmp_path):
    params, paths = project
    copied = _copy(paths, tmp_path)
    copied.metrics_json("regression").write_text("{not json")
    assert check_inputs("regression", copied) is None  # only that the files are there
    with pytest.raises(DataError) as err:
        load_inputs(params, "regression", copied)
    line = str(err.value)
    assert line.startswith(f"{copied.metrics_json('regression')}: ") and "\n" not in line
    assert "`mcdropout sweep --dataset regression`" in line


# --- load_inputs: what a section draws from ---------------------------------------------------


def test_members_are_those_of_the_lowest_seed_sorted_by_p(project):
    params, paths = project
    inp = load_inputs(params, "regression", paths)
    assert inp.seed == 1 == min(r["seed"] for r in inp.metrics["runs"])
    assert list(inp.members) == [0.0, 0.5]
    for p, (model, meta) in inp.members.items():
        assert (meta.seed, meta.p, meta.dataset) == (1, p, "regression")
        assert isinstance(model, torch.nn.Module)
        np.testing.assert_allclose(meta.history.numpy(), _history(p, 1).numpy())


def test_histories_stack_every_seed_per_p(project):
    params, paths = project
    inp = load_inputs(params, "regression", paths)
    assert list(inp.histories) == [0.0, 0.5]
    for p, h in inp.histories.items():
        assert h.shape == (len(SEEDS), EPOCHS, 4)
        # files are read in name order: seed 1's checkpoint before seed 2's
        np.testing.assert_allclose(h, np.stack([_history(p, 1).numpy(), _history(p, 2).numpy()]))


def test_regression_inputs(project):
    params, paths = project
    inp = load_inputs(params, "regression", paths)
    assert (inp.name, inp.task.name, inp.input_dim) == ("regression", "regression", 1)
    assert inp.best_p == inp.metrics["best_p"] in P
    assert inp.metrics == json.loads(paths.metrics_json("regression").read_text())
    assert inp.rows == summary_by_p(inp.metrics) and [r["p"] for r in inp.rows] == list(P)
    assert set(inp.splits) == {"train", "val", "test"}
    # the generated curve's range and noise, as params.data.regression says (not the sample's extremes)
    assert inp.x_range == (-4.0, 4.0) and inp.data_noise == 0.3
    assert inp.sweep_run_id == "sweep-parent"  # runs.json beside the checkpoints
    assert (inp.compare, inp.compare_checkpoints, inp.compare_run_id) == (None, [], None)
    assert (inp.trust, inp.samples) == (None, None)


def test_classification_inputs_take_the_range_from_the_data(project):
    params, paths = project
    inp = load_inputs(params, "classification", paths)
    assert (inp.task.name, inp.input_dim) == ("classification", 2)
    x = inp.splits["train"].x[:, 0]
    assert inp.x_range == (float(x.min()), float(x.max())) and inp.x_range[0] < inp.x_range[1]
    assert inp.data_noise is None  # no known noise of two moons' labels
    assert inp.sweep_run_id is None  # trained without tracking: no runs.json


def test_optional_files_are_read_where_they_are(project, tmp_path):
    params, paths = project
    copied = _copy(paths, tmp_path)
    write_json(copied.samples_json("regression"), {"needed": 200, "default_enough": True})
    data = load_dataset("regression", copied.data)
    for seed in (1, 2):
        _save(copied.compare_dir("regression"), "regression", data, Member(0.0, seed, l2=1e-4))
    write_runs(copied.compare_dir("regression"), "compare-parent", {"l2_0.0001_seed1": "c1"})
    compare = {"dataset": "regression", "task": "regression", "best_l2": 1e-4, "best_dropout_l2": None,
               "selection": {}, "ensembles": {}, "runs": []}
    write_json(copied.compare_json("regression"), compare)
    inp = load_inputs(params, "regression", copied)
    assert inp.samples == {"needed": 200, "default_enough": True}
    assert inp.compare == compare
    assert sorted((meta.seed, meta.l2) for _, meta in inp.compare_checkpoints) == [(1, 1e-4), (2, 1e-4)]
    assert inp.compare_run_id == "compare-parent"
    assert inp.trust is None
