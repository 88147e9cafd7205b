"""The MLflow model of a member: pyfunc round trip against `mcdropout predict`, and the champion alias."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from mcdropout.core.config import MCConfig, mc_config
from mcdropout.data.datasets import write_dataset
from mcdropout.inference.predict import prediction_columns
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.study.sweep import evaluate_sweep, run_sweep
from mcdropout.tracking.publisher import MLflowPublisher

MLFLOW = MLflowPublisher()  # the library tracks nothing unless handed a publisher


@pytest.fixture
def tracked(tiny_params, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    params = tiny_params.override(**{"mlflow.enabled": True, "sweep.p": [0.0, 0.3], "sweep.seeds": [0, 1],
                                     "datasets.wine": {"source": "sklearn", "name": "wine"}})  # not a default
    mlflow.set_tracking_uri(params.mlflow.tracking_uri)
    return params


def _logged_model(params, dataset: str, checkpoint) -> str:
    from mcdropout.tracking.sidecar import read_runs

    run_id = read_runs(checkpoint.parent)["members"][checkpoint.stem]
    exp = mlflow.get_experiment_by_name(f"mcdropout-{dataset}")
    (found,) = mlflow.search_logged_models(experiment_ids=[exp.experiment_id], output_format="list",
                                           filter_string=f"source_run_id = '{run_id}'")
    return f"models:/{found.model_id}"


@pytest.mark.parametrize("dataset", ["regression", "wine"])
def test_pyfunc_predicts_like_mcdropout_predict(tracked, dataset):
    write_dataset(dataset, tracked)
    result = run_sweep(tracked, dataset, progress=False, publisher=MLFLOW)
    checkpoint = result.folder / "p0.3_seed1.pt"
    model = mlflow.pyfunc.load_model(_logged_model(tracked, dataset, checkpoint))
    net, meta = load_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, len(meta.features))).astype(np.float32)
    frame = pd.DataFrame(x, columns=meta.features)[meta.features[::-1]].assign(extra=1.0)  # any order, extras
    got = model.predict(frame, params={"samples": 30, "seed": 3, "level": 0.9})
    want = prediction_columns(net, meta, x, MCConfig(samples=30, seed=3, level=0.9))
    assert list(got.columns) == list(want)
    for column, values in want.items():
        if values.dtype == object:
            assert got[column].tolist() == values.tolist()
        else:
            np.testing.assert_allclose(got[column].to_numpy(), values, rtol=1e-6, atol=1e-9)
    schema = model.metadata.signature
    assert schema.inputs.input_names() == meta.features
    assert {p.name: p.default for p in schema.params.params} == {"samples": 20, "seed": 0, "level": 0.95,
                                                                 "tolerance": None, "max_samples": 10_000}
    assert schema.outputs.input_names() == list(want)  # the signature names the columns a prediction returns
    # sampling to a tolerance: every row's main standard error below it, or the cap; the same as predict's
    tol = {"tolerance": 0.05, "max_samples": 640, "seed": 3}
    got = model.predict(frame, params=tol)
    want = prediction_columns(net, meta, x, mc_config(**tol))
    assert list(got.columns) == [*want] and list(want)[-2:] == ["samples", "tolerance_met"]
    np.testing.assert_array_equal(got["samples"].to_numpy(), want["samples"])
    assert ((got["samples"] == 640) | got["tolerance_met"]).all()
    from mcdropout.tracking.serving import RequestError

    with pytest.raises(RequestError, match=rf"^missing feature column\(s\) {meta.features[0]} \(has "):
        model.predict(frame.drop(columns=[meta.features[0]]))  # the model names the missing column, in one line


def test_champion_alias_moves_and_old_versions_stay(tracked):
    write_dataset("regression", tracked)
    client = mlflow.MlflowClient()
    for expected in ("1", "2"):
        result = run_sweep(tracked, "regression", progress=False, publisher=MLFLOW)
        metrics = evaluate_sweep(tracked, "regression", result.folder, progress=False, publisher=MLFLOW)
        champion = client.get_model_version_by_alias("mcdropout-regression", "champion")
        assert str(champion.version) == expected
        assert champion.tags["p"] == f"{metrics['best_p']:g}" and champion.tags["seed"] == "0"
        best = next(r for r in metrics["runs"] if r["p"] == metrics["best_p"] and r["seed"] == 0)
        assert float(champion.tags["mc_test_rmse"]) == pytest.approx(best["mc"]["test"]["rmse"], rel=1e-4)
    versions = client.search_model_versions("name='mcdropout-regression'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    model = mlflow.pyfunc.load_model("models:/mcdropout-regression@champion")
    out = model.predict(pd.DataFrame({"x1": [-7.0, 0.0]}))
    assert list(out.columns) == ["mean", "mean_mc_se", "std", "std_mc_se", "lower", "upper", "epistemic_std",
                                 "mean_standard", "samples"]
    assert out["samples"].tolist() == [20, 20]
    # The champion's logged model shows its final metrics (linked to the model), not epoch-0 history points.
    (logged,) = mlflow.search_logged_models(output_format="list", filter_string=f"source_run_id = '{champion.run_id}'",
                                            experiment_ids=[mlflow.get_experiment_by_name("mcdropout-regression")
                                                            .experiment_id])
    keys = {m.key: m.value for m in logged.metrics}
    assert keys["mc/test/rmse"] == pytest.approx(best["mc"]["test"]["rmse"], rel=1e-6)
    assert "train/loss" not in keys
