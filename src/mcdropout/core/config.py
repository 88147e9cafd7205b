"""Typed, validated configuration loaded once from ``params.yaml``.

Every other module receives these frozen models, never raw dictionaries: a bad value
is reported here, at the edge, as a :class:`ConfigError` naming the dotted key and
what is allowed, and the CLI turns that into a one-line message and exit code 2.

Why declarative (pydantic): each key states its type, range and default once, in the
class body, and the defaults equal ``params.yaml`` (a test checks it). The constrained
types (:mod:`mcdropout.core.constraints`) carry the wording of what they allow, so whichever
check fails the error reads ``section.key must be <allowed>, got <value>``. Ints reject
bools and floats must be finite, everywhere. Where the params put files is checked apart
(:mod:`mcdropout.core.workspace`).
"""

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticCustomError, ValidationError

from mcdropout.core.active_settings import ACQUISITION, DEFAULT_ACTIVE, ActiveConfig  # noqa: F401 - re-exported
from mcdropout.core.constraints import (  # noqa: F401 - MAX_SAMPLES: the cap's one home, read from here too
    MAX_SAMPLES,
    Coordinate,
    Count,
    Devices,
    Hidden,
    Natural,
    Noise,
    NonNegative,
    OpenUnit,
    Positive,
    Rate,
    Rows,
    Samples,
    Seed,
    Switch,
    Text,
    allowing,
    bad,
    grid_of,
    list_of,
    one_of,
)
from mcdropout.core.section import Section as _Section

TASKS = ("regression", "classification")
SOURCES = ("synthetic", "csv", "sklearn", "uci")
SKLEARN_SETS = ("diabetes", "breast_cancer", "wine", "iris", "digits")  # shipped inside scikit-learn
# synthetic generators: the seed's 1-D curve (settings: data.regression), two moons (data.classification)
GENERATORS = ("regression", "moons")
ACTIVATIONS = ("relu", "tanh", "gelu", "elu")
DROPOUT_KINDS = ("fixed", "concrete")
HEADS = ("homoscedastic", "heteroscedastic")  # a regression network's output: its mean, or a mean and a variance


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""




# --- sections: each key's type and default, once ---------------------------------------


class RegressionData(_Section):
    n_train: Rows = 30
    n_val: Rows = 30
    n_test: Rows = 500
    noise: Noise = 0.3
    x_min: Coordinate = -4.0
    x_max: Coordinate = 4.0

    @field_validator("x_max")
    @classmethod
    def _above_x_min(cls, x_max: float, info: ValidationInfo) -> float:
        x_min = info.data.get("x_min")  # absent when x_min itself failed
        if x_min is not None and x_max <= x_min:
            raise bad(f"> x_min ({x_min:g})")
        return x_max


class ClassificationData(_Section):
    n_train: Rows = 200
    n_val: Rows = 200
    n_test: Rows = 1000
    noise: Noise = 0.3


class DataConfig(_Section):
    seed: Seed = 0
    dir: Text = "data"
    regression: RegressionData = RegressionData()
    classification: ClassificationData = ClassificationData()


class ConcreteConfig(_Section):
    """Concrete dropout (Gal, Hron & Kendall 2017): each hidden dropout layer learns its p."""

    init_p: OpenUnit = 0.1  # every layer starts here
    temperature: Positive = 0.1  # of the relaxed mask (the paper's value)
    length_scale: Positive = 0.01  # prior length-scale l in the weight term l^2 / N ||W||^2 / (1 - p)


class ModelConfig(_Section):
    hidden: Hidden = (128, 128)
    activation: one_of(ACTIVATIONS) = "relu"
    input_p: Rate = 0.0
    dropout: one_of(DROPOUT_KINDS) = "fixed"  # fixed: nn.Dropout(p) | concrete: p learned per layer
    concrete: ConcreteConfig = ConcreteConfig()
    head: one_of(HEADS) = "homoscedastic"  # regression: heteroscedastic predicts a variance per input (classification:
                                           # no such head; its outputs are already a distribution)


class TrainConfig(_Section):
    p: Rate = 0.2
    seed: Seed = 0
    epochs: Count = 1000  # for datasets that do not set their own (datasets.<name>.epochs)
    lr: Positive = 3e-3
    weight_decay: NonNegative = 0.0
    batch_size: Natural = 0  # 0 means full batch
    accelerator: Text = "auto"
    devices: Devices = "auto"
    strategy: Text = "auto"
    models_dir: Text = "models"


class SweepConfig(_Section):
    p: grid_of(Rate, "rates in [0, 1)") = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9)
    seeds: list_of(Seed, "integers in [0, 2**32 - 1]") = (0, 1, 2)
    select: one_of(("mc", "standard")) = "mc"  # whose validation NLL picks p: MC dropout's or dropout off's
    resplit: Switch = True  # real data split by the study: seed i's members train and test on random split i


class CompareConfig(_Section):
    """The ``compare`` stage: other regularisers against the sweep, same data, seeds and epochs."""

    l2: grid_of(Positive, "numbers > 0") = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # weight-decay grid (λ = 0: the sweep's)
    patience: Count = 50  # early stopping: epochs without a lower val loss before the member stops
    dropout_l2_p: OpenUnit | None = 0.5  # dropout at this rate plus each weight decay of the grid (None: skip)


