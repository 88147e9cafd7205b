"""End-to-end runs: train, save, evaluate and log one member (``mcdropout train``) or a
group of members trained together (the sweep, the comparison).

A group's checkpoints are written beside its folder and swapped in at the end: an
interrupted run leaves the previous results whole.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mcdropout.checkpoint import save_checkpoint
from mcdropout.config import Params, to_dict
from mcdropout.data import Split, load_task_data
from mcdropout.evaluation import evaluate_model, fit_noise
from mcdropout.model import MLP
from mcdropout.train import FitResult, Member, fit_members


@dataclass
class MemberOutcome:
    member: Member
    model: MLP
    checkpoint: Path
    evaluation: dict[str, Any]  # evaluate_model's result
    history: Any  # [epochs, 4] numpy
    p_history: Any = None  # [epochs, layers] numpy: learned rates (Concrete members)
    stop_epoch: int | None = None  # early-stopping members: the epoch it stopped ...
    best_epoch: int | None = None  # ... and the epoch whose weights it kept


def checkpoint_name(member: Member) -> str:
    return f"{member.name}.pt"


def finish_members(
    task: str, splits: dict[str, Split], fit: FitResult, params: Params, out_dir: Path, evaluate: bool = True
) -> list[MemberOutcome]:
    """Fit observation noise on val, save each member's checkpoint, and (optionally) evaluate it both ways."""
    outcomes = []
    for i, (member, model) in enumerate(zip(fit.members, fit.models)):
        noise = fit_noise(model, splits["val"], params.mc.samples, params.mc.seed) if task == "regression" else None
        evaluation = evaluate_model(model, task, splits, params.mc.samples, params.mc.seed, noise) if evaluate else {}
        meta = {
            "task": task,
            "p": member.p,
            "seed": member.seed,
            "noise_std": noise,
            "mc_samples": params.mc.samples,
            "train": to_dict(params.train),
            "accelerator": fit.accelerator,
            "history": torch.from_numpy(fit.history[:, :, i].copy()),  # [epochs, 4], HISTORY_KEYS order
            "method": method(member),
            "l2": member.l2,
        }
        if member.dropout == "concrete":
            meta["learned_p"] = model.learned_p  # per hidden layer, at the end of training
            meta["p_history"] = torch.from_numpy(fit.p_history[:, :, i].copy())  # [epochs, layers]
        if member.early_stopping:
            meta["stop_epoch"], meta["best_epoch"] = int(fit.stop_epoch[i]), int(fit.best_epoch[i])
        path = save_checkpoint(out_dir / checkpoint_name(member), model, meta)
        p_history = fit.p_history[:, :, i] if member.dropout == "concrete" else None
        outcomes.append(MemberOutcome(member, model, path, evaluation, fit.history[:, :, i], p_history,
                                      meta.get("stop_epoch"), meta.get("best_epoch")))
    return outcomes


def method(member: Member) -> str:
    """The regulariser a member stands for: dropout, concrete, l2, early_stopping (or a combination)."""
    if member.dropout == "concrete":
        return "concrete"
    parts = (["dropout"] if member.p > 0 else []) + (["l2"] if member.l2 else []) + \
        (["early_stopping"] if member.early_stopping else [])
    return "+".join(parts) or "none"


def run_single(params: Params, task: str, progress: bool = True) -> MemberOutcome | None:
    """Train one (p, seed) member from ``params.train``, evaluate it, save it under ``models/<task>/``."""
    splits = load_task_data(task, params.data.dir)
    if params.model.dropout == "concrete":
        member = Member(params.model.concrete.init_p, params.train.seed, dropout="concrete")
    else:
        member = Member(params.train.p, params.train.seed)
    fit = fit_members(task, splits, [member], params, progress, label=f"{task} {member.name}")
    if fit is None:
        return None  # a non-zero DDP rank
    out_dir = Path(params.train.models_dir) / task
    outcome = finish_members(task, splits, fit, params, out_dir)[0]
    from mcdropout.tracking import log_members

    log_members(params, task, [outcome], fit.accelerator, fit.seconds, group=None)
    return outcome


def save_members(task: str, splits: dict, fit: FitResult, params: Params, folder: Path,
                 evaluate: bool) -> list[MemberOutcome]:
    """One checkpoint per member in ``folder``, written beside it and swapped in whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        outcomes = finish_members(task, splits, fit, params, staging, evaluate=evaluate)
        _swap_in(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for o in outcomes:
        o.checkpoint = folder / o.checkpoint.name
    return outcomes


def _swap_in(staging: Path, folder: Path) -> None:
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    staging.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def train_group(params: Params, task: str, members: list[Member], folder: Path, group: str, evaluate: bool,
                progress: bool = True) -> tuple[FitResult, list[MemberOutcome]] | None:
    """Train ``members`` as one stacked model, save them in ``folder``, log them as MLflow group ``group``.

    ``None`` on the non-zero ranks of a DDP run (rank 0 saves).
    """
    splits = load_task_data(task, params.data.dir)
    fit = fit_members(task, splits, members, params, progress, label=f"{group} {task} ({len(members)} members)",
                      global_seed=params.train.seed)
    if fit is None:
        return None
    outcomes = save_members(task, splits, fit, params, folder, evaluate=evaluate)
    from mcdropout.tracking import log_members

    log_members(params, task, outcomes, fit.accelerator, fit.seconds, group=group)
    return fit, outcomes
