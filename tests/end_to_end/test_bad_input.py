"""The CLI as a careless user drives it (issue 15): every mistake is one ``Error:`` line and exit code 2,
never a traceback, and nothing is written or changed. One test (or a few) per kind of mistake:

1. Lightning/torch settings   2. numbers that are not sane   3. CSV files and output paths
4. checkpoints   5. interrupted runs   6. tracking stores   7. ``mcdropout ui``   8. UCI benchmark
9. small ones (params encoding, ``mc.level``, folder modes)
"""

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cli_runs import one_error, run
from mcdropout.core import io as mio
from mcdropout.core.config import to_dict
from uci_files import tiny_uci as _uci  # noqa: F401 - test_bad_input_round2 imports it from here too

EPOCHS = 5
MODEL = "models/regression/p0.2_seed0.pt"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with a hash of its bytes: 'nothing written or changed'."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_params(workdir: Path, params, **overrides) -> None:
    raw = to_dict(params.override(**{k: v for k, v in overrides.items()}) if overrides else params)
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))


def write_raw_params(workdir: Path, params, **dotted) -> None:
    """Params with raw values set as written in YAML (also values that validation refuses)."""
    raw = to_dict(params)
    for key, value in dotted.items():
        *path, leaf = key.split(".")
        node = raw
        for part in path:
            node = node[part]
        node[leaf] = value
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """data/ and models/ of one tiny regression run, made once; copied into a test's workdir by ``project``."""
    from mcdropout.core.config import Params

    root = tmp_path_factory.mktemp("trained")
    params = Params().override(**{"data.regression.n_test": 50, "model.hidden": [16, 16], "mc.samples": 20,
                                  "mlflow.enabled": False, "sweep.p": [0.0, 0.5], "sweep.seeds": [0]})
    params = params.with_epochs(EPOCHS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        write_params(root, params)
        assert run("data", "--dataset", "regression").exit_code == 0
        assert run("train", "--dataset", "regression", "--quiet").exit_code == 0
    return root


@pytest.fixture
def project(workdir, tiny_params, trained):
    """A workdir holding tiny params (epochs <= 5), the regression dataset and a trained model."""
    for name in ("data", "models"):
        shutil.copytree(trained / name, workdir / name)
    write_params(workdir, tiny_params.with_epochs(EPOCHS))
    return workdir


# --- 1. settings handed to Lightning and torch ------------------------------------------


@pytest.mark.parametrize("key, value, needle", [
    ("train.devices", [], "train.devices"),
    ("train.devices", 0, "train.devices"),
    ("train.devices", [0, 0], "train.devices"),
    ("train.strategy", "nonsense", "train.strategy"),
    ("train.accelerator", "nonsense", "train.accelerator"),
    ("train.accelerator", "tpu", "train.accelerator"),  # its package (torch_xla) is missing: an ImportError
])
def test_lightning_settings_are_checked_up_front(project, tiny_params, key, value, needle):
    write_raw_params(project, tiny_params.with_epochs(EPOCHS), **{key: value})
    before = snapshot(project)
    one_error(run("train", "--dataset", "regression", "--p", "0.3", "--quiet"), needle)
    assert snapshot(project) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_accelerator_without_a_gpu(project):
    before = snapshot(project)
    one_error(run("train", "--dataset", "regression", "--accelerator", "gpu", "--quiet"), "train.accelerator")
    assert snapshot(project) == before


# --- 2. numbers that are not sane --------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--lr", "inf"], "a finite number"),
    (["--lr", "nan"], "a finite number"),
    (["--lr", "-1"], "lr must be a number > 0"),
    (["--p", "1"], "train.p"),
    (["--epochs", "0"], "epochs"),
])
def test_bad_numbers_on_the_command_line(project, args, needle):
    before = snapshot(project)
    one_error(run("train", "--dataset", "regression", "--quiet", *args), needle)
    assert snapshot(project) == before


