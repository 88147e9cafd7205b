"""Predictions with uncertainty for users' own rows, read and written as CSV (atomically).

Input columns are matched to the model's features by name, in any order; columns the
model does not use are ignored (the CLI says which), missing ones are named in the error.
``-`` reads standard input or writes standard output.

Memory does not grow with the number of MC samples T: where T samples of all rows would
exceed ``BLOCK_VALUES`` values, they are drawn in blocks and only running moments are kept
(the same distribution; below that size the one block is today's single call). Before the
work, the memory the rows need is checked against what the machine has.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from torch import nn

from mcdropout.checkpoint import CheckpointMeta
from mcdropout.config import MCConfig
from mcdropout.evaluation import predict, predict_in_blocks
from mcdropout.io import check_not_input, write_text
from mcdropout.tables import DataError, read_table, require_columns, write_table

BLOCK_VALUES = 1 << 24  # network outputs of one block of samples ([t, N, out]): 64 MiB as float32
ROW_BYTES = 64  # per value of a row kept while predicting: inputs, a few float64 columns, their CSV text


def block_samples(rows: int, outputs: int) -> int:
    """Samples per block: as many as keep one block within ``BLOCK_VALUES`` outputs (at least one)."""
    return max(1, BLOCK_VALUES // max(1, rows * outputs))


def memory_needed(rows: int, features: int, columns: int, outputs: int, samples: int) -> int:
    """Bytes a prediction of ``rows`` rows needs, roughly: the rows and their columns, and one block of samples
    (float32 outputs and their float64 copy)."""
    block = min(samples, block_samples(rows, outputs)) * rows * outputs * 12
    return rows * (features + columns) * ROW_BYTES + block


def available_memory() -> int | None:
    """Bytes this machine can give now (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(rows: int, features: int, meta: CheckpointMeta, mc: MCConfig) -> None:
    """One line instead of the OOM killer: the request's memory against what is available."""
    task = meta.make_task()
    columns = len(meta.classes) + 3 if meta.classes else 6
    need = memory_needed(rows, features, columns, task.out_dim, mc.samples)
    have = available_memory()
    if have is not None and need > have:
        raise DataError(f"predicting {rows:,} rows needs about {need / 2**30:,.1f} GiB of memory, more than the "
                        f"{have / 2**30:,.1f} GiB available; predict the rows in parts")


def prediction_columns(model: nn.Module, meta: CheckpointMeta, x: np.ndarray, mc: MCConfig) -> dict[str, np.ndarray]:
    """Regression: mean, std, lower, upper, epistemic_std, mean_standard; classification: prob_<label>, label,
    entropy, mutual_info. A row whose prediction is not finite (inputs far outside what the model has seen) is
    refused with one line naming it."""
    task = meta.make_task()
    standard = predict(model, x, task, "standard", 1, mc.seed, meta.noise_std)
    block = block_samples(len(x), task.out_dim)
    if block >= mc.samples:
        sampled = predict(model, x, task, "mc", mc.samples, mc.seed, meta.noise_std)
    else:
        sampled = predict_in_blocks(model, x, task, mc.samples, mc.seed, meta.noise_std, block)
    columns = task.prediction_columns(standard, sampled, mc.level)
    for name, values in columns.items():
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"row {row + 1}: the model's {name} is not finite (inputs far outside the range it "
                            f"was trained on?)")
    return columns


def predict_csv(model: nn.Module, meta: CheckpointMeta, input_path: str | Path, output_path: str | Path,
                mc: MCConfig) -> tuple[int, list[str]]:
    """Write the input's feature columns and the prediction columns; returns the row count and ignored columns."""
    check_not_input(output_path, {"input": input_path})
    table = read_table(input_path)
    features = meta.features or [f"x{i + 1}" for i in range(model.config["in_dim"])]
    require_columns(table, features, "feature column")
    check_memory(len(table.rows), len(features), meta, mc)
    x = table.numbers(features)
    columns = prediction_columns(model, meta, x, mc)
    text = write_table([*features, *columns], [*x.T, *columns.values()])
    if os.fspath(output_path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text(output_path, text)
    return len(x), [c for c in table.header if c not in features]
