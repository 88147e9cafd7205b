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


def _est(mean, se=None, n=2):
    return {"mean": mean, "se": se, "n": n}


def test_trust_table_as_metrics(params):
    """Each cell, a mean over repeats with its standard error, becomes two metrics; the shift curve is logged with
    the intensity's index as the step."""
    trust = {"best_p": 0.5, "ensemble_size": 5, "shift": {"rule": "beyond the range"},
             "methods": [{"name": "mc_dropout", "in_distribution": {"error": _est(0.36, 0.02), "nll": _est(0.45, 0.1)},
                          "shifted": None, "ood_auroc": {"std": _est(1.0, 0.0)}, "selective": {"aurc": _est(0.29)},
                          "recalibrated": {"coverage_95": _est(0.948, 0.01), "conformal_q": _est(float("inf"), 0.5),
                                           "conformal_level": 0.95, "n_val": 19},
                          "shift_curve": [{"intensity": 0.0, "nll": _est(0.45, 0.1)},
                                          {"intensity": 0.5, "nll": _est(0.8, 0.2)},
                                          {"intensity": 1.0, "nll": _est(1.5, 0.3)}],
                          "train_seconds": _est(1.3, 0.1), "predict_ms_per_1000": _est(300.0, None, 1)}]}
    log_trust(params, "regression", trust)
    client = mlflow.MlflowClient(params.mlflow.tracking_uri)
    exp = client.get_experiment_by_name("mcdropout-regression")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'trust'")
    metrics = run.data.metrics
    assert metrics["trust/mc_dropout/ood_auroc/std"] == 1.0 and metrics["trust/mc_dropout/ood_auroc/std_se"] == 0.0
    assert metrics["trust/mc_dropout/recalibrated/coverage_95"] == 0.948
    assert metrics["trust/mc_dropout/recalibrated/coverage_95_se"] == 0.01
    assert metrics["trust/mc_dropout/in_distribution/nll_se"] == 0.1
    assert "trust/mc_dropout/recalibrated/conformal_q" not in metrics  # inf is left out
    assert metrics["trust/mc_dropout/recalibrated/conformal_q_se"] == 0.5  # its finite se is not
    assert "trust/mc_dropout/recalibrated/n_val" not in metrics  # facts, not measurements
    assert "trust/mc_dropout/recalibrated/conformal_level" not in metrics
    assert "trust/mc_dropout/selective/aurc_se" not in metrics  # no se: not logged
    assert metrics["trust/mc_dropout/predict_ms_per_1000"] == 300.0 and metrics["trust/mc_dropout/train_seconds"] == 1.3
    assert "trust/mc_dropout/shift_curve/intensity" not in metrics
    history = client.get_metric_history(run.info.run_id, "trust/mc_dropout/shift_curve/nll")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.45), (1, 0.8), (2, 1.5)]
    history = client.get_metric_history(run.info.run_id, "trust/mc_dropout/shift_curve/nll_se")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.1), (1, 0.2), (2, 0.3)]
    assert run.data.params == {"dataset": "regression", "best_p": "0.5", "ensemble_size": "5",
                               "shift_rule": "beyond the range"}


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


def test_active_learning_a_parent_and_a_run_per_function_with_the_curve_over_labels(params, tmp_path):
    from mcdropout.tracking.publish import log_active

    figure = tmp_path / "reports" / "figures" / "active" / "digits.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    curve = lambda accs: [{"labels": n, "accuracy": _est(a, 0.01), "nll": _est(1 - a, 0.02)}  # noqa: E731
                          for n, a in zip((20, 30), accs)]
    result = {"dataset": "digits", "metric": "accuracy", "functions": ["random", "bald"], "initial": 20, "batch": 10,
              "budget": 30, "repeats": 2, "mc_samples": 20, "epochs": 100, "p": 0.5, "warm_start": False,
              "targets": [0.1], "curves": {"random": curve((0.7, 0.8)), "bald": curve((0.7, 0.9))},
              "auc": {"random": _est(0.75, 0.01), "bald": _est(0.8, 0.01)},
              "paired_auc": {"bald": {"diff": 0.05, "se": 0.01, "n": 2, "verdict": "better"}}}
    log_active(params, "digits", result, {"figures": ["figures/active/digits.png"]}, tmp_path / "reports")
    client = mlflow.MlflowClient(params.mlflow.tracking_uri)
    exp = client.get_experiment_by_name("mcdropout-digits")
    (parent,) = client.search_runs([exp.experiment_id],
                                   "tags.kind = 'active' and attributes.run_name = 'active-digits'")
    assert parent.data.params["budget"] == "30" and parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"figures", "active.json"}
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_function = {c.data.params["function"]: c for c in children}
    assert set(by_function) == {"random", "bald"}
    history = client.get_metric_history(by_function["bald"].info.run_id, "test_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(20, 0.7), (30, 0.9)]  # the step is the labels
    assert by_function["bald"].data.metrics["auc_minus_random"] == 0.05
    assert by_function["bald"].data.params["verdict_against_random"] == "better"
    assert "auc_minus_random" not in by_function["random"].data.metrics
