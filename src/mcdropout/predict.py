"""Predictions with uncertainty for users' own rows, read and written as CSV (atomically).

Input columns are matched to the model's features by name, in any order; columns the
model does not use are ignored (the CLI says which), missing ones are named in the error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from mcdropout.checkpoint import CheckpointMeta
from mcdropout.config import MCConfig
from mcdropout.evaluation import predict
from mcdropout.io import write_text
from mcdropout.tables import DataError, read_table, require_columns, write_table


def prediction_columns(model: nn.Module, meta: CheckpointMeta, x: np.ndarray, mc: MCConfig) -> dict[str, np.ndarray]:
    """Regression: mean, std, lower, upper, epistemic_std, mean_standard; classification: prob_<label>, label,
    entropy, mutual_info."""
    task = meta.make_task()
    standard = predict(model, x, task, "standard", 1, mc.seed, meta.noise_std)
    sampled = predict(model, x, task, "mc", mc.samples, mc.seed, meta.noise_std)
    return task.prediction_columns(standard, sampled, mc.level)


def predict_csv(model: nn.Module, meta: CheckpointMeta, input_path: str | Path, output_path: str | Path,
                mc: MCConfig) -> tuple[int, list[str]]:
    """Write the input's feature columns and the prediction columns; returns the row count and ignored columns."""
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise DataError(f"{output_path}: the output would overwrite the input; choose another --output")
    table = read_table(input_path)
    features = meta.features or [f"x{i + 1}" for i in range(model.config["in_dim"])]
    require_columns(table, features, "feature column")
    x = table.numbers(features)
    columns = prediction_columns(model, meta, x, mc)
    text = write_table([*features, *columns], [*x.T, *columns.values()])
    write_text(output_path, text)
    return len(x), [c for c in table.header if c not in features]
