"""The second round of careless-user probes (issue 33): nothing of the user's is ever deleted, nothing unbounded,
every ending told. Each case: its exit code, one ``Error:`` line, and the files that must survive, byte for byte.

1. never delete what the command did not write   2. nothing unbounded   3. every ending told truthfully
4. (the served model: tests/end_to_end/test_serve.py)   5. numbers at their limits   6. conventions
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_bad_input import _uci, _uci_run, one_error, run, snapshot, write_params, write_raw_params

from mcdropout.core.config import to_dict

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int = 40) -> str:
    return "a,b,price\n" + "".join(f"{i / 10},{i % 7 / 3},{(i * 37) % 11 + 100}\n" for i in range(n))


def _trained(workdir: Path, tiny_params) -> str:
    """The regression dataset and a model trained for 3 epochs in ``workdir``; returns the checkpoint's path."""
    write_params(workdir, tiny_params.with_epochs(3))
    assert run("data", "--dataset", "regression").exit_code == 0
    assert run("train", "--dataset", "regression", "--quiet").exit_code == 0
    return "models/regression/p0.2_seed0.pt"


def _csv_params(workdir: Path, tiny_params, **spec) -> None:
    raw = to_dict(tiny_params)
    raw["datasets"] = {"houses": {"source": "csv", "target": "price", **spec}}
    raw["active"] = {}  # the default experiments name datasets no longer declared
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))


# --- 1. never delete what the command did not write ---------------------------------------


def test_a_csv_source_inside_its_data_folder_is_refused_and_kept(workdir, tiny_params):
    source = workdir / "data" / "houses" / "houses.csv"
    source.parent.mkdir(parents=True)
    source.write_text(_rows())
    _csv_params(workdir, tiny_params, path="data/houses/houses.csv")
    before = snapshot(workdir)
    one_error(run("data", "--dataset", "houses"), "datasets.houses.path", "overlaps data/houses")
    one_error(run("datasets"), "datasets.houses.path")
    assert snapshot(workdir) == before


def test_data_dir_equal_to_models_dir_is_refused_and_models_kept(workdir, tiny_params):
    models = workdir / "work" / "regression" / "sweep"
    models.mkdir(parents=True)
    (models / "p0.5_seed0.pt").write_bytes(b"a trained model")
    write_raw_params(workdir, tiny_params, **{"data.dir": "work", "train.models_dir": "work"})
    before = snapshot(workdir)
    for command in (["data", "--dataset", "regression"], ["sweep", "--dataset", "regression", "--quiet"]):
        one_error(run(*command), "data.dir (work) and train.models_dir (work) overlap")
    assert snapshot(workdir) == before
    write_raw_params(workdir, tiny_params, **{"data.dir": "work/data", "train.models_dir": "work"})  # one inside
    before = snapshot(workdir)
    one_error(run("data", "--dataset", "regression"), "overlap")
    assert snapshot(workdir) == before


def test_a_reports_folder_that_overlaps_the_data_is_refused(workdir, tiny_params):
    write_params(workdir, tiny_params)
    assert run("data", "--dataset", "regression").exit_code == 0
    before = snapshot(workdir)
    one_error(run("report", "--reports-dir", "data/regression"), "data.dir (data) and the reports folder "
                                                                  "(data/regression) overlap")
    assert snapshot(workdir) == before


def test_a_users_file_in_a_data_folder_survives(workdir, tiny_params):
    write_params(workdir, tiny_params)
    notes = workdir / "data" / "regression" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("mine")
    (notes.parent / "old_file_of_mine.csv").write_text("x\n1\n")
    assert run("data", "--dataset", "regression").exit_code == 0
    assert notes.read_text() == "mine" and (notes.parent / "old_file_of_mine.csv").read_text() == "x\n1\n"
    assert sorted(p.name for p in notes.parent.iterdir()) == \
        ["notes.txt", "old_file_of_mine.csv", "schema.json", "test.csv", "train.csv", "val.csv"]
    train = (notes.parent / "train.csv").read_text()
    assert run("data", "--dataset", "regression", "--seed", "5").exit_code == 0  # written again: replaced
    assert (notes.parent / "train.csv").read_text() != train and notes.read_text() == "mine"