class DatasetSpec(_Section):
    """One declared dataset (``datasets.<name>`` in params.yaml); README "Your own data" lists the keys."""

    source: one_of(SOURCES)
    task: one_of(("auto", *TASKS)) = "auto"  # auto: inferred from the target column
    generator: one_of(GENERATORS) | None = None  # synthetic (default: moons for "classification", else regression)
    path: Text | None = None  # csv: one file, split by val_fraction / test_fraction / split_seed ...
    train: Text | None = None  # ... or three files with the same columns
    val: Text | None = None
    test: Text | None = None
    target: Text | None = None  # csv: the target column's name
    features: list_of(Text, "column names") | None = None  # csv: default every column but the target
    name: Text | None = None  # sklearn: one of SKLEARN_SETS; uci: the dataset's folder under dir
    dir: Text | None = None  # uci: the folder holding the datasets (the published layout)
    split: Natural = 0  # uci: which of the published splits
    val_fraction: OpenUnit = 0.2
    test_fraction: OpenUnit = 0.2
    split_seed: Seed = 0
    standardize: Switch | None = None  # inputs (and a regression target) by training statistics; default: not synthetic
    shift: one_of(("noise", "rotation")) = "noise"  # the trust study's shift family (rotation: square images)
    epochs: Count | None = None  # these override train.* for this dataset
    batch_size: Natural | None = None
    lr: Positive | None = None

    @model_validator(mode="after")
    def _complete(self) -> "DatasetSpec":
        need = {"csv": "target and path (or train, val and test)", "sklearn": f"name: one of {', '.join(SKLEARN_SETS)}",
                "uci": "dir and name"}.get(self.source)
        files = self.path is not None or None not in (self.train, self.val, self.test)
        ok = {"synthetic": True, "csv": self.target is not None and files,
              "sklearn": self.name in SKLEARN_SETS, "uci": self.dir is not None and self.name is not None}
        if not ok[self.source]:
            raise PydanticCustomError("spec", "a {source} dataset needs {need}", {"source": self.source, "need": need})
        if self.val_fraction + self.test_fraction >= 1:
            raise PydanticCustomError("spec", "val_fraction + test_fraction must be < 1", {})
        return self

    @property
    def standardized(self) -> bool:
        return self.source != "synthetic" if self.standardize is None else self.standardize


DEFAULT_DATASETS = {
    "regression": DatasetSpec(source="synthetic", epochs=2000),  # 30 points: many full-batch steps to overfit
    "classification": DatasetSpec(source="synthetic", epochs=500),
    "diabetes": DatasetSpec(source="sklearn", name="diabetes", epochs=200),
    "digits": DatasetSpec(source="sklearn", name="digits", shift="rotation", standardize=False, epochs=150),
}
MAX_NAME = 100  # a dataset's name is a folder's name (with a prefix and suffix when staged) and an experiment's


def _not_dots(name: str) -> str:
    if set(name) == {"."}:  # "." and ".." name folders that are already there: data/ itself, its parent
        raise bad(f"a name of letters, digits, '_', '-' or '.' (not dots only), at most {MAX_NAME} characters")
    return name


DatasetName = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$"),
                        allowing(f"a name of letters, digits, '_', '-' or '.' (not dots only), at most {MAX_NAME} "
                                 "characters"), AfterValidator(_not_dots)]


class TrustConfig(_Section):
    """``mcdropout trust``: MC dropout against a deep ensemble and the others, in distribution and under shift."""

    ensemble_size: Count = 5  # M members per ensemble and repeat (deep ensemble, MC-dropout ensemble)
    shift_fraction: OpenUnit = 0.2  # real data: the test points farthest from the training data (Mahalanobis)
    shift_points: Count = 200  # synthetic data: points generated beyond / away from the training data
    # the shift family: Gaussian noise on the test inputs, sd = intensity x each feature's training sd
    shift_intensities: grid_of(NonNegative, "numbers >= 0") = (0.0, 0.25, 0.5, 1.0, 2.0)
    rotation_angles: grid_of(NonNegative, "angles in degrees >= 0") = (0.0, 15.0, 30.0, 45.0, 60.0, 90.0)


class MCConfig(_Section):
    samples: Samples = 100
    seed: Seed = 0
    level: OpenUnit = 0.95


class PredictionConfig(MCConfig):
    """``mc`` and what one prediction may ask besides (`mcdropout predict`, a served model's params): sampling to a
    tolerance, until each row's main Monte Carlo standard error is below it or ``max_samples`` is reached
    (:mod:`mcdropout.inference.predict`); ``samples`` is then not used."""

    tolerance: Positive | None = None
    max_samples: Samples = 10_000

    @classmethod
    def of(cls, mc: MCConfig) -> "PredictionConfig":
        """``mc`` as a prediction's settings (no tolerance where it is a plain ``mc`` section)."""
        return mc if isinstance(mc, cls) else cls(**mc.model_dump())


