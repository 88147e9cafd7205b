"""End-to-end single runs: the library API behind ``mcdropout train`` and ``evaluate``."""

from __future__ import annotations

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


def checkpoint_name(member: Member) -> str:
    return f"p{member.p:g}_seed{member.seed}.pt"


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
        }
        path = save_checkpoint(out_dir / checkpoint_name(member), model, meta)
        outcomes.append(MemberOutcome(member, model, path, evaluation, fit.history[:, :, i]))
    return outcomes


def run_single(params: Params, task: str, progress: bool = True) -> MemberOutcome | None:
    """Train one (p, seed) member from ``params.train``, evaluate it, save it under ``models/<task>/``."""
    splits = load_task_data(task, params.data.dir)
    fit = fit_members(task, splits, [Member(params.train.p, params.train.seed)], params, progress,
                      label=f"{task} p={params.train.p:g} seed={params.train.seed}")
    if fit is None:
        return None  # a non-zero DDP rank
    out_dir = Path(params.train.models_dir) / task
    outcome = finish_members(task, splits, fit, params, out_dir)[0]
    from mcdropout.tracking import log_members

    log_members(params, task, [outcome], fit.accelerator, fit.seconds, sweep=False)
    return outcome