@pytest.mark.parametrize("key, value", [
    ("data.regression.noise", float("inf")),
    ("data.regression.noise", float("nan")),
    ("data.regression.noise", 1e300),  # finite, but the targets would be inf in float32
    ("data.regression.x_max", 1e300),
    ("data.regression.n_train", 10**12),  # memory
    ("train.lr", float("inf")),
    ("mc.level", float("nan")),
])
def test_bad_numbers_in_params(project, tiny_params, key, value):
    write_raw_params(project, tiny_params.with_epochs(EPOCHS), **{key: value})
    before = snapshot(project)
    one_error(run("data", "--dataset", "regression"), key)
    assert snapshot(project) == before


def test_network_too_large_for_memory(project, tiny_params):
    write_params(project, tiny_params.with_epochs(EPOCHS), **{"model.hidden": [1_000_000, 1_000_000]})
    before = snapshot(project)
    one_error(run("train", "--dataset", "regression", "--quiet"), "model.hidden", "GiB")
    one_error(run("sweep", "--dataset", "regression", "--quiet"), "model.hidden", "27 member(s)")
    assert snapshot(project) == before


@pytest.mark.parametrize("dataset, lr", [("regression", 1e6), ("classification", 1e30)])
def test_divergence_is_one_line_and_saves_nothing(project, tiny_params, dataset, lr):
    if dataset == "classification":  # (its loss stays finite at lr 1e6 over 5 epochs)
        assert run("data", "--dataset", dataset).exit_code == 0
    before = snapshot(project)
    line = one_error(run("train", "--dataset", dataset, "--lr", lr, "--quiet"), "training diverged (non-finite loss)")
    assert "member p0.2_seed0" in line
    write_params(project, tiny_params.with_epochs(EPOCHS), **{"train.lr": lr})
    before = snapshot(project)
    one_error(run("sweep", "--dataset", dataset, "--quiet"), "training diverged (non-finite loss) for member p")
    assert snapshot(project) == before


# --- 3. CSV files as users have them, and output paths -----------------------------------


def _csv_dataset(workdir: Path, tiny_params, content: bytes) -> None:
    (workdir / "t.csv").write_bytes(content)
    raw = to_dict(tiny_params)
    raw["datasets"] = {"t": {"source": "csv", "path": "t.csv", "target": "y"}}
    raw["active"] = {}  # the default experiments name datasets no longer declared
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))


def _rows(n: int = 40) -> str:
    return "".join(f"{i / 10},{i % 7 / 3},{(i * 37) % 11 - 5}\n" for i in range(n))


def test_csv_with_byte_order_mark_is_accepted(workdir, tiny_params):
    _csv_dataset(workdir, tiny_params, ("a,b,y\n" + _rows()).encode("utf-8-sig"))
    result = run("data", "--dataset", "t")
    assert result.exit_code == 0, result.output
    schema = json.loads((workdir / "data/t/schema.json").read_text())
    assert schema["features"] == ["a", "b"] and schema["target"] == "y"


@pytest.mark.parametrize("content, needle", [
    ("é,b,y\n".encode("latin-1") + _rows().encode(), "not UTF-8"),
    ("a,b,y\n".encode("utf-16") + _rows().encode("utf-16"), "not UTF-8"),
    (("a,b,y\n1e39,0,1\n" + _rows()).encode(), "beyond the float32 range"),
    (("a,b,y\n-1e39,0,1\n" + _rows()).encode(), "beyond the float32 range"),
    (("a,b,y\n0,0,1e39\n" + _rows()).encode(), "beyond the float32 range"),
    (("a,b,y\n1,,2\n" + _rows()).encode(), "empty cell"),
    (("a,b,y\n1,2\n" + _rows()).encode(), "line 2 has 2 values"),
    (b"", "file is empty"),
    (b"a,b,y\n", "no rows"),
])
def test_csv_mistakes(workdir, tiny_params, content, needle):
    _csv_dataset(workdir, tiny_params, content)
    before = snapshot(workdir)
    one_error(run("data", "--dataset", "t"), needle, "t.csv")
    assert snapshot(workdir) == before


def test_predict_input_that_is_a_folder(project):
    before = snapshot(project)
    one_error(run("predict", "--model", MODEL, "--input", "models", "--output", "out.csv"), "models: is a folder")
    assert snapshot(project) == before


