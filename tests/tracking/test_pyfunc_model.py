"""mcdropout.tracking.pyfunc_model: the model's code that MLflow logs and runs (models-from-code): running it sets an
unloaded :class:`MCDropoutModel`; a model saved from it holds this file and the checkpoint, no pickled object, and
loads into a model that predicts with MC dropout. No tracking store: the model is saved to a folder."""

import importlib.util
import runpy
from pathlib import Path

import mlflow.models.model as mlflow_model
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch

from mcdropout.core.config import MCConfig
from mcdropout.inference.predict import prediction_columns
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.model import seeded_mlp
from mcdropout.tracking.serving import ARTIFACT, CODE, MCDropoutModel, RequestError, defaults, signature

MC = MCConfig(samples=6, seed=1, level=0.9)


def test_the_code_serving_logs_is_this_module():
    spec = importlib.util.find_spec("mcdropout.tracking.pyfunc_model")  # found, not run
    assert Path(spec.origin) == CODE and CODE.name == "pyfunc_model.py"


def test_running_the_file_sets_an_unloaded_mc_dropout_model(monkeypatch):
    monkeypatch.setattr(mlflow_model, "__mlflow_model__", None, raising=False)  # what MLflow reads, put back after
    runpy.run_path(str(CODE))  # as MLflow runs a model's code when it saves or loads it
    model = mlflow_model.__mlflow_model__
    assert type(model) is MCDropoutModel
    assert not hasattr(model, "model") and not hasattr(model, "meta")  # the checkpoint comes with load_context


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A regression and a classification member saved as MLflow models from the code file: ``{task: (folder, net,
    meta)}``."""
    root = tmp_path_factory.mktemp("pyfunc")
    out = {}
    for task, classes in (("regression", None), ("classification", ["no", "yes", "maybe"]), ("heteroscedastic", None)):
        hetero = task == "heteroscedastic"
        head = {"head": "heteroscedastic", "y_mean": [1.0], "y_std": [2.0]} if hetero else {}
        net = seeded_mlp(3, in_dim=2, out_dim=3 if classes else 2 if hetero else 1, hidden=[8], p=0.3, **head)
        meta = CheckpointMeta(task="regression" if hetero else task, seed=3, dataset=f"{task}-set", features=["a", "b"],
                              classes=classes, head="heteroscedastic" if hetero else "homoscedastic",
                              noise_std={"standard": 0.3, "mc": 0.4} if task == "regression" else None, mc_samples=6,
                              history=torch.zeros(2, 4), p=0.3)
        checkpoint = save_checkpoint(root / f"{task}.pt", net, meta)
        folder = root / f"{task}-model"
        mlflow.pyfunc.save_model(path=folder, python_model=str(CODE), artifacts={ARTIFACT: str(checkpoint)},
                                 model_config=defaults(MC), signature=signature(meta, MC),
                                 input_example=pd.DataFrame({"a": [0.0], "b": [1.0]}),
                                 pip_requirements=["mlflow"])  # no inference of the requirements (seconds)
        out[task] = (folder, net, meta)
    return out


def test_the_saved_model_is_the_code_and_the_checkpoint_no_pickle(saved):
    folder, _, _ = saved["regression"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert "pyfunc_model.py" in files and "artifacts/regression.pt" in files
    assert not any(f.endswith((".pkl", ".pickle", ".cloudpickle")) for f in files)
    assert (folder / "pyfunc_model.py").read_text() == CODE.read_text()


@pytest.mark.parametrize("task", ["regression", "classification", "heteroscedastic"])
def test_the_loaded_model_predicts_like_mcdropout_predict(saved, task):
    folder, net, meta = saved[task]
    model = mlflow.pyfunc.load_model(str(folder))
    python_model = model.unwrap_python_model()
    assert type(python_model) is MCDropoutModel
    assert python_model.meta.features == ["a", "b"] and python_model.meta.dataset == f"{task}-set"
    assert python_model.defaults == {"samples": 6, "seed": 1, "level": 0.9}  # the logged mc settings
    x = np.array([[0.5, -1.0], [2.0, 0.0], [-3.0, 1.5]], dtype=np.float32)
    frame = pd.DataFrame({"b": x[:, 1], "a": x[:, 0], "extra": ["x", "y", "z"]})  # by name, any order, extras
    got = model.predict(frame)
    want = prediction_columns(net, meta, x, MC)
    assert list(got.columns) == list(want)
    for column, values in want.items():
        if values.dtype == object:
            assert got[column].tolist() == values.tolist()
        else:
            np.testing.assert_allclose(got[column].to_numpy(), values, rtol=1e-6, atol=1e-9)
    assert got["samples"].tolist() == [6, 6, 6]
    if task == "heteroscedastic":  # its own noise, per row, beside the epistemic part
        assert list(got.columns)[-2:] == ["aleatoric_std", "samples"]
        total = got["aleatoric_std"] ** 2 + got["epistemic_std"] ** 2
        np.testing.assert_allclose(got["std"] ** 2, total, rtol=1e-6)


def test_params_of_a_request_override_the_logged_defaults(saved):
    folder, net, meta = saved["regression"]
    model = mlflow.pyfunc.load_model(str(folder))
    frame = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 2.0]})
    got = model.predict(frame, params={"samples": 9, "seed": 4})
    assert got["samples"].tolist() == [9, 9]
    want = prediction_columns(net, meta, frame[["a", "b"]].to_numpy(np.float32), MCConfig(samples=9, seed=4,
                                                                                          level=0.9))
    np.testing.assert_allclose(got["upper"].to_numpy(), want["upper"], rtol=1e-6)
    with pytest.raises(RequestError, match=r"^row 2, column a: not a number: 'x'$"):
        model.predict(pd.DataFrame({"a": [1.0, "x"], "b": [1.0, 2.0]}))
    with pytest.raises(RequestError, match="samples"):
        model.predict(frame, params={"samples": 0})
