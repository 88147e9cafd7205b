"""Checkpoints: weights, the plain-data config that rebuilds the model, and typed metadata.

Only tensors and builtin types are stored, so ``torch.load(path, weights_only=True)``
(the safe loader, no pickled code) reads them. The dropout rate lives once, in the
model's config; :class:`CheckpointMeta` reads it from there.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mcdropout.core.io import atomic_path
from mcdropout.core.tasks import Task, task_for
from mcdropout.nn.model import MLP

FORMAT = "mcdropout-checkpoint-v2"


class CheckpointError(ValueError):
    """A checkpoint file is missing, not one of ours, or does not hold what it should."""


RETIRED = {"mlflow_run_id", "mlflow_parent_run_id"}  # older checkpoints' run ids: now in runs.json beside them


@dataclass
class CheckpointMeta:
    task: str  # "regression" | "classification"
    seed: int
    dataset: str = ""  # the declared dataset it was trained on
    features: list[str] = field(default_factory=list)  # input columns, in the model's order
    target: str = "y"
    classes: list[str] | None = None  # the user's class labels, in output order
    head: str = "homoscedastic"  # model.head (regression): heteroscedastic models predict a variance per input
    method: str = "dropout"  # members.Member.method
    l2: float = 0.0
    noise_std: dict[str, float] | None = None  # per way of predicting, fitted on val (regression)
    mc_samples: int = 100
    train: dict[str, Any] = field(default_factory=dict)  # the train section it was trained with
    accelerator: str = "cpu"
    fit_seconds: float = 0.0  # wall time of the batched fit that trained it ...
    fit_members: int = 1  # ... and how many members that fit trained
    history: torch.Tensor | None = None  # [epochs, 4]: train/loss, val/loss, train/metric, val/metric
    learned_p: list[float] | None = None  # Concrete members: rate per hidden layer at the end
    p_history: torch.Tensor | None = None  # Concrete members: [epochs, layers]
    stop_epoch: int | None = None  # early-stopping members (0-based) ...
    best_epoch: int | None = None  # ... and the epoch whose weights it kept
    split: int = 0  # the repeat whose data split it trained on (Dataset.repeat)
    p: float = field(default=0.0, metadata={"stored": False})  # from the model's config, not stored twice

    def make_task(self) -> Task:
        """The :class:`~mcdropout.core.tasks.Task` the model was trained for."""
        return task_for(self.classes, self.head)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("stored", True)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], p: float) -> CheckpointMeta:
        known = {f.name for f in dataclasses.fields(cls)} - {"p"}
        raw = {k: v for k, v in raw.items() if k not in RETIRED}
        unknown = set(raw) - known
        if unknown:
            raise TypeError(f"unknown metadata {', '.join(sorted(unknown))}")
        return cls(**raw, p=float(p))


def save_checkpoint(path: str | Path, model: MLP, meta: CheckpointMeta) -> Path:
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "model": dict(model.config), "meta": meta.to_dict(), "state_dict": state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[MLP, CheckpointMeta]:
    """The model (eval mode) and its metadata; a :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():  # torch's notes on a foreign pickle would precede the one line
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a non-checkpoint file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mcdropout checkpoint (format {FORMAT})")
    try:
        model = MLP(**payload["model"])
        model.load_state_dict(payload["state_dict"])
        meta = CheckpointMeta.from_dict(payload["meta"], p=payload["model"]["p"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {reason[:200]})") from None
    model.eval()
    return model, meta
