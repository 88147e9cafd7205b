"""mcdropout.cli.study: the study's commands in a tmp workdir without training (untrained checkpoints where one is
needed; the trained pipeline is tests/end_to_end/test_cli.py's): help, what each command writes and prints, and
every mistake as one line with exit 2, found before any work."""

import csv
import io
import json

import pytest
import torch
import yaml

from cli_runs import one_error, run
from mcdropout.core.config import Params, to_dict
from mcdropout.data.datasets import load_dataset
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp

COMMANDS = ["data", "params", "datasets", "train", "sweep", "compare", "evaluate", "predict", "report", "trust",
            "samples"]




def _tiny_params_file(workdir, tiny_params):
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(tiny_params)))


@pytest.fixture
def project(workdir, tiny_params):
    _tiny_params_file(workdir, tiny_params)
    return workdir, tiny_params


def _untrained(workdir, params, member: Member, folder: str = "models/regression", dataset: str = "regression"):
    """An untrained checkpoint of ``member`` on the dataset written by `mcdropout data` (seconds: no training)."""
    data = load_dataset(dataset, params.data.dir)
    task, schema = data.task, data.schema
    model = seeded_mlp(member.seed, in_dim=len(schema.features), out_dim=task.out_dim, hidden=[8, 8], p=member.p)
    meta = CheckpointMeta(task=task.name, seed=member.seed, dataset=dataset, features=list(schema.features),
                          classes=None if schema.classes is None else list(schema.classes), method=member.method,
                          noise_std={"standard": 0.3, "mc": 0.3} if task.fits_noise else None, mc_samples=4,
                          history=torch.rand(5, 4) + 0.1)
    path = workdir / folder / f"{member.name}.pt"
    save_checkpoint(path, model, meta)
    return path.relative_to(workdir)


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: main {command} [OPTIONS]")
    assert "--help" in result.output


def test_dataset_option_and_its_alias_in_the_help():
    text = " ".join(run("train", "--help").output.split())
    assert "--dataset, --task NAME" in text
    assert "--dropout [fixed|concrete]" in text


# --- datasets, params, data -------------------------------------------------------------------------


def test_datasets_lists_the_declared_ones_and_writes_nothing(workdir):
    result = run("datasets")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["dataset", "source", "task"]
    assert [line.split()[:3] for line in lines[1:]] == [["regression", "synthetic", "regression"],
                                                         ["classification", "synthetic", "classification"],
                                                         ["diabetes", "sklearn", "regression"],
                                                         ["digits", "sklearn", "classification"]]
    assert lines[1].split()[3:] == ["30/30/500", "1", "-"]  # params' data.regression: 30 train, 30 val, 500 test
    assert list(workdir.iterdir()) == []


def test_datasets_follow_the_params_file(project):
    workdir, _ = project
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["datasets"] = {"wine": {"source": "sklearn", "name": "wine"}}
    raw["active"] = {}  # the default experiments name datasets no longer declared
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    lines = run("datasets").output.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["wine"]
    assert lines[1].split()[2] == "classification" and lines[1].split()[4] == "13"  # 13 features


def test_params_prints_a_complete_params_file(workdir):
    result = run("params")
    assert result.exit_code == 0
    assert yaml.safe_load(result.output) == yaml.safe_load(yaml.safe_dump(to_dict(Params())))
    (workdir / "params.yaml").write_text("mc:\n  samples: 7\n")
    printed = yaml.safe_load(run("params").output)
    assert printed["mc"]["samples"] == 7 and printed["train"] == yaml.safe_load(yaml.safe_dump(to_dict(Params())))[
        "train"]


def test_data_writes_the_splits_and_says_so(project):
    workdir, _ = project
    result = run("data", "--dataset", "regression", "--seed", 3, "--out-dir", "elsewhere")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["wrote elsewhere/regression/train.csv (30 rows)",
                                          "wrote elsewhere/regression/val.csv (30 rows)",
                                          "wrote elsewhere/regression/test.csv (50 rows)"]  # tiny_params: n_test 50
    rows = list(csv.DictReader((workdir / "elsewhere/regression/train.csv").open()))
    assert len(rows) == 30 and list(rows[0]) == ["x1", "y"]
    assert json.loads((workdir / "elsewhere/regression/schema.json").read_text())["features"] == ["x1"]
    assert not (workdir / "data").exists()  # --out-dir replaces data.dir


def test_data_of_an_undeclared_dataset(project):
    workdir, _ = project
    one_error(run("data", "--dataset", "nope"),  # the declared ones as params.yaml lists them
              "unknown dataset 'nope'; declared in params (datasets): classification, diabetes, digits, regression")
    assert not (workdir / "data").exists()


# --- evaluate and predict on an untrained checkpoint ----------------------------------------------------


def test_evaluate_one_checkpoint(project):
    workdir, params = project
    run("data", "--dataset", "regression")
    model = _untrained(workdir, params, Member(0.3, 2))
    result = run("evaluate", "--dataset", "regression", "--model", model, "--samples", 6)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "wrote reports/regression/p0.3_seed2.json"
    report = json.loads((workdir / "reports/regression/p0.3_seed2.json").read_text())
    assert (report["dataset"], report["p"], report["seed"], report["mc_samples"]) == ("regression", 0.3, 2, 6)
    assert report["model"] == str(model)
    assert set(report["standard"]) == set(report["mc"]) == {"train", "val", "test"}
    assert {"rmse", "nll", "coverage_95"} <= set(report["mc"]["test"])


