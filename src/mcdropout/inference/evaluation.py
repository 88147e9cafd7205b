"""Evaluate one trained model both ways (dropout off, MC dropout) on every split."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mcdropout.core.tasks import Task, get_task
from mcdropout.data.datasets import Split
from mcdropout.inference.sampling import predict_mc, predict_standard

MODES = ("standard", "mc")


def raw_samples(model: nn.Module, x: np.ndarray, task: Task | str, mode: str, samples: int,
                seed: int) -> np.ndarray:
    """``[T, N]`` samples through the task's link: means or probabilities (T = 1 for standard)."""
    xt = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: rows from pandas may be read-only
    out = predict_standard(model, xt)[None] if mode == "standard" else predict_mc(model, xt, samples, seed=seed)
    return get_task(task).link(out)


def fit_noise(model: nn.Module, task: Task | str, val: Split, samples: int, seed: int) -> dict[str, float] | None:
    """Observation-noise std per mode, fitted on the validation split (``None`` where the task has none)."""
    task = get_task(task)
    if not task.fits_noise:
        return None
    y = val.y.astype(np.float64)
    return {mode: task.fit_noise(raw_samples(model, val.x, task, mode, samples, seed), y) for mode in MODES}


def predict(model: nn.Module, x: np.ndarray, task: Task | str, mode: str, samples: int, seed: int,
            noise: dict[str, float] | None):
    """The task's prediction object (``RegressionPrediction`` or ``ClassificationPrediction``)."""
    task = get_task(task)
    return task.prediction(raw_samples(model, x, task, mode, samples, seed), noise[mode] if noise else None)


def evaluate_model(model: nn.Module, task: Task | str, splits: dict[str, Split], samples: int, seed: int,
                   noise: dict[str, float] | None = None) -> dict[str, Any]:
    """``{"noise_std": ... (tasks that fit one), "standard": {split: metrics}, "mc": {split: metrics}}``.

    The noise (fitted on val) is refitted when not given.
    """
    task = get_task(task)
    if task.fits_noise and noise is None:
        noise = fit_noise(model, task, splits["val"], samples, seed)
    result: dict[str, Any] = {"noise_std": noise} if task.fits_noise else {}
    for mode in MODES:
        result[mode] = {name: task.metrics(predict(model, split.x, task, mode, samples, seed, noise),
                                           split.y.astype(np.float64))
                        for name, split in splits.items()}
    return result
