"""Checkpoints: weights plus the plain-data config needed to rebuild the model.

Only tensors and builtin types are stored, so ``torch.load(path, weights_only=True)``
(the safe loader, no pickled code) reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mcdropout.io import atomic_path
from mcdropout.model import MLP

FORMAT = "mcdropout-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint file is missing or not one of ours."""


def save_checkpoint(path: str | Path, model: MLP, meta: dict[str, Any]) -> Path:
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "model": dict(model.config), "meta": meta, "state_dict": state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[MLP, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a non-checkpoint file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mcdropout checkpoint")
    model = MLP(**payload["model"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["meta"]
