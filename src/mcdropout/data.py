"""Synthetic data for the two tasks, and CSV reading/writing with clear errors.

Regression: a wiggly 1-D curve with Gaussian noise and *few* training points, so an
unregularised 128-128 MLP chases the noise. Classification: two interleaving
half-moons (scikit-learn's generator, no download). Files are CSVs with columns
``x1..xD`` and ``y``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcdropout.config import ClassificationData, DataConfig, RegressionData
from mcdropout.io import write_text
from mcdropout.paths import SPLITS, Paths


class DataError(ValueError):
    """A data file is missing, empty or malformed."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # [N, D] float32
    y: np.ndarray  # [N] float32

    def __len__(self) -> int:
        return len(self.y)


def regression_curve(x: np.ndarray) -> np.ndarray:
    """The noiseless target: smooth but with enough bends that heavy dropout underfits it."""
    return np.sin(2.0 * x) * np.exp(-0.1 * x**2) + 0.2 * x


def make_regression(cfg: RegressionData, seed: int) -> dict[str, Split]:
    rng = np.random.default_rng(seed)

    def noisy(x: np.ndarray) -> Split:
        y = regression_curve(x) + cfg.noise * rng.standard_normal(x.shape)
        return Split(x[:, None].astype(np.float32), y.astype(np.float32))

    def spread(n: int) -> np.ndarray:
        # Stratified uniform: one point per equal-width cell, so training points cover the range.
        edges = np.linspace(cfg.x_min, cfg.x_max, n + 1)
        return edges[:-1] + rng.uniform(size=n) * np.diff(edges)

    return {
        "train": noisy(spread(cfg.n_train)),
        "val": noisy(spread(cfg.n_val)),
        "test": noisy(np.linspace(cfg.x_min, cfg.x_max, cfg.n_test)),
    }


def make_classification(cfg: ClassificationData, seed: int) -> dict[str, Split]:
    from sklearn.datasets import make_moons

    out = {}
    for i, (name, n) in enumerate(zip(SPLITS, (cfg.n_train, cfg.n_val, cfg.n_test))):
        x, y = make_moons(n_samples=n, noise=cfg.noise, random_state=seed * 1000 + i)
        out[name] = Split(x.astype(np.float32), y.astype(np.float32))
    return out


GENERATORS = {"regression": make_regression, "classification": make_classification}  # keyed like DataConfig


def make_task_data(task: str, cfg: DataConfig) -> dict[str, Split]:
    return GENERATORS[task](getattr(cfg, task), cfg.seed)


def write_csv(path: str | Path, split: Split) -> None:
    """Write a split atomically as ``x1..xD,y``."""
    cols = [f"x{i + 1}" for i in range(split.x.shape[1])] + ["y"]
    rows = [",".join(cols)]
    rows += [",".join(repr(float(v)) for v in (*xi, yi)) for xi, yi in zip(split.x, split.y)]
    write_text(path, "\n".join(rows) + "\n")


def write_task_data(task: str, cfg: DataConfig) -> dict[str, Path]:
    splits = make_task_data(task, cfg)
    paths = {}
    for name, split in splits.items():
        paths[name] = Paths(data=Path(cfg.dir)).split_csv(task, name)
        write_csv(paths[name], split)
    return paths


def read_csv(path: str | Path, n_features: int | None = None, require_y: bool = True) -> Split:
    """Read ``x1..xD[,y]`` with errors that name the file, row and column at fault.

    ``n_features`` checks the feature count (a model's input width); ``require_y=False``
    reads inputs for prediction, where a ``y`` column is optional and ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"{path}: file is empty (expected a header x1,...,xD{',y' if require_y else ''})")
        header = [h.strip() for h in header]
        features = [h for h in header if h != "y"]
        expected = [f"x{i + 1}" for i in range(len(features))]
        if features != expected or not features:
            raise DataError(f"{path}: columns must be x1..xD then y, got {','.join(header)}")
        if require_y and "y" not in header:
            raise DataError(f"{path}: missing column y")
        if n_features is not None and len(features) != n_features:
            raise DataError(f"{path}: has {len(features)} feature column(s), the model expects {n_features}")
        values = []
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: line {lineno} has {len(row)} values, expected {len(header)}")
            parsed = []
            for col, v in zip(header, row):
                try:
                    f = float(v)
                except ValueError:
                    raise DataError(f"{path}: line {lineno}, column {col}: not a number: {v.strip()!r}") from None
                if not math.isfinite(f):
                    raise DataError(f"{path}: line {lineno}, column {col}: value is {v.strip()} (NaN/inf not allowed)")
                parsed.append(f)
            values.append(parsed)
    if not values:
        raise DataError(f"{path}: has a header but no rows")
    arr = np.asarray(values, dtype=np.float32)
    xi = [header.index(c) for c in features]
    y = arr[:, header.index("y")] if "y" in header else np.full(len(arr), np.nan, np.float32)
    return Split(arr[:, xi], y)


def load_task_data(task: str, data_dir: str | Path) -> dict[str, Split]:
    """Read ``<data_dir>/<task>/{train,val,test}.csv``."""
    paths = Paths(data=Path(data_dir))
    missing = [s for s in SPLITS if not paths.split_csv(task, s).is_file()]
    if missing:
        raise DataError(f"{paths.data_dir(task)}: missing {', '.join(s + '.csv' for s in missing)}; "
                        f"run `mcdropout data --task {task}` first")
    return {s: read_csv(paths.split_csv(task, s)) for s in SPLITS}