@pytest.mark.parametrize("name, needle", [
    (".", "not dots only"), ("..", "not dots only"), ("...", "not dots only"),
    ("x" * 101, "at most 100 characters"), ("a/b", "letters, digits"),
])
def test_dataset_names_that_name_no_folder_of_their_own(workdir, tiny_params, name, needle):
    raw = to_dict(tiny_params)
    raw["datasets"] = {name: {"source": "synthetic"}}
    raw["active"] = {}  # the default experiments name datasets no longer declared
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    before = snapshot(workdir)
    one_error(run("data", "--dataset", name), "datasets name", needle)
    assert snapshot(workdir) == before and not (workdir / "data").exists()


def test_predict_output_that_is_the_model_is_refused(workdir, tiny_params):
    model = _trained(workdir, tiny_params)
    (workdir / "in.csv").write_text("x1\n0.5\n")
    os.link(workdir / model, workdir / "hard_link.pt")
    before = snapshot(workdir)
    for output in (model, f"./{model}", "models/../" + model, "hard_link.pt"):
        one_error(run("predict", "--model", model, "--input", "in.csv", "--output", output), "overwrite the model")
    one_error(run("evaluate", "--dataset", "regression", "--model", model, "--output", model), "overwrite the model")
    assert snapshot(workdir) == before


def test_a_linked_data_folder_stays_a_link(workdir, tiny_params):
    write_params(workdir, tiny_params)
    elsewhere = workdir / "disk" / "regression"
    elsewhere.mkdir(parents=True)
    (workdir / "data").mkdir()
    (workdir / "data" / "regression").symlink_to(elsewhere)
    assert run("data", "--dataset", "regression").exit_code == 0
    assert (workdir / "data" / "regression").is_symlink()
    assert (elsewhere / "train.csv").is_file() and (elsewhere / "schema.json").is_file()
    assert sorted(p.name for p in (workdir / "data").iterdir()) == ["regression"]  # no '.regression.old' link


def _dvc_project(workdir: Path, params_text: str) -> Path:
    """The project's dvc.yaml in a fresh git + DVC repository, with committed reports to lose."""
    shutil.copy(ROOT / "dvc.yaml", workdir / "dvc.yaml")
    shutil.copytree(ROOT / "sources", workdir / "sources")
    shutil.copytree(ROOT / "src" / "mcdropout", workdir / "src" / "mcdropout",  # the stages' code dependencies
                    ignore=shutil.ignore_patterns("__pycache__"))
    (workdir / "params.yaml").write_text(params_text)
    reports = workdir / "reports" / "regression"
    reports.mkdir(parents=True)
    for name in ("metrics.json", "compare.json", "summary.json", "by_p.json"):
        (reports / name).write_text('{"committed": true}\n')
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "start"]):
        subprocess.run(cmd, cwd=workdir, env=env, check=True, capture_output=True)
    return reports


