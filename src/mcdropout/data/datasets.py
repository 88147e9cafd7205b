"""Datasets: built from their declared source, written once as ``data/<name>/``, read back.

``mcdropout data --dataset NAME`` writes ``train.csv``, ``val.csv``, ``test.csv`` (the
features by name, then the target as the user wrote it) and ``schema.json`` (task,
feature and target names, class labels, whether to standardise) into the folder as one
unit: a reader sees the old dataset or the whole new one. Everything after reads the
folder, never the source again, so a sweep and its report see the same rows.

Repeats: a study's seeds train on ``Dataset.repeat(i)``. Split 0 is the one written here; for real data whose
rows were split here (not three files of the user's, not generated data), split ``i > 0`` is a fresh random split
of all the rows with the same sizes, so that the spread over repeats counts which rows landed in the test set.

The task is the source's (synthetic, UCI, scikit-learn) or inferred from the target:
any value that is not a number, or integer values with at most ``MAX_INFERRED_CLASSES``
distinct ones, make it classification; other numbers regression. Class labels are
sorted (numerically where they are all numbers) and mapped to indices 0..K-1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.io import staged_dir, write_text
from mcdropout.core.paths import SPLITS, Paths
from mcdropout.core.tasks import Task, task_for
from mcdropout.data.sources import Raw, read_source
from mcdropout.data.tables import FLOAT32_MAX, DataError, read_table, require_columns, write_table

__all__ = ["DataError", "Dataset", "Schema", "Split", "build_dataset", "load_dataset", "write_dataset"]

MAX_INFERRED_CLASSES = 10
DATASET_FILES = (*(f"{s}.csv" for s in SPLITS), "schema.json")  # what `mcdropout data` writes in data/<name>/
MIN_TRAIN_PER_CLASS = 2
RESPLIT_SEED = 20_160_506  # repeat i's split: numpy's generator seeded with (RESPLIT_SEED, i)
# Values a dataset may hold: standardisation sums squares in float32 (train.standardizer), which overflow beyond
# ~1.8e19 and, summed over millions of rows, sooner; within this bound they stay finite.
MAX_VALUE = 1e15


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # [N, D] float32, raw (not standardised) feature values
    y: np.ndarray  # [N] float32: regression targets, or class indices

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Schema:
    name: str
    source: str
    task: str  # "regression" | "classification"
    features: tuple[str, ...]
    target: str
    classes: tuple[str, ...] | None  # the user's labels in index order (classification)
    standardize: bool
    resplit: bool = False  # repeats draw fresh random splits of the rows (real data split by the study)

    def make_task(self, head: str = "homoscedastic") -> Task:
        return task_for(self.classes, head)


@dataclass(frozen=True)
class Dataset:
    schema: Schema
    splits: dict[str, Split]
    head: str = "homoscedastic"  # model.head: the output of a regression network (the data do not depend on it)

    @property
    def task(self) -> Task:
        return self.schema.make_task(self.head)

    def repeat(self, i: int) -> Dataset:
        """The data of repeat ``i``: this split for ``i == 0`` or where the rows are not re-split, else a random
        split of all rows with the same sizes, the same for the same ``i`` (every class keeps at least
        ``MIN_TRAIN_PER_CLASS`` training rows)."""
        if i == 0 or not self.schema.resplit:
            return self
        sizes = {s: len(self.splits[s]) for s in SPLITS}
        x = np.concatenate([self.splits[s].x for s in SPLITS])
        y = np.concatenate([self.splits[s].y for s in SPLITS])
        rng = np.random.default_rng((RESPLIT_SEED, i))
        for _ in range(100):
            order = rng.permutation(len(y))
            cut = np.cumsum([sizes[s] for s in SPLITS])[:-1]
            parts = dict(zip(SPLITS, np.split(order, cut)))
            train = y[parts["train"]]
            if self.schema.classes is None or all(np.sum(train == k) >= MIN_TRAIN_PER_CLASS
                                                  for k in range(len(self.schema.classes))):
                return replace(self, splits={s: Split(x[parts[s]], y[parts[s]]) for s in SPLITS})
        raise DataError(f"{self.schema.name}: no random split keeps {MIN_TRAIN_PER_CLASS} training rows of every "
                        f"class; set sweep.resplit: false")


def infer_task(values: np.ndarray) -> str:
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        return "classification"
    integral = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
    return "classification" if integral and len(np.unique(numbers)) <= MAX_INFERRED_CLASSES else "regression"


def sort_labels(labels: set[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted(labels, key=float))
    except ValueError:
        return tuple(sorted(labels))


def _split(raw: Raw, name: str, params: Params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if "all" not in raw.parts:
        return raw.parts
    spec = params.dataset(name)
    x, y = raw.parts["all"]
    n = len(y)
    n_val, n_test = int(round(spec.val_fraction * n)), int(round(spec.test_fraction * n))
    if n - n_val - n_test < 2 or n_val < 1 or n_test < 1:
        raise DataError(f"{raw.where['all']}: {n} rows are fewer than the splits need (at least 2 train, 1 val, "
                        f"1 test at val_fraction {spec.val_fraction:g}, test_fraction {spec.test_fraction:g})")
    order = np.random.default_rng(spec.split_seed).permutation(n)
    cuts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {s: (x[cuts[s]], y[cuts[s]]) for s in SPLITS}


def _targets(raw: Raw, parts: dict, task: str, name: str) -> tuple[dict[str, np.ndarray], tuple[str, ...] | None]:
    """Targets as float32 values or class indices, and the class labels."""
    if task == "regression":
        out = {}
        for s, (_, y) in parts.items():
            try:
                out[s] = np.array([float(v) for v in y], dtype=np.float64)
            except ValueError:
                bad = next(v for v in y if not _is_number(v))
                raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: target {raw.target!r} has a "
                                f"non-numeric value {bad!r} for a regression") from None
            if not np.all(np.isfinite(out[s])):
                raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: target {raw.target!r} has NaN/inf")
            if np.any(np.abs(out[s]) > FLOAT32_MAX):
                raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: target {raw.target!r} has a value "
                                f"beyond the float32 range (±{FLOAT32_MAX:.3g})")
            out[s] = out[s].astype(np.float32)
        return out, None
    labels = {s: np.array([str(v) for v in y], dtype=object) for s, (_, y) in parts.items()}
    classes = sort_labels(set(labels["train"]))
    counts = {c: int(np.sum(labels["train"] == c)) for c in classes}
    if len(classes) < 2:
        raise DataError(f"dataset {name}: the training split has one class only ({classes[0]!r})")
    rare = [c for c, k in counts.items() if k < MIN_TRAIN_PER_CLASS]
    if rare:
        raise DataError(f"dataset {name}: class {rare[0]!r} has {counts[rare[0]]} training example(s); "
                        f"each class needs at least {MIN_TRAIN_PER_CLASS}")
    index = {c: i for i, c in enumerate(classes)}
    for s in ("val", "test"):
        unseen = sorted(set(labels[s]) - set(classes))
        if unseen:
            raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: label {unseen[0]!r} in the {s} split "
                            f"never occurs in training (classes: {', '.join(classes)})")
    return {s: np.array([index[v] for v in ls], dtype=np.float32) for s, ls in labels.items()}, classes


def _check_magnitudes(raw: Raw, parts: dict, targets: dict[str, np.ndarray] | None) -> None:
    """Features (and regression targets) within ±``MAX_VALUE``: one line naming the column, not a training that
    overflows."""
    for s, (x, _) in parts.items():
        big = np.abs(np.asarray(x, dtype=np.float64)) > MAX_VALUE
        if big.any():
            column = raw.features[int(np.argwhere(big)[0][1])]
            raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: feature {column!r} has values beyond "
                            f"±{MAX_VALUE:g}; rescale the column (e.g. to thousands or millions)")
        if targets is not None and np.any(np.abs(targets[s].astype(np.float64)) > MAX_VALUE):
            raise DataError(f"{raw.where.get(s, raw.where.get('all'))}: target {raw.target!r} has values beyond "
                            f"±{MAX_VALUE:g}; rescale the column (e.g. to thousands or millions)")


def _is_number(v: object) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def build_dataset(name: str, params: Params) -> Dataset:
    """Read the declared source of ``name``, split it, check it, map its labels."""
    spec = params.dataset(name)
    raw = read_source(name, spec, params.data)
    parts = _split(raw, name, params)
    task = spec.task if spec.task != "auto" else raw.task or infer_task(np.concatenate([y for _, y in parts.values()]))
    targets, classes = _targets(raw, parts, task, name)
    _check_magnitudes(raw, parts, targets if classes is None else None)
    resplit = spec.source != "synthetic" and "all" in raw.parts and params.sweep.resplit
    schema = Schema(name, spec.source, task, tuple(raw.features), raw.target, classes, spec.standardized, resplit)
    return Dataset(schema, {s: Split(parts[s][0].astype(np.float32), targets[s]) for s in SPLITS})


def write_dataset(name: str, params: Params) -> dict[str, Path]:
    """Build ``name`` and write ``data/<name>/`` as one unit; returns the split files."""
    dataset = build_dataset(name, params)
    schema = dataset.schema
    folder = Paths.of(params).data_dir(name)
    with staged_dir(folder, owns=DATASET_FILES) as staging:
        for s, split in dataset.splits.items():
            target = split.y if schema.classes is None else [schema.classes[int(i)] for i in split.y]
            header = [*schema.features, schema.target]
            write_text(staging / f"{s}.csv", write_table(header, [*split.x.T, target]))
        write_text(staging / "schema.json", json.dumps(asdict(schema), indent=2) + "\n")
    return {s: folder / f"{s}.csv" for s in SPLITS}


def load_schema(name: str, data_dir: str | Path) -> Schema:
    folder = Paths(data=Path(data_dir)).data_dir(name)
    path = folder / "schema.json"
    if not path.is_file():
        raise DataError(f"{folder}: no dataset here; run `mcdropout data --dataset {name}` first")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["features"] = tuple(raw["features"])
        raw["classes"] = None if raw["classes"] is None else tuple(raw["classes"])
        return Schema(**raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: damaged dataset schema ({type(exc).__name__}); rerun `mcdropout data`") from None


def load_dataset(name: str, data_dir: str | Path, head: str = "homoscedastic") -> Dataset:
    """Read ``data/<name>/`` as written by :func:`write_dataset`; ``head``: ``model.head``, which makes the task of
    a regression (:attr:`Dataset.task`)."""
    schema = load_schema(name, data_dir)
    paths = Paths(data=Path(data_dir))
    splits = {}
    for s in SPLITS:
        table = read_table(paths.split_csv(name, s))
        require_columns(table, [*schema.features, schema.target])
        x = table.numbers(list(schema.features))
        if schema.classes is None:
            y = table.numbers([schema.target])[:, 0]
        else:
            index = {c: i for i, c in enumerate(schema.classes)}
            labels = table.column(schema.target)
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise DataError(f"{table.path}: unknown label {unknown[0]!r} (classes: {', '.join(schema.classes)})")
            y = np.array([index[v] for v in labels], dtype=np.float32)
        splits[s] = Split(x, y)
    return Dataset(schema, splits, head)
