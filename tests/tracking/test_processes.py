"""Runs record their process; a later command marks the runs of a process that is gone as KILLED."""

import os
import socket
import subprocess
import sys

import pytest

from mcdropout.core.config import MLflowConfig
from mcdropout.tracking import processes
from mcdropout.tracking.processes import _alive, _process_start, end_orphaned_runs, process_tags


def _gone_process() -> tuple[int, str]:
    """The pid and start time of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    start = _process_start(proc.pid)
    proc.wait()
    return proc.pid, start


def test_process_tags_name_this_process(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    tags = process_tags()
    assert tags["mcdropout.host"] == socket.gethostname() and tags["mcdropout.pid"] == str(os.getpid())
    assert tags["mcdropout.pid_start"] == _process_start(os.getpid()) and tags["mcdropout.pid_start"].isdigit()
    assert "dvc.exp_name" not in tags
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1a2b3")
    assert process_tags()["dvc.exp_name"] == "exp-1a2b3"
    monkeypatch.setenv("MCDROPOUT_COMMAND_PID", "4242")  # the tracking helper logs for its command
    assert process_tags()["mcdropout.pid"] == "4242"


def test_alive_tells_a_live_process_from_a_gone_one_and_from_a_reused_pid():
    assert _alive(os.getpid(), _process_start(os.getpid()))
    pid, start = _gone_process()
    assert not _alive(pid, start)
    assert not _alive(os.getpid(), str(int(_process_start(os.getpid())) + 1))  # same pid, another process
    assert _alive(os.getpid(), "")  # no start time recorded: the pid alone


def test_orphaned_runs_are_marked_killed_and_only_they(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # it would override the store given here

    cfg = MLflowConfig(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "mlruns"))
    mlc = MlflowClient(cfg.tracking_uri)
    exp = mlc.create_experiment("e", artifact_location=(tmp_path / "mlruns").as_uri())
    pid, start = _gone_process()
    host = socket.gethostname()
    gone = mlc.create_run(exp, tags={"mcdropout.host": host, "mcdropout.pid": str(pid), "mcdropout.pid_start": start})
    live = mlc.create_run(exp, tags=processes.process_tags())
    elsewhere = mlc.create_run(exp, tags={"mcdropout.host": host + "-other", "mcdropout.pid": str(pid)})
    untagged = mlc.create_run(exp)
    assert end_orphaned_runs(cfg) == 1
    status = {name: mlc.get_run(run.info.run_id).info.status
              for name, run in [("gone", gone), ("live", live), ("elsewhere", elsewhere), ("untagged", untagged)]}
    assert status == {"gone": "KILLED", "live": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING"}
    assert end_orphaned_runs(cfg) == 0  # ended once