def test_dvc_repro_with_a_minimal_params_file_is_refused_before_any_output(workdir):
    # DVC itself would run the data stage (its keys are there), then fail the train stage on its missing keys
    # after removing the train stage's outputs: the committed reports
    minimal = "datasets:\n  regression:\n    source: synthetic\n    epochs: 2\ndata:\n  seed: 0\n  dir: data\n" \
              "sweep:\n  resplit: true\n"
    reports = _dvc_project(workdir, minimal)
    before = snapshot(reports)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # without `active:` DVC cannot parse the active stage's `foreach`: it stops before any stage, naming the key
    proc = subprocess.run([str(BIN / "dvc"), "repro"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "Could not find 'active'" in proc.stdout + proc.stderr
    assert snapshot(reports) == before
    (workdir / "params.yaml").write_text(minimal + "active: {}\n")
    proc = subprocess.run([str(BIN / "dvc"), "repro"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    printed = proc.stdout + proc.stderr  # DVC passes the stage's output on
    errors = [line for line in printed.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "dvc repro reads every key" in errors[0] and "mcdropout params" in errors[0], printed
    assert "failed to reproduce 'data@regression'" in printed and "Traceback" not in printed
    assert snapshot(reports) == before


def test_mcdropout_params_prints_a_complete_params_file(workdir, tiny_params):
    (workdir / "params.yaml").write_text("datasets:\n  regression:\n    source: synthetic\n")
    result = run("params")
    assert result.exit_code == 0
    full = yaml.safe_load(result.output)
    from mcdropout.core.config import Params, from_dict
    from mcdropout.core.workspace import dvc_params_missing

    assert from_dict(full) == from_dict({"datasets": {"regression": {"source": "synthetic"}}})
    assert full["train"]["epochs"] == Params().train.epochs and full["mc"]["samples"] == 100
    (workdir / "params.yaml").write_text(result.output)
    assert dvc_params_missing(workdir / "params.yaml", ROOT / "dvc.yaml", ["regression"]) == []


# --- 2. nothing unbounded ----------------------------------------------------------------


@pytest.mark.parametrize("key, value, needle", [
    ("mc.samples", 1_000_000_000, "mc.samples must be an integer in [1, 100,000]"),
    ("mc.samples", 0, "mc.samples must be an integer in [1, 100,000]"),
])
def test_samples_are_capped(workdir, tiny_params, key, value, needle):
    write_raw_params(workdir, tiny_params, **{key: value})
    one_error(run("data", "--dataset", "regression"), needle)


def test_predict_checks_memory_before_the_work(workdir, tiny_params, monkeypatch):
    import mcdropout.inference.predict

    _trained(workdir, tiny_params)
    (workdir / "in.csv").write_text("x1\n" + "0.5\n" * 1000)
    monkeypatch.setattr(mcdropout.inference.predict, "available_memory", lambda: 100_000)  # 100 kB left
    monkeypatch.setattr(mcdropout.inference.predict, "prediction_columns",
                        lambda *a: pytest.fail("worked before checking"))
    one_error(run("predict", "--model", "models/regression/p0.2_seed0.pt", "--input", "in.csv", "--output", "o.csv"),
              "predicting 1,000 rows needs about", "GiB of memory", "predict the rows in parts")
    assert not (workdir / "o.csv").exists()


# --- 3. every ending told truthfully -----------------------------------------------------


def _long_sweep(workdir: Path, tiny_params, tracked: bool = False) -> subprocess.Popen:
    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0], "mlflow.enabled": tracked,
                                     "datasets.regression.epochs": 1_000_000})
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(params)))
    assert run("data", "--dataset", "regression").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([str(BIN / "mcdropout"), "sweep", "--dataset", "regression"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stderr.readline()  # the pipe gets progress at once (line-buffered, a line at the start)
    assert "training 1000000 epochs" in line, line
    return proc


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_sweep_says_so_and_exits_128_plus_the_signal(workdir, tiny_params, signum, code):
    reports = workdir / "reports" / "regression"
    reports.mkdir(parents=True)
    (reports / "metrics.json").write_text('{"earlier": true}\n')
    before = snapshot(workdir / "reports")
    proc = _long_sweep(workdir, tiny_params)
    os.killpg(proc.pid, signum)  # the whole group, the tracking helper with it
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: stopped by {signum.name}; nothing was saved; earlier outputs are as they were"], err
    assert "Traceback" not in err and "outputs are saved" not in err
    assert snapshot(workdir / "reports") == before
    assert not (workdir / "models" / "regression" / "sweep").exists()


def test_a_stopped_command_names_what_it_had_saved(tmp_path):
    from mcdropout.cli import stopped_line

    saved, gone = tmp_path / "a.json", tmp_path / ".staging" / "m.pt"
    saved.write_text("{}")
    assert stopped_line(signal.SIGTERM, [saved, gone, saved]) == \
        f"Error: stopped by SIGTERM; saved before it: {saved}; the command's other outputs were not written"


def test_runs_of_a_killed_command_are_marked_killed_by_the_next(workdir, tiny_params):
    from mlflow import MlflowClient

    proc = _long_sweep(workdir, tiny_params.override(**{"mlflow.enabled": True}), tracked=True)
    uri = tiny_params.mlflow.tracking_uri
    deadline = time.time() + 60
    while time.time() < deadline:  # the helper creates the store and the runs while the command trains
        time.sleep(1)
        try:  # read-only, so as not to race the helper's creation of the tables
            with sqlite3.connect(f"file:{uri.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
                if db.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0] == 3:
                    break
        except sqlite3.Error:
            pass
    else:
        pytest.fail("no RUNNING runs appeared")
    mlc = MlflowClient(uri)
    running = [r for e in mlc.search_experiments() for r in mlc.search_runs([e.experiment_id])
               if r.info.status == "RUNNING"]
    assert {r.data.tags["mcdropout.pid"] for r in running} == {str(proc.pid)}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert all(mlc.get_run(r.info.run_id).info.status == "RUNNING" for r in running)  # what SIGKILL leaves
    write_params(workdir, tiny_params.override(**{"mlflow.enabled": True}).with_epochs(2))
    assert run("train", "--dataset", "regression", "--quiet").exit_code == 0
    assert [mlc.get_run(r.info.run_id).info.status for r in running] == ["KILLED"] * 3


def test_serve_without_a_champion_is_one_line_and_creates_no_store(workdir, tiny_params):
    write_params(workdir, tiny_params.override(**{"mlflow.tracking_uri": "sqlite:///mlflow.db"}))
    before = snapshot(workdir)
    proc = subprocess.run([str(BIN / "mcdropout"), "serve", "--dataset", "regression", "--port", "5999"], cwd=workdir,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: no champion model mcdropout-regression: the tracking store sqlite:///mlflow.db does not exist; "
        "run `mcdropout sweep --dataset regression` (or `dvc repro`) first"]
    assert snapshot(workdir) == before and not (workdir / "mlflow.db").exists()


# --- 5. numbers at their limits ----------------------------------------------------------


@pytest.mark.parametrize("column, scale, needle", [("price", 1e20, "target 'price'"), ("a", 1e25, "feature 'a'")])
def test_values_too_large_to_standardise_are_refused(workdir, tiny_params, column, scale, needle):
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=40), "b": rng.normal(size=40), "price": rng.normal(size=40) + 5}
    values[column] = values[column] * scale
    (workdir / "h.csv").write_text("a,b,price\n" + "".join(f"{a},{b},{p}\n" for a, b, p in zip(*values.values())))
    _csv_params(workdir, tiny_params, path="h.csv")
    before = snapshot(workdir)
    one_error(run("data", "--dataset", "houses"), needle, "beyond ±1e+15", "rescale the column")
    assert snapshot(workdir) == before


