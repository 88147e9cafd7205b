"""Where a dataset's rows come from: the seed's generators, a user's CSV files, scikit-learn's
bundled tables, or a UCI folder in the published layout of Gal & Ghahramani.

Each reader returns :class:`Raw`: feature names, the target's name, and either one table
to split (``"all"``) or the three splits as given. Targets stay as read (numbers or the
user's labels); :mod:`mcdropout.data.datasets` decides the task, splits, checks and writes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcdropout.core.config import ClassificationData, DataConfig, DatasetSpec, RegressionData
from mcdropout.core.paths import SPLITS
from mcdropout.data.tables import FLOAT32_MAX, DataError, Table, read_table, require_columns


@dataclass
class Raw:
    features: list[str]
    target: str
    parts: dict[str, tuple[np.ndarray, np.ndarray]]  # "all" or train/val/test -> (x float32 [N, D], target [N])
    where: dict[str, str]  # part -> what to name in an error (a file, or the source)
    task: str | None = None  # known from the source (synthetic, uci); None: inferred from the target


# --- synthetic: the seed study ----------------------------------------------------------


def regression_curve(x: np.ndarray) -> np.ndarray:
    """The noiseless target: smooth but with enough bends that heavy dropout underfits it."""
    return np.sin(2.0 * x) * np.exp(-0.1 * x**2) + 0.2 * x


def make_regression(cfg: RegressionData, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Few noisy points spread over the range (train, val), a dense grid (test)."""
    rng = np.random.default_rng(seed)

    def noisy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = regression_curve(x) + cfg.noise * rng.standard_normal(x.shape)
        return x[:, None].astype(np.float32), y.astype(np.float32)

    def spread(n: int) -> np.ndarray:
        # Stratified uniform: one point per equal-width cell, so training points cover the range.
        edges = np.linspace(cfg.x_min, cfg.x_max, n + 1)
        return edges[:-1] + rng.uniform(size=n) * np.diff(edges)

    return {"train": noisy(spread(cfg.n_train)), "val": noisy(spread(cfg.n_val)),
            "test": noisy(np.linspace(cfg.x_min, cfg.x_max, cfg.n_test))}


def moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two interleaving half-moons, shuffled, with Gaussian noise, and their labels (0: the
    upper moon): scikit-learn's ``make_moons(n, noise=noise, random_state=seed)``, point for point, without
    importing scikit-learn (two seconds of a stage that takes less than one without it)."""
    n_out, n_in = n // 2, n - n // 2
    upper, lower = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.vstack([np.append(np.cos(upper), 1 - np.cos(lower)),
                   np.append(np.sin(upper), 1 - np.sin(lower) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    rng = np.random.RandomState(seed)
    order = np.arange(n)
    rng.shuffle(order)
    x, y = x[order], y[order]
    return x + rng.normal(scale=noise, size=x.shape), y


def make_moons(cfg: ClassificationData, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two interleaving half-moons (:func:`moons`) per split, labels 0 and 1."""
    out = {}
    for i, (name, n) in enumerate(zip(SPLITS, (cfg.n_train, cfg.n_val, cfg.n_test))):
        x, y = moons(n, cfg.noise, seed * 1000 + i)
        out[name] = (x.astype(np.float32), y.astype(np.float32))
    return out


def synthetic(name: str, spec: DatasetSpec, cfg: DataConfig) -> Raw:
    generator = spec.generator or ("moons" if name == "classification" else "regression")
    if generator == "moons":
        parts = {k: (x, np.array([str(int(v)) for v in y], dtype=object)) for k, (x, y) in
                 make_moons(cfg.classification, cfg.seed).items()}
        return Raw(["x1", "x2"], "y", parts, dict.fromkeys(parts, f"synthetic {name}"), "classification")
    parts = make_regression(cfg.regression, cfg.seed)
    return Raw(["x1"], "y", parts, dict.fromkeys(parts, f"synthetic {name}"), "regression")


# --- a user's CSV files ------------------------------------------------------------------


def _from_table(table: Table, features: list[str], target: str) -> tuple[np.ndarray, np.ndarray]:
    require_columns(table, [*features, target])
    return table.numbers(features), np.array(table.column(target), dtype=object)


def csv(spec: DatasetSpec) -> Raw:
    files = {"all": spec.path} if spec.path is not None else {s: getattr(spec, s) for s in SPLITS}
    tables = {part: read_table(path) for part, path in files.items()}
    first = next(iter(tables.values()))
    if spec.target not in first.header:
        raise DataError(f"{first.path}: no target column {spec.target!r} (columns: {', '.join(first.header)})")
    features = list(spec.features or [h for h in first.header if h != spec.target])
    if not features:
        raise DataError(f"{first.path}: no feature columns besides the target {spec.target!r}")
    if spec.target in features:
        raise DataError(f"{first.path}: the target {spec.target!r} is also listed as a feature")
    for table in tables.values():
        if set(table.header) != set(first.header):
            raise DataError(f"{table.path}: columns differ from {first.path} "
                            f"({', '.join(table.header)} against {', '.join(first.header)})")
    parts = {part: _from_table(t, features, spec.target) for part, t in tables.items()}
    return Raw(features, spec.target, parts, {part: str(t.path) for part, t in tables.items()})


# --- scikit-learn's bundled tables (no download) -----------------------------------------


