"""End-to-end runs: train, save, evaluate and log one member (``mcdropout train``) or a
group of members trained together (the sweep, the comparison).

A group's checkpoints are written beside its folder and swapped in at the end: an
interrupted run leaves the previous results whole. MLflow runs are created once the
members are trained (their start time is the training's start), so each checkpoint is
saved once, already holding its run id.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mcdropout import tracking
from mcdropout.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.config import Params, to_dict
from mcdropout.data import Split, load_task_data
from mcdropout.evaluation import evaluate_model, fit_noise
from mcdropout.members import Member
from mcdropout.model import MLP
from mcdropout.paths import Paths
from mcdropout.tasks import Task, get_task
from mcdropout.train import FitResult, fit_members


@dataclass
class MemberOutcome:
    member: Member
    model: MLP
    checkpoint: Path
    meta: CheckpointMeta
    evaluation: dict[str, Any]  # evaluate_model's result ({} when not evaluated)


def finish_members(task: Task, splits: dict[str, Split], fit: FitResult, params: Params, out_dir: Path,
                   runs: tracking.GroupRuns, evaluate: bool = True) -> list[MemberOutcome]:
    """Fit observation noise on val, save each member's checkpoint, and (optionally) evaluate it both ways."""
    outcomes = []
    mc = params.mc
    for i, (member, model) in enumerate(zip(fit.members, fit.models)):
        noise = fit_noise(model, task, splits["val"], mc.samples, mc.seed)
        meta = CheckpointMeta(
            task=task.name, seed=member.seed, method=member.method, l2=member.l2, noise_std=noise,
            mc_samples=mc.samples, train=to_dict(params.train), accelerator=fit.accelerator,
            history=torch.from_numpy(fit.history[:, :, i].copy()), p=member.p,
            mlflow_run_id=runs.members.get(member.name), mlflow_parent_run_id=runs.parent,
        )
        if member.dropout == "concrete":
            meta.learned_p = model.learned_p  # per hidden layer, at the end of training
            meta.p_history = torch.from_numpy(fit.p_history[:, :, i].copy())  # [epochs, layers]
        if member.early_stopping:
            meta.stop_epoch, meta.best_epoch = int(fit.stop_epoch[i]), int(fit.best_epoch[i])
        evaluation = evaluate_model(model, task, splits, mc.samples, mc.seed, noise) if evaluate else {}
        path = save_checkpoint(out_dir / f"{member.name}.pt", model, meta)
        outcomes.append(MemberOutcome(member, model, path, meta, evaluation))
    return outcomes


def _fit(params: Params, task: Task, members: list[Member], label: str, progress: bool,
         group: str | None) -> tuple[dict[str, Split], FitResult, tracking.GroupRuns] | None:
    splits = load_task_data(task.name, params.data.dir)
    started = tracking.now_ms()
    fit = fit_members(task, splits, members, params, progress, label=label, global_seed=params.train.seed)
    if fit is None:
        return None  # a non-zero DDP rank: rank 0 saves and logs
    runs = tracking.create_runs(params, task.name, members, group, started, fit.accelerator)
    return splits, fit, runs


def run_single(params: Params, task: Task | str, progress: bool = True) -> MemberOutcome | None:
    """Train one (p, seed) member from ``params.train``, evaluate it, save it under ``models/<task>/``."""
    task = get_task(task)
    if params.model.dropout == "concrete":
        member = Member(params.model.concrete.init_p, params.train.seed, dropout="concrete")
    else:
        member = Member(params.train.p, params.train.seed)
    done = _fit(params, task, [member], f"{task.name} {member.name}", progress, group=None)
    if done is None:
        return None
    splits, fit, runs = done
    outcomes = finish_members(task, splits, fit, params, Paths.of(params).single_dir(task.name), runs)
    tracking.log_members(params, task, outcomes, runs, fit.seconds)
    return outcomes[0]


def train_group(params: Params, task: Task | str, members: list[Member], folder: Path, group: str,
                evaluate: bool, progress: bool = True) -> tuple[FitResult, list[MemberOutcome]] | None:
    """Train ``members`` as one stacked model, save them in ``folder``, log them as MLflow group ``group``.

    ``None`` on the non-zero ranks of a DDP run (rank 0 saves).
    """
    task = get_task(task)
    done = _fit(params, task, members, f"{group} {task.name} ({len(members)} members)", progress, group)
    if done is None:
        return None
    splits, fit, runs = done
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        outcomes = finish_members(task, splits, fit, params, staging, runs, evaluate=evaluate)
        _swap_in(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        tracking.end_runs(params, runs, failed=True)
        raise
    for o in outcomes:
        o.checkpoint = folder / o.checkpoint.name
    tracking.log_members(params, task, outcomes, runs, fit.seconds)
    return fit, outcomes


def _swap_in(staging: Path, folder: Path) -> None:
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual permissions
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    staging.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
