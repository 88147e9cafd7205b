"""What the study publishes onto MLflow: the UCI benchmark (parent + a child per split) and the trust table."""

import mlflow
import pytest

from mcdropout.core.config import Params
from mcdropout.tracking.publish import log_trust, log_uci


@pytest.fixture
def params(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Params().override(**{"mlflow.tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
                                "mlflow.artifact_location": str(tmp_path / "mlruns")})


def test_uci_parent_and_a_child_per_split(params):
    result = {"dataset": "yacht", "epochs": 4000, "mc_samples": 10000,
              "splits": [{"split": 0, "rmse": 0.6, "ll": -1.2, "rmse_standard": 0.7, "p": 0.005, "tau": 1.0,
                          "seconds": 30.0},
                         {"split": 1, "rmse": 0.8, "ll": -1.4, "rmse_standard": 0.9, "p": 0.01, "tau": 0.5,
                          "seconds": 20.0}],
              "mean": {"rmse": 0.7, "ll": -1.3, "rmse_standard": 0.8},
              "stderr": {"rmse": 0.07, "ll": 0.07, "rmse_standard": 0.07}}
    parent = log_uci(params, result, started_ms=1_000)
    client = mlflow.MlflowClient(params.mlflow.tracking_uri)
    run = client.get_run(parent)
    assert run.data.metrics["mean/ll"] == -1.3 and run.data.params["splits"] == "2"
    assert run.info.start_time == 1_000 and run.info.status == "FINISHED"
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    by_split = {c.data.params["split"]: c for c in children}
    assert set(by_split) == {"0", "1"}
    assert by_split["1"].data.params["tau"] == "0.5" and by_split["1"].data.metrics["ll"] == -1.4
    assert client.get_experiment(run.info.experiment_id).name == "mcdropout-uci"


def test_trust_table_as_metrics(params):
    trust = {"best_p": 0.5, "ensemble_size": 5, "shift": {"rule": "beyond the range"},
             "methods": [{"name": "mc_dropout", "in_distribution": {"error": 0.36, "nll": 0.45},
                          "shifted": None, "ood_auroc": {"std": 1.0}, "selective": {"aurc": 0.29},
                          "recalibrated": {"coverage_95": 0.948, "conformal_q": float("inf")},
                          "train_seconds": 1.3, "predict_ms_per_1000": 300.0}]}
    log_trust(params, "regression", trust)
    client = mlflow.MlflowClient(params.mlflow.tracking_uri)
    exp = client.get_experiment_by_name("mcdropout-regression")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'trust'")
    metrics = run.data.metrics
    assert metrics["trust/mc_dropout/ood_auroc/std"] == 1.0
    assert metrics["trust/mc_dropout/recalibrated/coverage_95"] == 0.948
    assert "trust/mc_dropout/recalibrated/conformal_q" not in metrics  # inf is left out


def test_warm_up_checks_an_existing_store_and_creates_none(params, tmp_path):
    from mcdropout.tracking.publish import warm_up
    from mcdropout.tracking.store import store_exists

    db = tmp_path / "mlflow.db"
    assert not store_exists(params.mlflow)
    warm_up(params, "regression")  # a command that may yet stop at a user's error: no store is made
    assert not db.exists()
    mlflow.MlflowClient(params.mlflow.tracking_uri).search_experiments()  # the store, made by real logging
    assert store_exists(params.mlflow)
    warm_up(params, "regression")
    assert mlflow.MlflowClient(params.mlflow.tracking_uri).get_experiment_by_name("mcdropout-regression")
