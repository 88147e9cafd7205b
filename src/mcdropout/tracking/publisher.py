"""The study's results onto MLflow: the :class:`~mcdropout.study.publishing.Publisher` the command line hands in.

Every call goes to the tracking helper process (:mod:`mcdropout.tracking.background`), which overlaps MLflow's work
with the command's; runs are created while the members train (the helper is idle then), and which runs a folder's
checkpoints went to is written beside them (:mod:`mcdropout.tracking.sidecar`).
"""

from __future__ import annotations

from typing import Any

from mcdropout.tracking import background
from mcdropout.tracking import runs as tracking
from mcdropout.tracking.publish import log_results, log_sweep_evaluation
from mcdropout.tracking.registry import log_models
from mcdropout.tracking.sidecar import read_runs, write_runs


class MLflowPublisher:
    """Runs, curves, models, metrics and a sweep's champion on MLflow, best effort (a failing store is one
    warning, then skipped: :mod:`mcdropout.tracking.store`)."""

    def start_runs(self, params, dataset, groups):
        if background.worker_process():  # a DDP worker other than the first: it neither trains to save nor logs
            return lambda: []
        started = tracking.now_ms()
        pending = [background.start(tracking.create_runs, params, dataset, members, name, started)
                   for members, name in groups]
        return lambda: [p.result() for p in pending]

    def end_failed(self, params, runs) -> None:
        for group_runs in runs:
            background.call(tracking.end_runs, params, group_runs, failed=True)

    def fit_done(self, params, task, runs, fit) -> None:
        background.submit(tracking.log_fit, params, task, runs, histories(fit), fit.seconds, fit.accelerator)

    def members_saved(self, params, outcomes, runs, example, whole_folder) -> None:
        if params.mlflow.enabled and outcomes:  # the runs' record beside the checkpoints, before anything reads it
            write_runs(outcomes[0].checkpoint.parent, runs.parent, dict(runs.members), replace=whole_folder)
        background.submit(log_models, params, outcomes, runs, example)

    def members_evaluated(self, params, outcomes, runs) -> None:
        background.submit(log_results, params, outcomes, runs)

    def sweep_evaluated(self, params, dataset, folder, metrics, rows, metric) -> None:
        background.submit(log_sweep_evaluation, params, dataset, metrics, read_runs(folder), rows, metric)


def histories(fit: Any) -> list[tracking.MemberHistory]:
    """The members' curves over the epochs, as their runs show them."""
    return [tracking.MemberHistory(
        m.name, fit.history[:, :, i].copy(),
        fit.p_history[:, :, i].copy() if m.dropout == "concrete" else None,
        (int(fit.stop_epoch[i]), int(fit.best_epoch[i])) if m.early_stopping else None,
    ) for i, m in enumerate(fit.members)]