@pytest.mark.parametrize("args", [["--seed", str(2**32)], ["--seed", str(2**64)], ["--seed", "-1"]])
def test_seeds_beyond_the_generators_are_refused(workdir, tiny_params, args):
    write_params(workdir, tiny_params)
    one_error(run("data", "--dataset", "regression", *args), "data.seed must be an integer in [0, 4,294,967,295]")
    one_error(run("train", "--dataset", "regression", "--quiet", *args), "train.seed must be an integer in [0, 4,")


@pytest.mark.parametrize("key, values", [("sweep.p", [0.1, 0.1000001, 0.10000001]),
                                         ("compare.l2", [1e-4, 1.0000001e-4])])
def test_grid_values_that_would_name_one_member_are_refused(workdir, tiny_params, key, values):
    write_raw_params(workdir, tiny_params, **{key: values})
    one_error(run("sweep", "--dataset", "regression", "--quiet"), key, "differ in their first 6 significant digits")


def test_uci_split_given_twice_is_refused(workdir):
    _uci(workdir)
    one_error(_uci_run("--splits", "0,0"), "split(s) 0 given more than once")
    one_error(_uci_run("--splits", "1,2,1"), "split(s) 1 given more than once")
    assert not (workdir / "out").exists()


# --- 6. conventions ----------------------------------------------------------------------


def test_predict_reads_standard_input_and_writes_standard_output(workdir, tiny_params):
    model = _trained(workdir, tiny_params)
    (workdir / "in.csv").write_text("x1\n0.5\n-1.0\n")
    assert run("predict", "--model", model, "--input", "in.csv", "--output", "file.csv").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([str(BIN / "mcdropout"), "predict", "--model", model, "--input", "-", "--output", "-"],
                          cwd=workdir, input="x1\n0.5\n-1.0\n", capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (workdir / "file.csv").read_text()  # the same CSV, on standard output
    assert "wrote standard output (2 rows)" in proc.stderr
    assert not (workdir / "-").exists()
    bad = subprocess.run([str(BIN / "mcdropout"), "predict", "--model", model, "--input", "-", "--output", "o.csv"],
                         cwd=workdir, input="x1\nabc\n", capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "Error: <stdin>: line 2, column x1: not a number: 'abc'"
