"""A trained member as an MLflow model that predicts with MC dropout.

``mlflow.pyfunc.load_model(...)`` gives a model whose ``predict`` takes a DataFrame of
raw feature columns by name and returns the columns of ``mcdropout predict``
(regression: ``mean``, ``std``, ``lower``, ``upper``, ``epistemic_std``,
``mean_standard``, and with the heteroscedastic head ``aleatoric_std``; classification: ``prob_<label>``,
``label``, ``entropy``, ``mutual_info``; each MC value with its Monte Carlo standard error ``<column>_mc_se``, and
``samples``). ``samples``, ``seed`` and ``level`` are inference params (MLflow's
``params``), with the defaults of ``mc.*`` it was logged with; ``tolerance`` (and
``max_samples``) samples each row until its main standard error is below it, and adds
``tolerance_met``. The checkpoint travels as
an artifact: the network, the standardisation, the feature names and class labels are
all in it, so ``mlflow models serve --env-manager local`` needs nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mcdropout.core.config import MCConfig, PredictionConfig
from mcdropout.nn.checkpoint import CheckpointMeta

ARTIFACT = "checkpoint"
MODEL_NAME = "model"  # the logged model's name on its run


CODE = Path(__file__).with_name("pyfunc_model.py")


def defaults(mc: MCConfig) -> dict[str, Any]:
    return {"samples": mc.samples, "seed": mc.seed, "level": mc.level}


def output_columns(meta: CheckpointMeta) -> list[tuple[str, str]]:
    """``(name, type)`` of the columns a prediction returns, in order
    (:func:`mcdropout.inference.predict.prediction_columns`; ``tolerance_met``, boolean, follows with a tolerance)."""
    if meta.classes is None:
        values = ["mean", "mean_mc_se", "std", "std_mc_se", "lower", "upper", "epistemic_std", "mean_standard"]
        values += ["aleatoric_std"] if meta.head == "heteroscedastic" else []
        columns = [(c, "double") for c in values]
    else:
        columns = [(name, "double") for c in meta.classes for name in (f"prob_{c}", f"prob_{c}_mc_se")]
        columns += [("label", "string")] + [(c, "double") for c in ("entropy", "entropy_mc_se", "mutual_info",
                                                                       "mutual_info_mc_se")]
    return [*columns, ("samples", "long")]


class RequestError(MlflowException):
    """A request the model refuses: one line, HTTP 400, no stack trace. The scoring server puts ``Failed to
    predict data '<the whole input>'`` before an error's message; this one keeps its own line."""

    def __init__(self, line: str) -> None:
        super().__init__(line, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_line"):
            self._line = value


def inputs(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The feature columns as float32 ``[N, D]``, refused as ``mcdropout predict`` refuses a CSV's cells: empty,
    not a number, NaN/inf, beyond float32 (one line naming the first such row and column, 1-based rows)."""
    from mcdropout.data.tables import FLOAT32_MAX

    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise RequestError(f"missing feature column(s) {', '.join(missing)} (has {', '.join(map(str, frame))})")
    if len(frame) == 0:
        raise RequestError("no rows to predict")
    x = np.empty((len(frame), len(features)), dtype=np.float64)
    for c, name in enumerate(features):
        column = frame[name].to_numpy()
        if column.dtype.kind in "iuf":
            x[:, c] = column
            continue
        for r, value in enumerate(column):  # strings, None, booleans: each cell as the CSV reader reads it
            if value is None or (isinstance(value, float) and np.isnan(value)):
                raise RequestError(f"row {r + 1}, column {name}: empty value")
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, str, np.number)):
                raise RequestError(f"row {r + 1}, column {name}: not a number: {value!r}"[:200])
            try:
                x[r, c] = float(value)
            except ValueError:
                raise RequestError(f"row {r + 1}, column {name}: not a number: {value!r}"[:200]) from None
    bad = ~np.isfinite(x) | (np.abs(x) > FLOAT32_MAX)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        why = "NaN/inf not allowed" if not np.isfinite(x[r, c]) else f"beyond the float32 range (±{FLOAT32_MAX:.3g})"
        raise RequestError(f"row {r + 1}, column {features[c]}: value is {float(x[r, c]):g} ({why})")
    return x.astype(np.float32)


class MCDropoutModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from mcdropout.nn.checkpoint import load_checkpoint

        self.defaults = {**defaults(MCConfig()), **(context.model_config or {})}
        self.model, self.meta = load_checkpoint(context.artifacts[ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The prediction columns; a bad request (params, values, more memory than the machine has, a
        prediction that is not finite) is one :class:`RequestError` line."""
        from mcdropout.core.config import ConfigError, mc_config
        from mcdropout.data.tables import DataError
        from mcdropout.inference.predict import check_memory, prediction_columns

        chosen = {**self.defaults, **{k: v for k, v in (params or {}).items() if v is not None}}
        try:
            mc = mc_config(**chosen)
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
            x = inputs(frame, list(self.meta.features))
            check_memory(len(x), x.shape[1], self.meta, mc)
            return pd.DataFrame(prediction_columns(self.model, self.meta, x, mc))
        except (ConfigError, DataError) as exc:
            raise RequestError(str(exc)) from None
        except (ValueError, TypeError) as exc:  # e.g. input pandas cannot make a frame of
            raise RequestError(f"cannot read the input: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               ) from None


def signature(meta: CheckpointMeta, mc: MCConfig):
    """Inputs: the feature columns (double); outputs: the prediction columns; params: samples, seed, level,
    tolerance, max_samples."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    outputs = [ColSpec(kind, name) for name, kind in output_columns(meta)]
    params = ParamSchema([ParamSpec("samples", "long", mc.samples), ParamSpec("seed", "long", mc.seed),
                          ParamSpec("level", "double", mc.level), ParamSpec("tolerance", "double", None),
                          ParamSpec("max_samples", "long", PredictionConfig().max_samples)])
    # Inputs of any type by name: the model checks values itself (MCDropoutModel.predict), as `mcdropout predict`
    # does, so integer columns are taken and NaN, text, inf or a missing column get a one-line answer (naming row
    # and column): a column is "not required" here only so that the model, not MLflow, names the missing ones.
    inputs = Schema([ColSpec(AnyType(), f, required=False) for f in meta.features])
    return ModelSignature(inputs, Schema(outputs), params)


@functools.cache
def requirements() -> list[str]:
    """What a fresh environment needs to load the model (``mlflow models serve`` without ``--env-manager local``)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("torch", "numpy", "pandas", "scipy", "mlflow")]


def prepare() -> None:
    """What logging models costs once a process, done ahead (the tracking helper's warm-up, while the command
    trains): the requirements' versions, and MLflow's map of installed packages to modules, which it builds
    (2-3 s) to check a saved model's requirements."""
    requirements()
    try:  # an internal of MLflow's: where it is missing or moved, logging is only slower
        from mlflow.utils.requirements_utils import _init_packages_to_modules_map

        _init_packages_to_modules_map()
    except Exception:
        pass


def log_member_models(mlc: Any, members: list[tuple[str, Path, CheckpointMeta]], mc: MCConfig,
                      example: np.ndarray) -> Iterator[str]:
    """Log each member's pyfunc model on its run (an MLflow 3 LoggedModel); yields the models' ids in order.

    ``members``: ``(run_id, checkpoint, meta)`` of one data set (same features and classes). What
    ``mlflow.pyfunc.log_model`` does per member, with the parts all members share done once: the model
    folder (code, environment, signature, input example) is saved and checked once, and each member
    then gets a LoggedModel on its run, that folder, its own checkpoint and an ``MLmodel`` naming them
    (``log_model`` per member took about 0.5 s each, 14 s of a 27-member sweep). Log the models before
    the runs' metrics: MLflow copies each run metric's history at step 0 onto a new model.
    """
    import tempfile

    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.tracking.context.registry import resolve_tags

    if not members:
        return
    _, first, meta = members[0]
    if any((m.features, m.classes) != (meta.features, meta.classes) for _, _, m in members):
        raise ValueError("members logged together must share features and classes")
    with tempfile.TemporaryDirectory(prefix="mcdropout-model-") as tmp:
        shared = Path(tmp, "shared")
        template = _shared_folder(shared, first, meta, mc, example)
        size = sum(f.stat().st_size for f in shared.rglob("*") if f.is_file())
        tags, mlmodel = resolve_tags(), Path(tmp, "MLmodel")
        for run_id, checkpoint, _ in members:
            run = mlc.get_run(run_id)
            model = mlc.create_logged_model(run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                            params=run.data.params, tags=tags)
            mlc.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
            _mlmodel(template, checkpoint, artifact_path=model.artifact_location, model_uuid=model.model_id,
                     model_id=model.model_id, run_id=run_id,
                     model_size_bytes=size + checkpoint.stat().st_size).save(str(mlmodel))
            mlc.log_model_artifacts(model.model_id, str(shared))
            mlc.log_model_artifact(model.model_id, str(checkpoint), "artifacts")
            mlc.log_model_artifact(model.model_id, str(mlmodel))
            mlc.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
            yield model.model_id


def _mlmodel(template: dict[str, Any], checkpoint: Path, **fields: Any):
    """The ``MLmodel`` of one member: the shared template, its checkpoint artifact and its ids."""
    from mlflow.models import Model

    model = Model.from_dict({**template, **fields})
    model.flavors["python_function"]["artifacts"] = {
        ARTIFACT: {"path": f"artifacts/{checkpoint.name}", "uri": str(checkpoint)}}
    return model


def _shared_folder(shared: Path, checkpoint: Path, meta: CheckpointMeta, mc: MCConfig,
                   example: np.ndarray) -> dict[str, Any]:
    """Save the model folder all members share into ``shared`` (without ``MLmodel`` and the checkpoint), after
    the check ``log_model`` makes: the saved model loads and predicts its input example. Returns the
    ``MLmodel`` template."""
    import logging
    import shutil

    from mlflow.models import Model

    frame = pd.DataFrame(example, columns=meta.features)
    quiet = logging.getLogger("mlflow")
    level, quiet.level = quiet.level, logging.ERROR  # its INFO lines about validating the example
    try:
        mlflow.pyfunc.save_model(
            path=shared, python_model=str(CODE), model_config=defaults(mc), artifacts={ARTIFACT: str(checkpoint)},
            signature=signature(meta, mc), input_example=frame, pip_requirements=requirements(),
            code_paths=[str(Path(__file__).parents[1])],  # the whole mcdropout package
        )
        mlflow.pyfunc.load_model(str(shared)).predict(frame)
    finally:
        quiet.level = level
    for cache in list(shared.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    template = Model.load(str(shared / "MLmodel")).to_dict()
    (shared / "MLmodel").unlink()
    shutil.rmtree(shared / "artifacts")
    return template
