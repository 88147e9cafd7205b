"""mcdropout.tracking.runs against a temporary SQLite store (one per module: creating one costs seconds)."""

import subprocess
import sys
import time

import numpy as np
import pytest

from mcdropout.core.config import Params
from mcdropout.nn.members import Member
from mcdropout.tracking.runs import GroupRuns, client, create_runs, end_runs, history_epochs

START_MS = 1_600_000_000_000


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield Params().override(**{
            "mlflow.tracking_uri": f"sqlite:///{tmp}/mlflow.db",
            "mlflow.artifact_location": str(tmp / "mlruns"),
            "mlflow.enabled": True,
            "sweep.p": [0.0, 0.5],
        })


MEMBERS = [Member(0.0, 0), Member(0.5, 0)]


def test_group_has_a_parent_and_children_started_at_start_ms(params):
    runs = create_runs(params, "regression", MEMBERS, "sweep", START_MS, "cpu")
    assert runs.parent is not None and runs.group == "sweep"
    assert list(runs.members) == ["p0_seed0", "p0.5_seed0"]
    mlc = client(params.mlflow)
    parent = mlc.get_run(runs.parent)
    assert parent.info.start_time == START_MS
    assert parent.info.run_name == "sweep-regression"
    assert parent.data.params["sweep_p"] == "0,0.5" and parent.data.params["members"] == "2"
    assert parent.data.tags["kind"] == "sweep"
    for name, run_id in runs.members.items():
        run = mlc.get_run(run_id)
        assert run.info.run_name == name
        assert run.info.start_time == START_MS
        assert run.info.status == "RUNNING"
        assert run.data.tags["mlflow.parentRunId"] == runs.parent
        assert run.data.tags["kind"] == "member"
        assert run.data.params["dataset"] == "regression"
        assert run.info.experiment_id == parent.info.experiment_id
    assert mlc.get_run(runs.members["p0.5_seed0"]).data.params["p"] == "0.5"
    children = mlc.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{runs.parent}'")
    assert sorted(r.info.run_id for r in children) == sorted(runs.members.values())

    before = int(time.time() * 1000)
    end_runs(params, runs)
    for run_id in [runs.parent, *runs.members.values()]:
        info = mlc.get_run(run_id).info
        assert info.status == "FINISHED"
        assert info.end_time is not None and info.end_time >= before - 1000


def test_failed_runs_and_a_single_run_without_parent(params):
    runs = create_runs(params, "classification", [Member(0.2, 1)], None, START_MS, "cpu")
    assert runs.parent is None and list(runs.members) == ["p0.2_seed1"]
    mlc = client(params.mlflow)
    run = mlc.get_run(runs.members["p0.2_seed1"])
    assert "mlflow.parentRunId" not in run.data.tags and run.data.tags["kind"] == "single"
    assert mlc.get_experiment(run.info.experiment_id).name == "mcdropout-classification"
    end_runs(params, runs, failed=True)
    info = mlc.get_run(runs.members["p0.2_seed1"]).info
    assert info.status == "FAILED" and info.end_time is not None


def test_history_epochs_by_hand():
    np.testing.assert_array_equal(history_epochs(5, 10), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(history_epochs(5, 5), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(history_epochs(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(history_epochs(101, 3), [0, 50, 100])
    np.testing.assert_array_equal(history_epochs(3000, 1000)[[0, -1]], [0, 2999])
    assert len(history_epochs(3000, 1000)) == 1000
    assert len(history_epochs(0, 10)) == 0


def test_disabled_tracking_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = Params().override(**{"mlflow.enabled": False, "mlflow.tracking_uri": f"sqlite:///{tmp_path}/x.db"})
    runs = create_runs(params, "regression", MEMBERS, "sweep", START_MS, "cpu")
    assert runs == GroupRuns()
    end_runs(params, runs)  # nothing to end
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == ""


def test_unwritable_store_warns_once_and_returns_empty_runs(monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = Params().override(**{"mlflow.enabled": True, "mlflow.tracking_uri": "sqlite:////proc/nope/x.db"})
    start = time.perf_counter()
    runs = create_runs(params, "regression", MEMBERS, "sweep", START_MS, "cpu")
    assert time.perf_counter() - start < 30
    assert runs == GroupRuns()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("Warning: MLflow")]
    assert len(warnings) == 1, err
    assert "outputs are not affected" in warnings[0]


def test_cli_and_tracking_import_neither_torch_nor_lightning():
    code = ("import sys, mcdropout.cli, mcdropout.tracking.runs; "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
