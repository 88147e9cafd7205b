"""Evaluate one trained model both ways (dropout off, MC dropout) on every split."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mcdropout.data import Split
from mcdropout.inference import predict_mc, predict_standard
from mcdropout.uncertainty import (
    ClassificationPrediction,
    RegressionPrediction,
    classification_metrics,
    classification_prediction,
    fit_noise_std,
    regression_metrics,
    regression_prediction,
)

MODES = ("standard", "mc")


def raw_samples(model: nn.Module, x: np.ndarray, task: str, mode: str, samples: int, seed: int) -> np.ndarray:
    """``[T, N]`` outputs: means for regression, probabilities for classification (T=1 if standard)."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    out = predict_standard(model, xt)[None] if mode == "standard" else predict_mc(model, xt, samples, seed=seed)
    out = out[..., 0].float().cpu()
    return (torch.sigmoid(out) if task == "classification" else out).numpy().astype(np.float64)


def fit_noise(model: nn.Module, val: Split, samples: int, seed: int) -> dict[str, float]:
    """Observation-noise std per mode, fitted on the validation split (regression only)."""
    y = val.y.astype(np.float64)
    return {mode: fit_noise_std(raw_samples(model, val.x, "regression", mode, samples, seed), y) for mode in MODES}


def predict(
    model: nn.Module, x: np.ndarray, task: str, mode: str, samples: int, seed: int, noise: dict[str, float] | None
) -> RegressionPrediction | ClassificationPrediction:
    raw = raw_samples(model, x, task, mode, samples, seed)
    if task == "regression":
        return regression_prediction(raw, noise[mode])
    return classification_prediction(raw)


def evaluate_model(
    model: nn.Module,
    task: str,
    splits: dict[str, Split],
    samples: int,
    seed: int,
    noise: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``{"noise_std": ..., "standard": {split: metrics}, "mc": {split: metrics}}``.

    For regression, ``noise`` (fitted on val) is refitted when not given.
    """
    if task == "regression" and noise is None:
        noise = fit_noise(model, splits["val"], samples, seed)
    result: dict[str, Any] = {"noise_std": noise} if task == "regression" else {}
    for mode in MODES:
        result[mode] = {}
        for name, split in splits.items():
            pred = predict(model, split.x, task, mode, samples, seed, noise)
            y = split.y.astype(np.float64)
            if task == "regression":
                result[mode][name] = regression_metrics(pred, y)
            else:
                result[mode][name] = classification_metrics(pred, y)
    return result