def test_predict_output_equal_to_input_is_refused(project):
    (project / "in.csv").write_text("x1\n0.5\n")
    before = snapshot(project)
    one_error(run("predict", "--model", MODEL, "--input", "in.csv", "--output", "./in.csv"), "overwrite the input")
    assert snapshot(project) == before


@pytest.mark.parametrize("args, needle", [
    (["--tolerance", "0"], "tolerance must be a number > 0"),
    (["--tolerance", "-0.1"], "tolerance must be a number > 0"),
    (["--tolerance", "nan"], "tolerance"),
    (["--tolerance", "0.1", "--max-samples", "0"], "max_samples must be an integer in [1, 100,000]"),
    (["--max-samples", "50"], "--max-samples caps sampling to a --tolerance"),
])
def test_predict_tolerance_mistakes(project, args, needle):
    (project / "in.csv").write_text("x1\n0.5\n")
    before = snapshot(project)
    one_error(run("predict", "--model", MODEL, "--input", "in.csv", "--output", "out.csv", *args), needle)
    assert snapshot(project) == before


def test_predict_to_a_tolerance_says_what_it_reached(project):
    (project / "in.csv").write_text("x1\n0.5\n-7\n")
    result = run("predict", "--model", MODEL, "--input", "in.csv", "--output", "out.csv", "--tolerance", "1e-9",
                 "--max-samples", "40")
    assert result.exit_code == 0, result.output
    assert "tolerance 1e-09: 0 of 2 rows within it (40 to 40 passes a row, 80 in all); 2 stopped at the cap of 40 " \
           "passes (--max-samples)" in result.output
    header, *rows = (project / "out.csv").read_text().splitlines()
    assert header.split(",")[-2:] == ["samples", "tolerance_met"]
    assert [r.split(",")[-2:] for r in rows] == [["40", "false"], ["40", "false"]]


@pytest.mark.parametrize("output, needle", [
    ("/proc/x.csv", "cannot write"),
    ("/proc/nope/x.csv", "cannot write"),
    ("newdir/", "names a folder"),
    ("in.csv/out.csv", "cannot write"),  # a parent that is a file
    ("models", "models"),  # an existing folder (click's own check: "is a directory")
])
def test_predict_output_that_cannot_be_written(project, output, needle):
    (project / "in.csv").write_text("x1\n0.5\n")
    before = snapshot(project)
    result = run("predict", "--model", MODEL, "--input", "in.csv", "--output", output)
    one_error(result, needle)
    assert snapshot(project) == before
    assert not (project / "newdir").exists()


@pytest.mark.parametrize("command", [
    ["evaluate", "--dataset", "regression", "--model", MODEL, "--output"],
    ["evaluate", "--dataset", "regression", "--model", "models/regression", "--output"],  # a folder of checkpoints
    ["compare", "--dataset", "regression", "--quiet", "--output"],
])
@pytest.mark.parametrize("output", ["/proc/x.json", "newdir/", "data"])
def test_json_output_that_cannot_be_written_is_refused_before_the_work(project, command, output):
    before = snapshot(project)
    start = time.perf_counter()
    result = run(*command, output)
    assert time.perf_counter() - start < 20
    one_error(result)
    assert snapshot(project) == before
    assert not (project / "newdir").exists()


def test_models_dir_that_cannot_be_written_is_refused_before_training(project, tiny_params):
    write_params(project, tiny_params.with_epochs(EPOCHS), **{"train.models_dir": "/proc/models"})
    before = snapshot(project)
    one_error(run("train", "--dataset", "regression", "--quiet"), "/proc/models", "cannot write")
    one_error(run("sweep", "--dataset", "regression", "--quiet"), "/proc/models", "cannot write")
    assert snapshot(project) == before


def test_data_dir_that_cannot_be_written(workdir, tiny_params):
    write_params(workdir, tiny_params, **{"data.dir": "/proc/data"})
    one_error(run("data", "--dataset", "regression"), "/proc/data", "cannot write")
    (workdir / "afile").write_text("x")
    one_error(run("data", "--dataset", "regression", "--out-dir", "afile"), "afile")
    assert snapshot(workdir) == {"afile": hashlib.sha256(b"x").hexdigest(),
                                 "params.yaml": snapshot(workdir)["params.yaml"]}


