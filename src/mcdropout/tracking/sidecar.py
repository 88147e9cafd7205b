"""Which MLflow runs a folder's checkpoints were logged to: ``runs.json`` beside them, owned by tracking.

Checkpoints hold no run ids: the publisher writes ``{"parent": id, "members": {member: id}}`` into the folder
after the checkpoints are saved (:class:`mcdropout.tracking.publisher.MLflowPublisher`), and whatever logs to those
runs later (the sweep's evaluation and champion, the report) reads it here. A folder trained without tracking has
none; a folder of single runs (``models/<dataset>/``) gathers each run's member.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUNS_FILE = "runs.json"


def runs_path(folder: str | Path) -> Path:
    return Path(folder) / RUNS_FILE


def read_runs(folder: str | Path) -> dict[str, Any]:
    """``{"parent": id or None, "members": {member name: run id}}``; empty where the folder has none (or a damaged
    one: tracking is best effort)."""
    try:
        raw = json.loads(runs_path(folder).read_text(encoding="utf-8"))
        return {"parent": raw.get("parent"), "members": dict(raw.get("members") or {})}
    except (OSError, ValueError, AttributeError, TypeError):
        return {"parent": None, "members": {}}


def write_runs(folder: str | Path, parent: str | None, members: dict[str, str], replace: bool = True) -> None:
    """Record the runs of a group's members (``replace``: the group is the folder's whole content; else merged
    into what the folder records, as single runs are)."""
    from mcdropout.core.io import write_json

    if not members and parent is None:
        return
    known = {"parent": None, "members": {}} if replace else read_runs(folder)
    write_json(runs_path(folder), {"parent": parent if parent is not None else known["parent"],
                                   "members": {**known["members"], **members}})
