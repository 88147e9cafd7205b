"""Predictions with uncertainty for users' own inputs, written as CSV (atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from mcdropout.checkpoint import CheckpointMeta
from mcdropout.config import MCConfig
from mcdropout.data import read_csv
from mcdropout.evaluation import predict
from mcdropout.io import write_text
from mcdropout.tasks import get_task


def prediction_columns(model: nn.Module, meta: CheckpointMeta, x: np.ndarray, mc: MCConfig) -> dict[str, np.ndarray]:
    task = get_task(meta.task)
    standard = predict(model, x, task, "standard", 1, mc.seed, meta.noise_std)
    sampled = predict(model, x, task, "mc", mc.samples, mc.seed, meta.noise_std)
    return task.prediction_columns(standard, sampled, mc.level)


def predict_csv(model: nn.Module, meta: CheckpointMeta, input_path: str | Path, output_path: str | Path,
                mc: MCConfig) -> int:
    split = read_csv(input_path, n_features=model.config["in_dim"], require_y=False)
    columns = prediction_columns(model, meta, split.x, mc)
    names = [f"x{i + 1}" for i in range(split.x.shape[1])] + list(columns)
    table = np.column_stack([split.x, *columns.values()])
    rows = [",".join(names)] + [",".join(f"{v:.6g}" for v in row) for row in table]
    write_text(output_path, "\n".join(rows) + "\n")
    return len(table)