def sklearn(spec: DatasetSpec) -> Raw:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{spec.name}")()
    x = np.asarray(bunch.data, dtype=np.float32)
    names = getattr(bunch, "feature_names", None)
    features = [str(n) for n in names] if names is not None and len(names) == x.shape[1] else \
        [f"x{i + 1}" for i in range(x.shape[1])]
    target_names = getattr(bunch, "target_names", None)
    if target_names is not None:  # classification: the set's own class names
        y = np.array([str(target_names[i]) for i in bunch.target], dtype=object)
    else:
        y = np.asarray(bunch.target, dtype=np.float64)
    return Raw(features, "target", {"all": (x, y)}, {"all": f"scikit-learn's {spec.name}"},
               "classification" if target_names is not None else "regression")


# --- a UCI folder in the published layout --------------------------------------------------

UCI_REQUIRED = ("data.txt", "index_features.txt", "index_target.txt", "n_splits.txt", "n_hidden.txt",
                "n_epochs.txt", "dropout_rates.txt", "tau_values.txt")


@dataclass
class UCIDataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    n_splits: int
    n_hidden: int
    n_epochs: int
    dropout_rates: list[float]
    taus: list[float]
    folder: Path

    def split_files(self, i: int) -> list[Path]:
        return [self.folder / f"index_{kind}_{i}.txt" for kind in ("train", "test")]

    def split(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Train and test row indices of split ``i``; a one-line error for a missing file or a bad index."""
        out = []
        for f in self.split_files(i):
            if not f.is_file():
                raise DataError(f"{f}: missing (split {i} of {self.name})")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # numpy warns about an empty file: refused below
                    idx = np.loadtxt(f, dtype=int, ndmin=1)
            except (ValueError, OverflowError, UnicodeDecodeError):
                raise DataError(f"{f}: not a list of row indices") from None
            if idx.ndim != 1:
                raise DataError(f"{f}: not a list of row indices (one per line)")
            if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(self.y):
                raise DataError(f"{f}: row indices outside 0-{len(self.y) - 1}")
            out.append(idx)
        if len(out[0]) < 3:  # the last 20% of the training rows validate: at least one row each
            raise DataError(f"{self.split_files(i)[0]}: {len(out[0])} training row(s); at least 3 are needed")
        return out[0], out[1]


def load_uci(data_dir: str | Path, name: str) -> UCIDataset:
    folder = Path(data_dir) / name
    if Path(name).name != name or name in (".", ".."):
        raise DataError(f"UCI dataset name {name!r} must be a folder name, not a path")
    if not folder.is_dir():
        raise DataError(f"{folder}: no such dataset folder")
    for f in UCI_REQUIRED:
        if not (folder / f).is_file():
            raise DataError(f"{folder / f}: missing (a UCI dataset folder needs {', '.join(UCI_REQUIRED)})")

    def read(f: str, dtype=float) -> np.ndarray:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy warns about an empty file: refused below
                out = np.loadtxt(folder / f, dtype=dtype, ndmin=1)
        except (ValueError, OverflowError) as exc:
            raise DataError(f"{folder / f}: not a whitespace-separated table of numbers ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{folder / f}: cannot be read ({type(exc).__name__})") from None
        if out.size == 0:
            raise DataError(f"{folder / f}: empty")
        return out

    data = read("data.txt")
    data = data[:, None] if data.ndim == 1 else data
    features, target = read("index_features.txt", int), int(read("index_target.txt", int)[0])
    if len(features) == 0 or min(target, features.min()) < 0 or max(target, features.max()) >= data.shape[1]:
        raise DataError(f"{folder}: column indices outside 0-{data.shape[1] - 1} (the columns of data.txt)")
    if not np.isfinite(data).all() or np.abs(data).max(initial=0) > FLOAT32_MAX:
        raise DataError(f"{folder / 'data.txt'}: NaN, inf or values beyond float32 range")
    counts = {f: int(read(f, int)[0]) for f in ("n_splits.txt", "n_hidden.txt", "n_epochs.txt")}
    rates, taus = read("dropout_rates.txt"), read("tau_values.txt")
    bad = [f for f, v in counts.items() if v < 1]
    bad += ["dropout_rates.txt"] * (len(rates) == 0 or not ((rates >= 0) & (rates < 1)).all())
    bad += ["tau_values.txt"] * (len(taus) == 0 or not (np.isfinite(taus) & (taus > 0)).all())
    if bad:
        raise DataError(f"{folder / bad[0]}: out of range (n_*: integers >= 1, dropout rates in [0, 1), "
                        f"tau values finite and > 0)")
    return UCIDataset(name, data[:, features].astype(np.float32), data[:, target].astype(np.float32),
                      counts["n_splits.txt"], counts["n_hidden.txt"], counts["n_epochs.txt"], rates.tolist(),
                      taus.tolist(), folder)


def uci(spec: DatasetSpec) -> Raw:
    """Validation is the last 20% of the split's training indices, as in the protocol."""
    ds = load_uci(spec.dir, spec.name)
    if not 0 <= spec.split < ds.n_splits:
        raise DataError(f"{ds.folder}: no split {spec.split} (n_splits.txt says {ds.n_splits})")
    train_idx, test_idx = ds.split(spec.split)
    cut = int(round(0.8 * len(train_idx)))
    parts = {name: (ds.x[idx], ds.y[idx].astype(np.float64))
             for name, idx in (("train", train_idx[:cut]), ("val", train_idx[cut:]), ("test", test_idx))}
    features = [f"x{i + 1}" for i in range(ds.x.shape[1])]
    return Raw(features, "y", parts, dict.fromkeys(parts, f"{ds.folder} split {spec.split}"), "regression")


def read_source(name: str, spec: DatasetSpec, cfg: DataConfig) -> Raw:
    if spec.source == "synthetic":
        return synthetic(name, spec, cfg)
    if spec.source == "csv":
        return csv(spec)
    if spec.source == "sklearn":
        return sklearn(spec)
    return uci(spec)