def test_io_refuses_unwritable_paths_with_one_line(tmp_path):
    for bad in ("/proc/x.txt", str(tmp_path) + "/", str(tmp_path / "d") + os.sep, str(tmp_path), ""):
        with pytest.raises(mio.DataError):
            mio.write_text(bad, "x")
        with pytest.raises(mio.DataError):
            mio.check_output(bad)
    assert mio.check_output(tmp_path / "new" / "deeper" / "f.json") == tmp_path / "new" / "deeper" / "f.json"
    assert list(tmp_path.iterdir()) == []  # checking makes nothing
    with pytest.raises(mio.DataError, match="cannot write"), mio.staged_dir("/proc/folder", owns=("*",)):
        pass


def test_devices_are_written_in_place_and_links_to_files_replaced(tmp_path):
    """``--output /dev/null`` (or /dev/stdout) must never replace the device with a file (as root it could)."""
    assert mio._special(Path("/dev/null")) and mio._special(Path("/dev/stdout"))
    assert not mio._special(tmp_path) and not mio._special(tmp_path / "new.csv")
    (tmp_path / "null").symlink_to("/dev/null")  # a link to a device: written through
    mio.write_text(tmp_path / "null", "x")
    assert (tmp_path / "null").is_symlink()
    cache = tmp_path / "cache"
    cache.write_text("cached")
    (tmp_path / "out.json").symlink_to(cache)  # a link to a file (DVC's symlink cache): the link is replaced
    mio.write_text(tmp_path / "out.json", "new")
    assert not (tmp_path / "out.json").is_symlink() and (tmp_path / "out.json").read_text() == "new"
    assert cache.read_text() == "cached"


def test_predict_to_a_device(project):
    (project / "in.csv").write_text("x1\n0.5\n")
    (project / "sink").symlink_to("/dev/null")
    result = run("predict", "--model", MODEL, "--input", "in.csv", "--output", "sink")
    assert result.exit_code == 0, result.output
    assert (project / "sink").is_symlink() and Path("/dev/null").is_char_device()


# --- 4. checkpoints with the right format tag but wrong contents --------------------------


def _damage(path: Path, how: str) -> None:
    payload = torch.load(path, weights_only=True)
    if how == "shapes":
        key = next(iter(payload["state_dict"]))
        payload["state_dict"][key] = torch.zeros(3, 3, 3)
    elif how == "missing keys":
        del payload["model"]["hidden"]
    elif how == "meta":
        payload["meta"] = {"nonsense": 1}
    torch.save(payload, path)


@pytest.mark.parametrize("how", ["shapes", "missing keys", "meta"])
def test_damaged_checkpoint_is_named(project, how):
    _damage(project / MODEL, how)
    (project / "in.csv").write_text("x1\n0.5\n")
    before = snapshot(project)
    one_error(run("evaluate", "--dataset", "regression", "--model", MODEL), "p0.2_seed0.pt", "damaged checkpoint")
    one_error(run("predict", "--model", MODEL, "--input", "in.csv", "--output", "out.csv"), "p0.2_seed0.pt")
    folder = project / "models/regression/sweep"
    folder.mkdir()
    shutil.copy(project / MODEL, folder / "p0.2_seed0.pt")
    before = snapshot(project)
    one_error(run("evaluate", "--dataset", "regression", "--model", folder), "p0.2_seed0.pt")
    assert snapshot(project) == before


def test_files_that_are_not_checkpoints(project):
    (project / "in.csv").write_text("x1\n0.5\n")
    (project / "fake.pt").write_bytes(b"\x80\x04not a pickle at all")
    before = snapshot(project)
    one_error(run("predict", "--model", "fake.pt", "--input", "in.csv", "--output", "out.csv"), "fake.pt")
    one_error(run("predict", "--model", "in.csv", "--input", "in.csv", "--output", "out.csv"), "in.csv")
    one_error(run("evaluate", "--dataset", "regression", "--model", "nope.pt"), "nope.pt")
    assert snapshot(project) == before


