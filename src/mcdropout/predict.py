"""Predictions with uncertainty for users' own inputs, written as CSV (atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from mcdropout.config import MCConfig
from mcdropout.data import read_csv
from mcdropout.evaluation import predict
from mcdropout.io import write_text
from mcdropout.metrics import interval


def prediction_columns(model: nn.Module, meta: dict[str, Any], x: np.ndarray, mc: MCConfig) -> dict[str, np.ndarray]:
    task, noise = meta["task"], meta.get("noise_std")
    standard = predict(model, x, task, "standard", 1, mc.seed, noise)
    sampled = predict(model, x, task, "mc", mc.samples, mc.seed, noise)
    if task == "regression":
        lower, upper = interval(sampled.mean, sampled.std, mc.level)
        return {"mean": sampled.mean, "std": sampled.std, "lower": lower, "upper": upper,
                "epistemic_std": sampled.epistemic_std, "mean_standard": standard.mean}
    return {"prob": sampled.prob, "label": (sampled.prob >= 0.5).astype(int), "entropy": sampled.entropy,
            "mutual_info": sampled.mutual_info, "prob_standard": standard.prob}


def predict_csv(model: nn.Module, meta: dict[str, Any], input_path: str | Path, output_path: str | Path,
                mc: MCConfig) -> int:
    split = read_csv(input_path, n_features=model.config["in_dim"], require_y=False)
    columns = prediction_columns(model, meta, split.x, mc)
    names = [f"x{i + 1}" for i in range(split.x.shape[1])] + list(columns)
    table = np.column_stack([split.x, *columns.values()])
    rows = [",".join(names)] + [",".join(f"{v:.6g}" for v in row) for row in table]
    write_text(output_path, "\n".join(rows) + "\n")
    return len(table)