class MLflowConfig(_Section):
    tracking_uri: Text = "sqlite:///mlflow.db"
    artifact_location: Text = "mlruns"
    experiment_prefix: Text = "mcdropout"
    enabled: Switch = True
    # Per-epoch curves longer than this are logged at this many evenly spaced epochs
    # (the last always included): MLflow's store takes ~0.2 ms of CPU per value (4 per point
    # and member), and a sweep must not spend longer logging than training.
    max_history_points: Count = 50


class Params(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    sweep: SweepConfig = SweepConfig()
    compare: CompareConfig = CompareConfig()
    mc: MCConfig = MCConfig()
    trust: TrustConfig = TrustConfig()
    mlflow: MLflowConfig = MLflowConfig()
    datasets: Annotated[dict[DatasetName, DatasetSpec], Field(min_length=1)] = DEFAULT_DATASETS
    # datasets with an active-learning experiment (default: those of DEFAULT_ACTIVE that are declared)
    active: dict[DatasetName, ActiveConfig] = DEFAULT_ACTIVE

    @model_validator(mode="before")
    @classmethod
    def _default_active(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "active" not in raw and "datasets" in raw and isinstance(raw["datasets"], dict):
            raw = {**raw, "active": {k: v for k, v in DEFAULT_ACTIVE.items() if k in raw["datasets"]}}
        return raw

    @model_validator(mode="after")
    def _active_declared(self) -> "Params":
        unknown = [name for name in self.active if name not in self.datasets]
        if unknown:
            raise PydanticCustomError("spec", "active.{name}: not a dataset declared under datasets",
                                      {"name": unknown[0]})
        return self

    def dataset(self, name: str) -> DatasetSpec:
        """The spec of a declared dataset; a one-line error naming the declared ones otherwise."""
        if name not in self.datasets:
            raise ConfigError(f"unknown dataset {name!r}; declared in params (datasets): {', '.join(self.datasets)}")
        return self.datasets[name]

    def for_dataset(self, name: str) -> "Params":
        """A copy whose ``train`` section has this dataset's own epochs, batch_size and lr."""
        spec = self.dataset(name)
        own = {k: getattr(spec, k) for k in ("epochs", "batch_size", "lr") if getattr(spec, k) is not None}
        return self.model_copy(update={"train": self.train.model_copy(update=own)})

    def with_epochs(self, epochs: int | None) -> "Params":
        """Every dataset trained for ``epochs`` (``--epochs``, tiny test settings); ``None``: unchanged."""
        if epochs is None:
            return self
        raw = to_dict(self)
        raw["train"]["epochs"] = epochs
        for spec in raw["datasets"].values():
            spec["epochs"] = None
        return from_dict(raw)

    def override(self, **dotted: Any) -> "Params":
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
        if "datasets" in dotted and "active" not in dotted:  # the experiments of datasets still declared
            raw["active"] = {k: v for k, v in raw["active"].items() if k in raw["datasets"]}
        return from_dict(raw)


# --- entry points ------------------------------------------------------------------------


def to_dict(params: BaseModel) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) for YAML, JSON and MLflow; a dataset's unset keys left out."""
    raw = params.model_dump(mode="json")
    if isinstance(params, DatasetSpec):
        return {k: v for k, v in raw.items() if v is not None}
    for name, spec in raw.get("datasets", {}).items():
        raw["datasets"][name] = {k: v for k, v in spec.items() if v is not None}
    return raw


def _one_line(exc: ValidationError) -> str:
    """The first error as ``section.key must be <allowed>, got <value>``."""
    err = exc.errors()[0]
    loc = [part for part in err["loc"] if isinstance(part, str)]  # list indices left out
    key = ".".join(loc) or "params"
    if loc and loc[-1] == "[key]":  # a mapping's key: datasets' names
        key = f"{'.'.join(loc[:-2])} name"
    if err["type"] in ("unknown_keys", "spec"):
        return f"{key}: {err['msg']}"
    sep = " " if err["type"] == "config" else ": "
    got = repr(err["input"])
    return f"{key}{sep}{err['msg']}, got {got if len(got) <= 100 else got[:100] + '...'}"


def from_dict(raw: Any) -> Params:
    """Validate a nested dict (as read from ``params.yaml``) into :class:`Params`."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    return params


def mc_config(**values: Any) -> PredictionConfig:
    """``mc`` settings given one by one (a served model's params), checked as params.yaml's are: one
    :class:`ConfigError` such as ``samples must be an integer in [1, 100,000], got 0``."""
    plain = {k: v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v for k, v in values.items()}
    try:
        return PredictionConfig.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


class _Loader(yaml.SafeLoader):
    """YAML as DVC reads params.yaml (YAML 1.2 numbers): ``1e-3`` is a float, not the string PyYAML makes of it."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def read_yaml(path: Path) -> Any:
    """A YAML file as DVC reads it (:class:`_Loader`)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raises :class:`ConfigError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        raw = read_yaml(path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"params file {path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"params file {path} is not valid YAML{where}") from exc
    return from_dict(raw or {})


