import csv
import json

import pytest
import yaml
from click.testing import CliRunner

from mcdropout.cli import main
from mcdropout.core.config import to_dict


def _tiny_params_file(workdir, tiny_params):
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(tiny_params)))


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_lists_commands():
    result = run("--help")
    for name in ("data", "train", "evaluate", "predict"):
        assert name in result.output


def test_regression_train_evaluate_predict(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    assert run("data", "--task", "regression").exit_code == 0
    result = run("train", "--task", "regression", "--p", "0.2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "saved models/regression/p0.2_seed0.pt" in result.output
    assert "test" in result.output

    result = run("evaluate", "--task", "regression", "--model", "models/regression/p0.2_seed0.pt", "--samples", "10")
    assert result.exit_code == 0, result.output
    report = json.loads((workdir / "reports/regression/p0.2_seed0.json").read_text())
    assert report["mc_samples"] == 10
    for mode in ("standard", "mc"):
        assert set(report[mode]) == {"train", "val", "test"}
        assert {"rmse", "nll", "coverage_95", "crps"} <= set(report[mode]["test"])

    (workdir / "in.csv").write_text("x1\n-1.0\n0.0\n2.5\n")
    result = run("predict", "--model", "models/regression/p0.2_seed0.pt", "--input", "in.csv",
                 "--output", "out.csv", "--samples", "10", "--level", "0.9")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((workdir / "out.csv").open()))
    assert len(rows) == 3
    assert list(rows[0]) == ["x1", "mean", "mean_mc_se", "std", "std_mc_se", "lower", "upper", "epistemic_std",
                             "mean_standard", "samples"]
    assert {r["samples"] for r in rows} == {"10"}
    for row in rows:
        assert float(row["lower"]) < float(row["mean"]) < float(row["upper"])
        # 90% interval is mean +- 1.645 std
        width = float(row["upper"]) - float(row["lower"])
        assert abs(width - 2 * 1.6448536 * float(row["std"])) < 1e-3 * max(1.0, width)


def test_classification_predict_columns(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    run("data", "--task", "classification")
    assert run("train", "--task", "classification", "--p", "0.1", "--quiet").exit_code == 0
    (workdir / "in.csv").write_text("x1,x2\n0.0,0.5\n1.0,-0.5\n")
    result = run("predict", "--model", "models/classification/p0.1_seed0.pt", "--input", "in.csv",
                 "--output", "out.csv", "--samples", "5")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((workdir / "out.csv").open()))
    assert list(rows[0]) == ["x1", "x2", "prob_0", "prob_0_mc_se", "prob_1", "prob_1_mc_se", "label", "entropy",
                             "entropy_mc_se", "mutual_info", "mutual_info_mc_se", "samples"]
    assert all(float(r["prob_0"]) + float(r["prob_1"]) == pytest.approx(1, abs=1e-5) for r in rows)
    assert all(r["label"] in {"0", "1"} for r in rows)


def test_predict_bad_input_leaves_no_output(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    run("data", "--task", "regression")
    run("train", "--task", "regression", "--quiet")
    model = "models/regression/p0.2_seed0.pt"
    cases = {
        "x2\n1\n": "missing feature column(s) x1 (has x2)",
        "x1\n1\nfoo\n": "line 3, column x1: not a number: 'foo'",
        "x1\nnan\n": "NaN/inf not allowed",
        "": "file is empty",
    }
    for content, message in cases.items():
        (workdir / "in.csv").write_text(content)
        result = run("predict", "--model", model, "--input", "in.csv", "--output", "out.csv")
        assert result.exit_code == 2
        assert message in result.output
        assert not (workdir / "out.csv").exists()
    result = run("predict", "--model", "nope.pt", "--input", "in.csv", "--output", "out.csv")
    assert result.exit_code == 2 and "checkpoint not found" in result.output


def test_evaluate_wrong_task(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    run("data", "--task", "regression")
    run("data", "--task", "classification")
    run("train", "--task", "regression", "--quiet")
    result = run("evaluate", "--task", "classification", "--model", "models/regression/p0.2_seed0.pt")
    assert result.exit_code == 2
    assert "was trained on dataset 'regression', not 'classification'" in result.output


def test_unreachable_tracking_server_keeps_outputs(workdir, tiny_params, monkeypatch):
    params = tiny_params.override(**{"mlflow.enabled": True})
    _tiny_params_file(workdir, params)
    run("data", "--task", "regression")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    result = CliRunner().invoke(main, ["train", "--task", "regression", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0
    assert (workdir / "models/regression/p0.2_seed0.pt").is_file()
    assert "Warning: MLflow logging failed" in result.output
    assert "outputs are not affected" in result.output


def test_single_run_logged_to_sqlite_store(workdir, tiny_params):
    from mlflow.tracking import MlflowClient

    params = tiny_params.override(**{"mlflow.enabled": True})
    _tiny_params_file(workdir, params)
    run("data", "--task", "classification")
    assert run("train", "--task", "classification", "--p", "0.3", "--quiet").exit_code == 0
    assert (workdir / "mlflow.db").is_file()
    client = MlflowClient(params.mlflow.tracking_uri)
    exp = client.get_experiment_by_name("mcdropout-classification")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    (only,) = client.search_runs([exp.experiment_id])
    assert only.data.params["p"] == "0.3" and only.data.tags["kind"] == "single"
    assert len(client.get_metric_history(only.info.run_id, "val/accuracy")) == 30
    assert "standard/test/accuracy" in only.data.metrics and "mc/test/nll" in only.data.metrics


def test_concrete_train_and_compare_folder_guard(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    assert run("data", "--task", "regression").exit_code == 0
    result = run("train", "--task", "regression", "--dropout", "concrete", "--quiet")
    assert result.exit_code == 0, result.output
    assert "saved models/regression/concrete_seed0.pt" in result.output
    assert "learned p per layer: " in result.output
    # a folder holding a Concrete member is not a dropout sweep: one line, exit 2
    result = run("evaluate", "--task", "regression", "--model", "models/regression", "--quiet")
    assert result.exit_code == 2
    assert "a concrete member, not one of a dropout sweep" in result.output
