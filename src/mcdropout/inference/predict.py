"""Predictions with uncertainty for users' own rows, read and written as CSV (atomically).

Input columns are matched to the model's features by name, in any order; columns the
model does not use are ignored (the CLI says which), missing ones are named in the error.
``-`` reads standard input or writes standard output.

Every MC value comes with its Monte Carlo standard error (``<column>_mc_se``, :mod:`mcdropout.scoring.mc_error`) and the
number of passes behind it (``samples``). With a tolerance, rows are sampled in rounds (``FIRST_SAMPLES`` passes,
then doubling) until the row's main standard error is below it, or ``max_samples``: a row that has converged stops
costing, and ``tolerance_met`` says which rows got there.

Memory does not grow with the number of MC samples T: where T samples of all rows would
exceed ``BLOCK_VALUES`` values, they are drawn in blocks and only running moments are kept
(the same distribution; below that size the one block is the single call). Before the
work, the memory the rows need is checked against what the machine has.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mcdropout.core.config import MCConfig, PredictionConfig
from mcdropout.core.io import check_not_input, write_text
from mcdropout.core.tasks import Task
from mcdropout.data.tables import DataError, read_table, require_columns, write_table
from mcdropout.inference.evaluation import predict
from mcdropout.inference.sampling import predict_mc_blocks
from mcdropout.nn.checkpoint import CheckpointMeta

BLOCK_VALUES = 1 << 24  # network outputs of one block of samples ([t, N, out]): 64 MiB as float32
ROW_BYTES = 64  # per value of a row kept while predicting: inputs, a few float64 columns, their CSV text
FIRST_SAMPLES = 10  # passes of the first round when sampling to a tolerance: enough to see a spread


def block_samples(rows: int, outputs: int) -> int:
    """Samples per block: as many as keep one block within ``BLOCK_VALUES`` outputs (at least one)."""
    return max(1, BLOCK_VALUES // max(1, rows * outputs))


def memory_needed(rows: int, features: int, columns: int, outputs: int, samples: int, moments: int = 0) -> int:
    """Bytes a prediction of ``rows`` rows needs, roughly: the rows and their columns, the running moments of each
    row (``moments`` float64 values), and one block of samples (float32 outputs and their float64 copy)."""
    block = min(samples, block_samples(rows, outputs)) * rows * outputs * 12
    return rows * ((features + columns) * ROW_BYTES + moments * 8) + block


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
    k = len(meta.classes or ())
    columns, moments = (2 * k + 6, k * k + 2 * k + 4) if k else (10, 6)  # values, their standard errors, samples
    mc = PredictionConfig.of(mc)
    samples = mc.samples if mc.tolerance is None else mc.max_samples
    need = memory_needed(rows, features, columns, task.out_dim, samples, moments)
    have = available_memory()
    if have is not None and need > have:
        raise DataError(f"predicting {rows:,} rows needs about {need / 2**30:,.1f} GiB of memory, more than the "
                        f"{have / 2**30:,.1f} GiB available; predict the rows in parts")


def mc_moments(model: nn.Module, task: Task, x: np.ndarray, mc: MCConfig, noise_std: float | None = None):
    """The running moments of each row's MC passes (:mod:`mcdropout.scoring.mc_error`): ``mc.samples`` passes, or with
    ``mc.tolerance`` rounds of ``FIRST_SAMPLES`` passes, then as many as the row has, until the row's main standard
    error is below the tolerance or it has ``mc.max_samples``. Round r draws from ``mc.seed`` (r = 0) or a seed made
    from (``mc.seed``, r): the same seed, the same answer."""
    moments = task.moments(len(x))
    xt = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: rows from pandas may be read-only
    mc = PredictionConfig.of(mc)
    if mc.tolerance is None:
        _draw(model, task, xt, moments, np.arange(len(x)), mc.samples, mc.seed)
        return moments
    active, total, cap = np.arange(len(x)), 0, mc.max_samples
    for r in itertools.count():
        passes = min(FIRST_SAMPLES if r == 0 else total, cap - total)
        seed = mc.seed if r == 0 else int(np.random.SeedSequence([mc.seed, r]).generate_state(1)[0])
        _draw(model, task, xt, moments, active, passes, seed)
        total += passes
        active = active[~(moments.main_error(noise_std)[active] < mc.tolerance)]  # NaN (one pass) is not below
        if total >= cap or len(active) == 0:
            return moments


def _draw(model: nn.Module, task: Task, xt: torch.Tensor, moments, rows: np.ndarray, passes: int, seed: int) -> None:
    """``passes`` MC passes of the rows ``rows`` into ``moments``, in blocks that bound the memory."""
    x = xt if len(rows) == len(xt) else xt[torch.from_numpy(rows)]
    for out in predict_mc_blocks(model, x, passes, block_samples(len(rows), task.out_dim), seed=seed):
        moments.add(task.link(out), rows)


def prediction_columns(model: nn.Module, meta: CheckpointMeta, x: np.ndarray,
                       mc: MCConfig | PredictionConfig) -> dict[str, np.ndarray]:
    """Regression: mean, std, lower, upper, epistemic_std, mean_standard (the heteroscedastic head: and
    aleatoric_std, its predicted noise); classification: prob_<label>, label,
    entropy, mutual_info. Each MC value has its standard error beside it (``<column>_mc_se``), then ``samples``
    (and ``tolerance_met`` with a tolerance). A row whose prediction is not finite (inputs far outside what the
    model has seen) is refused with one line naming it."""
    task, mc = meta.make_task(), PredictionConfig.of(mc)
    noise = meta.noise_std["mc"] if meta.noise_std else None
    standard = predict(model, x, task, "standard", 1, mc.seed, meta.noise_std)
    moments = mc_moments(model, task, x, mc, noise)
    values = task.prediction_columns(standard, moments.prediction(noise), mc.level)
    for name, column in values.items():
        if column.dtype.kind == "f" and not np.all(np.isfinite(column)):
            row = int(np.flatnonzero(~np.isfinite(column))[0])
            raise DataError(f"row {row + 1}: the model's {name} is not finite (inputs far outside the range it "
                            f"was trained on?)")
    errors = moments.errors(noise)
    columns: dict[str, np.ndarray] = {}
    for name, column in values.items():
        columns[name] = column
        if name in errors:
            columns[f"{name}_mc_se"] = errors[name]
    columns["samples"] = moments.count.copy()
    if mc.tolerance is not None:
        columns["tolerance_met"] = moments.main_error(noise) < mc.tolerance
    return columns


def tolerance_line(columns: dict[str, np.ndarray], tolerance: float, cap: int) -> str:
    """What sampling to a tolerance reached, in one line: rows within it, the passes they took, rows at the cap."""
    met, samples = columns["tolerance_met"], columns["samples"]
    line = (f"tolerance {tolerance:g}: {int(met.sum()):,} of {len(met):,} rows within it "
            f"({int(samples.min()):,} to {int(samples.max()):,} passes a row, {int(samples.sum()):,} in all)")
    if not met.all():
        line += f"; {int((~met).sum()):,} stopped at the cap of {cap:,} passes (--max-samples)"
    return line


def predict_csv(model: nn.Module, meta: CheckpointMeta, input_path: str | Path, output_path: str | Path,
                mc: MCConfig | PredictionConfig) -> tuple[int, list[str], str | None]:
    """Write the input's feature columns and the prediction columns; returns the row count, the ignored columns,
    and with a tolerance what it reached (:func:`tolerance_line`)."""
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
    mc = PredictionConfig.of(mc)
    note = None if mc.tolerance is None else tolerance_line(columns, mc.tolerance, mc.max_samples)
    return len(x), [c for c in table.header if c not in features], note