def test_evaluate_a_sweep_folder_writes_the_metrics_files(project):
    workdir, params = project
    run("data", "--dataset", "regression")
    for p in (0.0, 0.5):
        for seed in (0, 1):
            _untrained(workdir, params, Member(p, seed), folder="models/regression/sweep")
    result = run("evaluate", "--dataset", "regression", "--model", "models/regression/sweep", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == ("wrote reports/regression/metrics.json, reports/regression/summary.json, "
                                              "reports/regression/by_p.json")
    metrics = json.loads((workdir / "reports/regression/metrics.json").read_text())
    assert sorted((r["p"], r["seed"]) for r in metrics["runs"]) == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
    assert sum("<- best" in line for line in result.output.splitlines()) == 1  # the table marks the selected p


def test_evaluate_mistakes(project):
    workdir, params = project
    one_error(run("evaluate", "--dataset", "regression", "--model", "nope.pt"), "nope.pt: checkpoint not found")
    run("data", "--dataset", "regression")
    run("data", "--dataset", "classification")
    model = _untrained(workdir, params, Member(0.2, 0))
    one_error(run("evaluate", "--dataset", "classification", "--model", model),
              f"{model} was trained on dataset 'regression', not 'classification'")
    assert not (workdir / "reports").exists()


def test_predict_to_standard_output(project):
    workdir, params = project
    run("data", "--dataset", "regression")
    model = _untrained(workdir, params, Member(0.2, 0))
    (workdir / "in.csv").write_text("x1,note\n-1.0,a\n0.5,b\n")
    result = run("predict", "--model", model, "--input", "in.csv", "--output", "-", "--samples", 5)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["x1"] for r in rows] == ["-1.0", "0.5"] and {r["samples"] for r in rows} == {"5"}
    assert "mean" in rows[0] and "note" not in rows[0]
    assert result.stderr.splitlines() == ["note: ignored column(s) the model does not use: note",
                                          "wrote standard output (2 rows)"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--max-samples", "50"], "--max-samples caps sampling to a --tolerance; give one, or use --samples"),
    (["--level", "1.5"], "mc.level"),
    (["--samples", "0"], "mc.samples"),
])
def test_predict_mistakes_before_reading_anything(project, args, needle):
    workdir, _ = project
    one_error(run("predict", "--model", "nope.pt", "--input", "nope.csv", "--output", "out.csv", *args), needle)
    assert not (workdir / "out.csv").exists()


# --- training commands: their mistakes come before any training ----------------------------------------


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "--dataset", "regression", "--p", "1.5"], "train.p must be in [0, 1), got 1.5"),
    (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["sweep", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["compare", "--dataset", "regression"], "reports/regression/metrics.json: missing; run `mcdropout sweep "
                                             "--dataset regression` first"),
    (["trust", "--dataset", "regression"], "metrics.json: missing; run `mcdropout sweep --dataset regression`"),
    (["samples", "--dataset", "regression"], "metrics.json: missing; run `mcdropout sweep --dataset regression`"),
])
def test_training_commands_refuse_before_training(project, args, needle):
    workdir, _ = project
    one_error(run(*args), needle)
    assert not (workdir / "models").exists()


def test_a_bad_choice_is_a_usage_error(project):
    result = run("train", "--dataset", "regression", "--dropout", "gaussian")
    assert result.exit_code == 2 and "Invalid value for '--dropout'" in result.output


def test_train_before_data_says_what_to_do(project):
    result = run("train", "--task", "regression", "--quiet")
    assert result.exit_code == 2
    assert "run `mcdropout data --dataset regression` first" in result.output


# --- report ------------------------------------------------------------------------------------------


def test_report_without_sweep_says_what_to_do(project):
    result = run("report")
    assert result.exit_code == 2
    assert "/metrics.json: missing; run `mcdropout sweep --dataset " in result.output


def test_report_trust_goes_with_sections_and_needs_the_sweep(project):
    workdir, _ = project
    result = run("report", "--assemble", "--trust")
    assert result.exit_code == 2 and "--trust and --samples evaluate before the sections are drawn" in result.output
    result = run("report", "--dataset", "regression", "--section", "--trust")
    assert result.exit_code == 2 and "run `mcdropout sweep" in result.output
    assert not (workdir / "reports" / "regression" / "trust.json").exists()


def test_report_steps_and_datasets(project):
    assert one_error(run("report", "--section", "--assemble")) == (
        "Error: --section and --assemble are two steps; give one of them (or neither for both)")
    one_error(run("report", "--dataset", "nope"), "unknown dataset 'nope'")
    one_error(run("report", "--dataset", "regression", "--assemble"),
              "reports/sections/regression.json: missing; run `mcdropout report --dataset regression --section` first")
    one_error(run("report", "--reports-dir", "data"), "overlap")  # the reports folder apart from data.dir
