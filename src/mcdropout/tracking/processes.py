"""Which process an MLflow run belongs to, and the runs whose process is gone.

A command killed outright (SIGKILL, the out-of-memory killer) cannot end its runs: they would stay RUNNING forever.
So each run records its host, process id and the process's start time (:func:`process_tags`), and the next command
on the store marks the runs of this host whose process is gone as KILLED (:func:`end_orphaned_runs`).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from mcdropout.core.config import MLflowConfig
from mcdropout.tracking import background
from mcdropout.tracking.store import client


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where unknown or gone: with the
    pid, it names one process, not a later one that got the same number."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    """Which process a run belongs to (the command's, also when its helper logs): host, pid and start time. A
    later command marks the runs of a process that is gone (killed, out of memory) as KILLED. Under
    ``dvc exp run``, also the DVC experiment's name (``dvc.exp_name``)."""
    pid = background.command_pid()
    tags = {"mcdropout.host": socket.gethostname(), "mcdropout.pid": str(pid),
            "mcdropout.pid_start": _process_start(pid) or ""}
    if os.environ.get("DVC_EXP_NAME"):  # a run of `dvc exp run`: which DVC experiment it belongs to
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def _alive(pid: int, start: str) -> bool:
    if start and Path("/proc/self/stat").exists():
        return _process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        return True
    return True


def end_orphaned_runs(cfg: MLflowConfig) -> int:
    """Mark as KILLED the RUNNING runs of this host whose process is gone (SIGKILL, the OOM killer: nothing of
    theirs could end them). Returns how many."""
    from mlflow.entities import RunStatus, ViewType

    mlc = client(cfg)
    experiments = [e.experiment_id for e in mlc.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return 0
    host = socket.gethostname().replace("'", "")
    runs = mlc.search_runs(experiments, filter_string=f"attributes.status = 'RUNNING' and "
                                                      f"tags.`mcdropout.host` = '{host}'", max_results=1000)
    ended = 0
    for run in runs:
        tags = run.data.tags
        try:
            pid = int(tags.get("mcdropout.pid", ""))
        except ValueError:
            continue
        if not _alive(pid, tags.get("mcdropout.pid_start", "")):
            mlc.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED), end_time=int(time.time() * 1000))
            ended += 1
    return ended