# --- 5. interrupted runs -----------------------------------------------------------------


def test_interrupted_data_keeps_the_old_dataset_and_stale_staging_is_removed(project, monkeypatch):
    import mcdropout.data.datasets

    stale = project / "data" / ".regression.leftover"
    stale.mkdir()
    (stale / "train.csv").write_text("half")
    old = time.time() - 2 * mio.STALE_SECONDS
    os.utime(stale, (old, old))
    before = snapshot(project / "data" / "regression")
    calls = []
    real = mcdropout.data.datasets.write_table

    def killed_after_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mcdropout.data.datasets, "write_table", killed_after_first)
    result = run("data", "--dataset", "regression", "--seed", "7")
    assert result.exit_code != 0
    assert snapshot(project / "data" / "regression") == before  # not a mix of two seeds
    assert [p.name for p in (project / "data").iterdir()] == ["regression"]  # stale and new staging gone


# --- 6. tracking stores ------------------------------------------------------------------


def test_unwritable_sqlite_store_fails_fast_with_one_warning(project, tiny_params):
    write_params(project, tiny_params.with_epochs(EPOCHS), **{"mlflow.enabled": True})
    env = {**os.environ, "MLFLOW_TRACKING_URI": "sqlite:////proc/nope.db"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mcdropout.cli", "train", "--dataset", "regression", "--p", "0.1",
                           "--epochs", str(EPOCHS), "--quiet"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "Warning" in line or "WARNING" in line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: MLflow"), proc.stderr
    assert "/proc/nope.db" in warnings[0]
    assert (project / "models/regression/p0.1_seed0.pt").is_file()
    assert took < 60  # MLflow's own retries took about 100 s


@pytest.mark.parametrize("uri", ["sqlite:////proc/nope.db", "sqlite:////proc/a/b.db", "file:///proc/mlruns",
                                 "/proc/mlruns", "sqlite:///{tmp}/not_a_db.txt", "sqlite:///{tmp}"])
def test_stores_are_probed_once_and_skipped_after_the_first_failure(tmp_path, monkeypatch, capsys, uri):
    from mcdropout.core.config import Params
    from mcdropout.nn.members import Member
    from mcdropout.tracking import runs as tracking

    (tmp_path / "not_a_db.txt").write_text("hello")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.reset()
    params = Params().override(**{"mlflow.enabled": True, "mlflow.tracking_uri": uri.format(tmp=tmp_path)})
    start = time.perf_counter()
    for _ in range(3):
        runs = tracking.create_runs(params, "regression", [Member(0.0, 0)], "sweep", 0, "cpu")
        assert runs == tracking.GroupRuns()
        tracking.log_evaluation(params, {"runs": [], "best_p": 0.0}, {"parent": "x", "members": {"p0_seed0": "y"}})
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("Warning: MLflow"), err
    tracking.reset()


def test_unwritable_artifact_folder_is_found_before_any_run(tmp_path, monkeypatch, capsys):
    from mcdropout.core.config import Params
    from mcdropout.nn.members import Member
    from mcdropout.tracking import runs as tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.reset()
    uri = f"sqlite:///{tmp_path}/m.db"
    params = Params().override(**{"mlflow.enabled": True, "mlflow.tracking_uri": uri,
                                  "mlflow.artifact_location": "/proc/mlruns"})
    assert tracking.create_runs(params, "regression", [Member(0.0, 0)], None, 0, "cpu") == tracking.GroupRuns()
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "mlflow.artifact_location /proc/mlruns" in err, err
    assert not (tmp_path / "m.db").exists()  # nothing half-logged: no run left RUNNING
    tracking.reset()


# --- 7. mcdropout ui ---------------------------------------------------------------------


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_ui_port_out_of_range(workdir, port):
    one_error(run("ui", "--port", port), "--port must be in 1-65535")


def test_ui_port_in_use(workdir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        one_error(run("ui", "--port", port), f"127.0.0.1:{port}")


def test_ui_on_a_server_store(workdir, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    one_error(run("ui"), "open it in a browser")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////proc/nope.db")
    start = time.perf_counter()
    one_error(run("ui", "--port", _free_port()), "tracking store cannot be used", "/proc/nope.db")
    assert time.perf_counter() - start < 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- 8. UCI benchmark --------------------------------------------------------------------


def _uci_run(*extra):
    return run("benchmark", "uci", "--data-dir", "uci", "--dataset", "tiny", "--epochs", "2", "--samples", "10",
               "--output-dir", "out", *extra)


@pytest.mark.parametrize("damage, needle", [
    (lambda f: (f / "index_test_2.txt").unlink(), "index_test_2.txt: missing"),
    (lambda f: (f / "index_train_2.txt").write_text("0\n1\n400\n"), "index_train_2.txt: row indices outside 0-39"),
    (lambda f: (f / "index_train_1.txt").write_text("-3\n"), "index_train_1.txt: row indices outside"),
    (lambda f: (f / "index_test_2.txt").write_text("one\n"), "index_test_2.txt: not a list of row indices"),
    (lambda f: (f / "index_train_2.txt").write_text("1\n"), "at least 3"),
    (lambda f: (f / "n_hidden.txt").write_text("0\n"), "n_hidden.txt"),
    (lambda f: (f / "tau_values.txt").write_text("-1\n"), "tau_values.txt"),
    (lambda f: (f / "dropout_rates.txt").write_text("1.5\n"), "dropout_rates.txt"),
    (lambda f: (f / "n_splits.txt").write_text(""), "n_splits.txt: empty"),
    (lambda f: (f / "index_target.txt").write_text("7\n"), "column indices outside 0-2"),
    (lambda f: (f / "data.txt").write_text("1 2 nan\n"), "data.txt"),
])
def test_uci_every_split_checked_before_any_training(workdir, monkeypatch, damage, needle):
    import mcdropout.study.uci

    folder = _uci(workdir) / "tiny"
    damage(folder)
    monkeypatch.setattr(mcdropout.study.uci, "run_splits", lambda *a, **k: pytest.fail("trained before checking"))
    one_error(_uci_run("--splits", "all"), needle)
    assert not (workdir / "out").exists()


def test_uci_dataset_as_a_path_is_refused(workdir):
    _uci(workdir)
    (workdir / "yacht").mkdir()
    before = snapshot(workdir)
    one_error(run("benchmark", "uci", "--data-dir", "uci", "--dataset", "../yacht", "--output-dir", "out/inner"),
              "must be a folder name")
    assert snapshot(workdir) == before and not (workdir / "out").exists()


@pytest.mark.parametrize("output_dir, needle", [("/proc/uci", "cannot write"), ("/proc/a/b", "cannot write"),
                                                ("afile", "afile"), ("afile/sub", "afile is a file")])
def test_uci_output_dir_that_cannot_be_written(workdir, output_dir, needle):
    _uci(workdir)
    (workdir / "afile").write_text("x")
    before = snapshot(workdir)
    one_error(run("benchmark", "uci", "--data-dir", "uci", "--dataset", "tiny", "--output-dir", output_dir), needle)
    assert snapshot(workdir) == before


def test_uci_saves_each_split_as_it_finishes(workdir, monkeypatch):
    import mcdropout.study.uci

    _uci(workdir)

    def fake_split(ds, i, epochs, samples, params, val_samples=1000):
        if i == 2:
            raise RuntimeError("the machine went down")
        return {"split": i, "rmse": 1.0 + i, "ll": -1.0, "rmse_standard": 1.5, "p": 0.01, "tau": 1.0, "seconds": 0.1}

    def fake_splits(ds, chosen, *args, **kwargs):
        return [fake_split(ds, i, *args[:3]) for i in chosen]

    monkeypatch.setattr(mcdropout.study.uci, "run_splits", fake_splits)
    with pytest.raises(RuntimeError, match="went down"):  # one split per model: splits 0 and 1 are saved
        _uci_run("--splits", "all", "--splits-per-model", "1")
    saved = json.loads((workdir / "out/tiny.json").read_text())["methods"]["mc_dropout"]
    assert [s["split"] for s in saved["splits"]] == [0, 1]
    assert saved["mean"]["rmse"] == pytest.approx(1.5)
    assert "| MC dropout (mcdropout) | 2 |" in (workdir / "out/tiny.md").read_text()  # 2 splits
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["tiny.json", "tiny.md"]  # no staging left

    # --merge adds split 2 to what was kept; a different protocol is refused before any training
    monkeypatch.setattr(mcdropout.study.uci, "run_splits",
                        lambda ds, chosen, *a, **k: [{**fake_split(ds, 0, *a[:3]), "split": i} for i in chosen])
    assert _uci_run("--splits", "2", "--merge").exit_code == 0
    merged = json.loads((workdir / "out/tiny.json").read_text())["methods"]["mc_dropout"]
    assert [s["split"] for s in merged["splits"]] == [0, 1, 2]
    before = snapshot(workdir)
    monkeypatch.setattr(mcdropout.study.uci, "run_splits", lambda *a, **k: pytest.fail("trained before checking"))
    one_error(run("benchmark", "uci", "--data-dir", "uci", "--dataset", "tiny", "--epochs", "3", "--samples", "10",
                  "--output-dir", "out", "--splits", "0", "--merge"), "--merge", "epochs")
    assert snapshot(workdir) == before
    (workdir / "out/tiny.json").write_text("[1, 2]")
    one_error(_uci_run("--splits", "0", "--merge"), "not a result")
    assert snapshot(workdir)["out/tiny.md"] == before["out/tiny.md"]


# --- 9. small ones -----------------------------------------------------------------------


def test_params_file_not_utf8(workdir):
    (workdir / "params.yaml").write_bytes("train:\n  lr: 0.01  # café\n".encode("latin-1"))
    one_error(run("datasets"), "not UTF-8")
    (workdir / "p.yaml").write_bytes(b"train: [unclosed\n")
    one_error(run("--params", "p.yaml", "datasets"), "not valid YAML")
    one_error(run("--params", "missing.yaml", "datasets"), "not found")
    (workdir / "long.yaml").write_text("x" * 5000 + "\n")  # a value as long as a file: the line stays short
    assert len(one_error(run("--params", "long.yaml", "datasets"), "params must be a mapping")) < 200


def test_yaml_numbers_as_dvc_reads_them(workdir, tiny_params):
    """PyYAML reads ``1e-3`` as a string; DVC (YAML 1.2) as a number: so does mcdropout."""
    from mcdropout.core.config import load_params

    (workdir / "p.yaml").write_text("train:\n  lr: 1e-3\n  weight_decay: 2E+1\ndata:\n  regression:\n"
                                    "    noise: 1e300\n")
    one_error(run("--params", "p.yaml", "datasets"), "data.regression.noise must be a number in [0, 1e6], got 1e+300")
    (workdir / "p.yaml").write_text("train:\n  lr: 1e-3\n  weight_decay: 2E+1\n  models_dir: 1e5x\n")
    params = load_params(workdir / "p.yaml")
    assert (params.train.lr, params.train.weight_decay, params.train.models_dir) == (1e-3, 20.0, "1e5x")


@pytest.mark.parametrize("level", ["0", "1", "1.5", "nan"])
def test_mc_level_wording(project, level):
    (project / "in.csv").write_text("x1\n0.5\n")
    line = one_error(run("predict", "--model", MODEL, "--input", "in.csv", "--output", "out.csv", "--level", level),
                     "mc.level")
    assert "(0, 1)" in line or "finite" in line
    assert not (project / "out.csv").exists()


def test_sweep_folder_has_the_usual_mode_and_stale_staging_goes(project):
    stale = project / "models/regression/.sweep.killed"
    stale.mkdir()
    (stale / "p0.0_seed0.pt").write_bytes(b"half")
    old = time.time() - 2 * mio.STALE_SECONDS
    os.utime(stale, (old, old))
    result = run("sweep", "--dataset", "regression", "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project / "models/regression").iterdir()) == ["p0.2_seed0.pt", "sweep"]
    usual = 0o777 & ~mio._UMASK
    for folder in ("models/regression/sweep", "data/regression", "models/regression"):
        assert stat.S_IMODE((project / folder).stat().st_mode) == usual, folder
