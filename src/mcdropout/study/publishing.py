"""Where a study's results go besides its own files: a :class:`Publisher` that the caller hands in.

The study never imports tracking: it tells the publisher what happened (runs to open for the members about to
train, their curves, their saved checkpoints, their evaluation, a sweep's table); checkpoints hold no run ids (the
publisher keeps its own record beside them). :data:`NOWHERE` publishes nothing (the default: a library call tracks
nothing unless asked); the command line hands in MLflow's (:class:`mcdropout.tracking.publisher.MLflowPublisher`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mcdropout.core.config import Params
    from mcdropout.core.tasks import Task
    from mcdropout.nn.members import Member, MemberOutcome
    from mcdropout.training.train import FitResult


@dataclass
class RunIds:
    """The runs of one group of members, as their checkpoints record them: none where nothing is tracked."""

    parent: str | None = None
    members: dict[str, str] = field(default_factory=dict)


class Publisher(Protocol):
    """What a study reports while it runs; ``runs`` are what :meth:`start_runs` gave back (a :class:`RunIds` or a
    publisher's own object with ``parent`` and ``members``)."""

    def start_runs(self, params: Params, dataset: str,
                   groups: list[tuple[list[Member], str | None]]) -> Callable[[], list[Any]]:
        """Open a run per group (name) and member before they train; returns how to fetch them (after training)."""

    def end_failed(self, params: Params, runs: list[Any]) -> None:
        """The groups' training or saving failed: their runs end as failed."""

    def fit_done(self, params: Params, task: Task, runs: Any, fit: FitResult) -> None:
        """A group's members trained: their curves."""

    def members_saved(self, params: Params, outcomes: list[MemberOutcome], runs: Any, example: Any,
                      whole_folder: bool) -> None:
        """A group's checkpoints are saved (``outcomes`` without their networks; ``whole_folder``: all their folder
        holds): their models."""

    def members_evaluated(self, params: Params, outcomes: list[MemberOutcome], runs: Any) -> None:
        """A group's members are evaluated: their final metrics and checkpoints; their runs end."""

    def sweep_evaluated(self, params: Params, dataset: str, folder: Path, metrics: dict[str, Any], rows: list,
                        metric: str) -> None:
        """A sweep's table (metrics.json) on its parent run, and its champion."""


class _Nowhere:
    """A :class:`Publisher` that publishes nothing."""

    def start_runs(self, params, dataset, groups):
        return lambda: [RunIds() for _ in groups]

    def end_failed(self, params, runs) -> None:
        pass

    def fit_done(self, params, task, runs, fit) -> None:
        pass

    def members_saved(self, params, outcomes, runs, example, whole_folder) -> None:
        pass

    def members_evaluated(self, params, outcomes, runs) -> None:
        pass

    def sweep_evaluated(self, params, dataset, folder, metrics, rows, metric) -> None:
        pass


NOWHERE: Publisher = _Nowhere()
