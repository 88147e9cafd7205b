"""A trained member as an MLflow model that predicts with MC dropout.

``mlflow.pyfunc.load_model(...)`` gives a model whose ``predict`` takes a DataFrame of
raw feature columns by name and returns the columns of ``mcdropout predict``
(regression: ``mean``, ``std``, ``lower``, ``upper``, ``epistemic_std``,
``mean_standard``; classification: ``prob_<label>``, ``label``, ``entropy``,
``mutual_info``). ``samples``, ``seed`` and ``level`` are inference params (MLflow's
``params``), with the defaults of ``mc.*`` it was logged with. The checkpoint travels as
an artifact: the network, the standardisation, the feature names and class labels are
all in it, so ``mlflow models serve --env-manager local`` needs nothing else.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from mcdropout.checkpoint import CheckpointMeta
from mcdropout.config import MCConfig

ARTIFACT = "checkpoint"
MODEL_NAME = "model"  # the logged model's name on its run


CODE = Path(__file__).with_name("pyfunc_model.py")


def defaults(mc: MCConfig) -> dict[str, Any]:
    return {"samples": mc.samples, "seed": mc.seed, "level": mc.level}


class MCDropoutModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from mcdropout.checkpoint import load_checkpoint

        self.defaults = {**defaults(MCConfig()), **(context.model_config or {})}
        self.model, self.meta = load_checkpoint(context.artifacts[ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mcdropout.predict import prediction_columns

        chosen = {**self.defaults, **{k: v for k, v in (params or {}).items() if v is not None}}
        mc = MCConfig(samples=int(chosen["samples"]), seed=int(chosen["seed"]), level=float(chosen["level"]))
        frame = pd.DataFrame(model_input)
        missing = [f for f in self.meta.features if f not in frame.columns]
        if missing:
            raise ValueError(f"missing feature column(s) {', '.join(missing)} (has {', '.join(map(str, frame))})")
        x = frame[self.meta.features].to_numpy(dtype=np.float32)
        return pd.DataFrame(prediction_columns(self.model, self.meta, x, mc))


def signature(meta: CheckpointMeta, mc: MCConfig):
    """Inputs: the feature columns (double); outputs: the prediction columns; params: samples, seed, level."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    if meta.classes is None:
        outputs = [ColSpec("double", c) for c in ("mean", "std", "lower", "upper", "epistemic_std", "mean_standard")]
    else:
        outputs = [ColSpec("double", f"prob_{c}") for c in meta.classes]
        outputs += [ColSpec("string", "label"), ColSpec("double", "entropy"), ColSpec("double", "mutual_info")]
    params = ParamSchema([ParamSpec("samples", "long", mc.samples), ParamSpec("seed", "long", mc.seed),
                          ParamSpec("level", "double", mc.level)])
    return ModelSignature(Schema([ColSpec("double", f) for f in meta.features]), Schema(outputs), params)


@functools.cache
def requirements() -> list[str]:
    """What a fresh environment needs to load the model (``mlflow models serve`` without ``--env-manager local``)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("torch", "numpy", "pandas", "scipy", "mlflow")]


def log_member_model(run_id: str, checkpoint: Path, meta: CheckpointMeta, mc: MCConfig,
                     example: np.ndarray) -> str:
    """Log the member's pyfunc model on its run (an MLflow 3 LoggedModel); returns the model's id.

    Log the model before the run's metrics: MLflow copies each metric's history at step 0 onto a
    new model, which costs a history read per metric.
    """
    import logging

    example_frame = pd.DataFrame(example, columns=meta.features)
    quiet = logging.getLogger("mlflow")
    level, quiet.level = quiet.level, logging.ERROR  # its INFO lines about validating the example, per member
    try:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME, python_model=str(CODE), model_config=defaults(mc),
                artifacts={ARTIFACT: str(checkpoint)}, signature=signature(meta, mc), input_example=example_frame,
                pip_requirements=requirements(), code_paths=[str(Path(__file__).parent)],
            )
    finally:
        quiet.level = level
    return info.model_id
