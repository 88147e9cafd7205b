"""Typed, validated configuration loaded once from ``params.yaml``.

Every other module receives these dataclasses, never raw dictionaries: a bad value
is reported here, at the edge, as a :class:`ConfigError` naming the key and the
allowed range, and the CLI turns that into a one-line message and exit code 2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS = ("regression", "classification")
ACTIVATIONS = ("relu", "tanh", "gelu", "elu")


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


@dataclass(frozen=True)
class RegressionData:
    n_train: int = 30
    n_val: int = 30
    n_test: int = 500
    noise: float = 0.3
    x_min: float = -4.0
    x_max: float = 4.0


@dataclass(frozen=True)
class ClassificationData:
    n_train: int = 200
    n_val: int = 200
    n_test: int = 1000
    noise: float = 0.3


@dataclass(frozen=True)
class DataConfig:
    seed: int = 0
    dir: str = "data"
    regression: RegressionData = field(default_factory=RegressionData)
    classification: ClassificationData = field(default_factory=ClassificationData)


DROPOUT_KINDS = ("fixed", "concrete")


@dataclass(frozen=True)
class ConcreteConfig:
    """Concrete dropout (Gal, Hron & Kendall 2017): each hidden dropout layer learns its p."""

    init_p: float = 0.1  # every layer starts here
    temperature: float = 0.1  # of the relaxed mask (the paper's value)
    length_scale: float = 0.01  # prior length-scale l in the weight term l^2 / N ||W||^2 / (1 - p)


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    input_p: float = 0.0
    dropout: str = "fixed"  # fixed: nn.Dropout(p) | concrete: p learned per layer
    concrete: ConcreteConfig = field(default_factory=ConcreteConfig)


@dataclass(frozen=True)
class TrainConfig:
    p: float = 0.2
    seed: int = 0
    # Per task: the 30-point regression needs many full-batch steps to overfit, the
    # 200-point classification far fewer. An integer in params.yaml applies to both.
    epochs: dict[str, int] = field(default_factory=lambda: {"regression": 3000, "classification": 1000})
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 0  # 0 means full batch
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    models_dir: str = "models"

    def epochs_for(self, task: str) -> int:
        return self.epochs[task]


@dataclass(frozen=True)
class SweepConfig:
    p: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9)
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class CompareConfig:
    """The ``compare`` stage: other regularisers against the sweep, same data, seeds and epochs."""

    l2: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)  # weight-decay grid of the no-dropout MLP
    patience: int = 200  # early stopping: epochs without a lower val loss before the member stops
    dropout_l2_p: float | None = 0.5  # dropout at this rate plus each weight decay of the grid (None: skip)


@dataclass(frozen=True)
class MCConfig:
    samples: int = 100
    seed: int = 0
    level: float = 0.95


@dataclass(frozen=True)
class MLflowConfig:
    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "mlruns"
    experiment_prefix: str = "mcdropout"
    enabled: bool = True
    # Per-epoch curves longer than this are logged at this many evenly spaced epochs
    # (the last always included): SQLite takes ~45 ms per 1000 values, and a sweep must
    # not spend longer logging than training.
    max_history_points: int = 1000


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    mc: MCConfig = field(default_factory=MCConfig)
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)

    def override(self, **dotted: Any) -> Params:
        """Return a copy with ``section.key`` values replaced (``None`` values are skipped)."""
        raw = to_dict(self)
        for key, value in dotted.items():
            if value is None:
                continue
            *path, leaf = key.split(".")
            node = raw
            for part in path:
                node = node[part]
            node[leaf] = value
        return from_dict(raw)


def to_dict(params: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) for YAML, JSON and MLflow."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(params)


# --- validation -------------------------------------------------------------------


def _int(raw: dict, section: str, key: str, default: int, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{section}.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(
    raw: dict, section: str, key: str, default: float, lo: float, hi: float, hi_open: bool = False
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{section}.{key} must be a number, got {value!r}")
    value = float(value)
    bad = value < lo or (value >= hi if hi_open else value > hi)
    if bad or value != value:
        bracket = ")" if hi_open else "]"
        raise ConfigError(f"{section}.{key} must be in [{lo:g}, {hi:g}{bracket}, got {value!r}")
    return value


def _p(raw: dict, section: str, key: str, default: float) -> float:
    return _float(raw, section, key, default, 0.0, 1.0, hi_open=True)


def _positive(raw: dict, section: str, key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{section}.{key} must be a number > 0, got {value!r}")
    return float(value)


def _str(raw: dict, section: str, key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{section}.{key} must be a non-empty string, got {value!r}")
    return value


def _section(raw: dict, name: str) -> dict:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


def _check_keys(raw: dict, name: str, cls: type) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _epochs(value: Any) -> dict[str, int]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(TASKS))
        if unknown:
            names = ", ".join(map(str, unknown))
            raise ConfigError(f"train.epochs: unknown task(s) {names}; known: {', '.join(TASKS)}")
        merged = {**TrainConfig().epochs, **value}
        return {task: _int(merged, "train.epochs", task, 1) for task in TASKS}
    n = _int({"epochs": value}, "train", "epochs", 1)
    return dict.fromkeys(TASKS, n)


def from_dict(raw: dict[str, Any]) -> Params:
    """Validate a nested dict (as read from ``params.yaml``) into :class:`Params`."""
    if not isinstance(raw, dict):
        raise ConfigError("params must be a mapping of sections (data, model, train, sweep, compare, mc, mlflow)")
    _check_keys(raw, "params", Params)

    d = _section(raw, "data")
    _check_keys(d, "data", DataConfig)
    r = _section(d, "regression")
    _check_keys(r, "data.regression", RegressionData)
    c = _section(d, "classification")
    _check_keys(c, "data.classification", ClassificationData)
    s = "data.regression"
    reg = RegressionData(
        n_train=_int(r, s, "n_train", RegressionData.n_train),
        n_val=_int(r, s, "n_val", RegressionData.n_val),
        n_test=_int(r, s, "n_test", RegressionData.n_test),
        noise=_float(r, s, "noise", RegressionData.noise, 0.0, float("inf")),
        x_min=_float(r, s, "x_min", RegressionData.x_min, -1e6, 1e6),
        x_max=_float(r, s, "x_max", RegressionData.x_max, -1e6, 1e6),
    )
    if reg.x_max <= reg.x_min:
        raise ConfigError(f"data.regression.x_max must be > x_min ({reg.x_min:g}), got {reg.x_max:g}")
    s = "data.classification"
    cls = ClassificationData(
        n_train=_int(c, s, "n_train", ClassificationData.n_train),
        n_val=_int(c, s, "n_val", ClassificationData.n_val),
        n_test=_int(c, s, "n_test", ClassificationData.n_test),
        noise=_float(c, s, "noise", ClassificationData.noise, 0.0, float("inf")),
    )
    data = DataConfig(
        seed=_int(d, "data", "seed", DataConfig.seed, minimum=0),
        dir=_str(d, "data", "dir", DataConfig.dir),
        regression=reg,
        classification=cls,
    )

    m = _section(raw, "model")
    _check_keys(m, "model", ModelConfig)
    hidden = m.get("hidden", list(ModelConfig.hidden))
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if (
        not isinstance(hidden, (list, tuple))
        or not hidden
        or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
    ):
        raise ConfigError(f"model.hidden must be a non-empty list of integers >= 1, got {hidden!r}")
    activation = m.get("activation", ModelConfig.activation)
    if activation not in ACTIVATIONS:
        raise ConfigError(f"model.activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    dropout = m.get("dropout", ModelConfig.dropout)
    if dropout not in DROPOUT_KINDS:
        raise ConfigError(f"model.dropout must be one of {', '.join(DROPOUT_KINDS)}, got {dropout!r}")
    cc = _section(m, "concrete")
    _check_keys(cc, "model.concrete", ConcreteConfig)
    init_p = _p(cc, "model.concrete", "init_p", ConcreteConfig.init_p)
    if init_p <= 0:
        raise ConfigError(f"model.concrete.init_p must be in (0, 1), got {init_p!r}")
    concrete = ConcreteConfig(
        init_p=init_p,
        temperature=_positive(cc, "model.concrete", "temperature", ConcreteConfig.temperature),
        length_scale=_positive(cc, "model.concrete", "length_scale", ConcreteConfig.length_scale),
    )
    model = ModelConfig(
        hidden=tuple(hidden), activation=activation, input_p=_p(m, "model", "input_p", 0.0), dropout=dropout,
        concrete=concrete,
    )

    t = _section(raw, "train")
    _check_keys(t, "train", TrainConfig)
    devices = t.get("devices", "auto")
    ok_int = isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1
    ok_list = isinstance(devices, list) and all(isinstance(i, int) for i in devices)
    if not (devices == "auto" or ok_int or ok_list):
        raise ConfigError(f"train.devices must be 'auto', an integer >= 1 or a list of ids, got {devices!r}")
    train = TrainConfig(
        p=_p(t, "train", "p", TrainConfig.p),
        seed=_int(t, "train", "seed", TrainConfig.seed, minimum=0),
        epochs=_epochs(t.get("epochs", TrainConfig().epochs)),
        lr=_positive(t, "train", "lr", TrainConfig.lr),
        weight_decay=_float(t, "train", "weight_decay", 0.0, 0.0, float("inf")),
        batch_size=_int(t, "train", "batch_size", TrainConfig.batch_size, minimum=0),
        accelerator=_str(t, "train", "accelerator", TrainConfig.accelerator),
        devices=devices,
        strategy=_str(t, "train", "strategy", TrainConfig.strategy),
        models_dir=_str(t, "train", "models_dir", TrainConfig.models_dir),
    )

    w = _section(raw, "sweep")
    _check_keys(w, "sweep", SweepConfig)
    ps = w.get("p", list(SweepConfig.p))
    seeds = w.get("seeds", list(SweepConfig.seeds))
    if not isinstance(ps, list) or not ps:
        raise ConfigError(f"sweep.p must be a non-empty list of rates in [0, 1), got {ps!r}")
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"sweep.seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    sweep = SweepConfig(
        p=tuple(_p({"p": v}, "sweep", "p", 0.0) for v in ps),
        seeds=tuple(_int({"seeds": v}, "sweep", "seeds", 0, minimum=0) for v in seeds),
    )
    if len(set(sweep.p)) != len(sweep.p) or len(set(sweep.seeds)) != len(sweep.seeds):
        raise ConfigError("sweep.p and sweep.seeds must not repeat values")

    cmp = _section(raw, "compare")
    _check_keys(cmp, "compare", CompareConfig)
    l2 = cmp.get("l2", list(CompareConfig.l2))
    if not isinstance(l2, list) or not l2:
        raise ConfigError(f"compare.l2 must be a non-empty list of numbers > 0, got {l2!r}")
    compare = CompareConfig(
        l2=tuple(_positive({"l2": v}, "compare", "l2", 1.0) for v in l2),
        patience=_int(cmp, "compare", "patience", CompareConfig.patience),
        dropout_l2_p=None if cmp.get("dropout_l2_p", 0.5) is None
        else _p(cmp, "compare", "dropout_l2_p", CompareConfig.dropout_l2_p),
    )
    if len(set(compare.l2)) != len(compare.l2):
        raise ConfigError("compare.l2 must not repeat values")
    if compare.dropout_l2_p == 0:
        raise ConfigError("compare.dropout_l2_p must be in (0, 1), or null to leave dropout + L2 out; got 0")

    k = _section(raw, "mc")
    _check_keys(k, "mc", MCConfig)
    mc = MCConfig(
        samples=_int(k, "mc", "samples", MCConfig.samples),
        seed=_int(k, "mc", "seed", MCConfig.seed, minimum=0),
        level=_float(k, "mc", "level", MCConfig.level, 0.0, 1.0, hi_open=True),
    )
    if mc.level <= 0:
        raise ConfigError(f"mc.level must be in (0, 1), got {mc.level!r}")

    f = _section(raw, "mlflow")
    _check_keys(f, "mlflow", MLflowConfig)
    enabled = f.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"mlflow.enabled must be true or false, got {enabled!r}")
    mlflow = MLflowConfig(
        tracking_uri=_str(f, "mlflow", "tracking_uri", MLflowConfig.tracking_uri),
        artifact_location=_str(f, "mlflow", "artifact_location", MLflowConfig.artifact_location),
        experiment_prefix=_str(f, "mlflow", "experiment_prefix", MLflowConfig.experiment_prefix),
        enabled=enabled,
        max_history_points=_int(f, "mlflow", "max_history_points", MLflowConfig.max_history_points),
    )
    return Params(data=data, model=model, train=train, sweep=sweep, compare=compare, mc=mc, mlflow=mlflow)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raises :class:`ConfigError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"params file {path} is not valid YAML{where}") from exc
    return from_dict(raw or {})


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task
