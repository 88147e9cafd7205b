"""mcdropout.cli.serving: `mcdropout ui` and `mcdropout serve` in a tmp workdir, the server itself replaced (a real
`mlflow models serve` is tests/end_to_end/test_serve.py's): the mistakes found before anything starts (one line,
exit 2), the command each starts and the address it prints once the server answers."""

import socket
import sys
from pathlib import Path

import pytest
import yaml

from cli_runs import one_error, run
from mcdropout.core.config import to_dict
from mcdropout.tracking import registry, servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project(workdir, tiny_params):
    """A workdir whose params.yaml puts the store (not created) and the artifacts in it."""
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(tiny_params)))
    return workdir, tiny_params


@pytest.fixture
def started(monkeypatch):
    """``servers.serve`` replaced: records ``(cmd, health_url, env)``, calls ``ready()`` as the real one does once
    the server answers, and returns 0 (the server's exit code)."""
    calls = []

    def serve(cmd, health_url, ready, env=None):
        calls.append((cmd, health_url, env))
        ready()
        return 0

    monkeypatch.setattr(servers, "serve", serve)
    return calls


# --- help --------------------------------------------------------------------------------------------


def test_help():
    result = run("ui", "--help")
    text = " ".join(result.output.split())  # as wrapped to any width
    assert result.exit_code == 0 and "Start the MLflow UI" in text
    assert "--port INTEGER [default: 5000]" in text and "[default: 127.0.0.1]" in text
    result = run("serve", "--help")
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "Serve the dataset's champion model" in text
    assert "--dataset, --task NAME" in text and "--port INTEGER [default: 5001]" in text


# --- mcdropout ui ------------------------------------------------------------------------------------


def test_ui_prints_the_address_in_the_model_training_view(project, started):
    workdir, params = project
    port = _free_port()  # nothing listens there: no experiment to open, the root page
    result = run("ui", "--port", port)
    assert result.exit_code == 0, result.output
    address = f"http://127.0.0.1:{port}"
    assert result.stderr.splitlines() == [
        f"starting the MLflow UI on the store {params.mlflow.tracking_uri} ...",
        f"MLflow UI: {address}/#/experiments?workflowType=machine_learning (all experiments: "
        f"{address}/#/experiments?workflowType=machine_learning); Ctrl-C stops it"]
    ((cmd, health, env),) = started
    assert cmd == [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", params.mlflow.tracking_uri,
                   "--default-artifact-root", (workdir / "mlruns").resolve().as_uri(), "--host", "127.0.0.1",
                   "--port", str(port)]
    assert health == f"{address}/health" and env is None
    assert not (workdir / "mlflow.db").exists()  # the UI's start creates no store


def test_ui_opens_the_first_experiment_of_the_project(project, started, monkeypatch):
    seen = []
    monkeypatch.setattr(servers, "first_experiment_page",
                        lambda address, prefix: seen.append((address, prefix)) or f"{address}/#/experiments/4/runs?x")
    port = _free_port()
    result = run("ui", "--port", port)
    assert result.exit_code == 0, result.output
    assert seen == [(f"http://127.0.0.1:{port}", "mcdropout")]
    assert f"MLflow UI: http://127.0.0.1:{port}/#/experiments/4/runs?x (all experiments:" in result.stderr


def test_ui_brackets_an_ipv6_host(project, started):
    try:
        port = _free_port()
        servers.check_port("::1", port)
    except Exception:
        pytest.skip("no IPv6 loopback here")
    result = run("ui", "--host", "::1", "--port", port)
    assert result.exit_code == 0, result.output
    assert f"MLflow UI: http://[::1]:{port}/#/experiments?workflowType=machine_learning" in result.stderr
    assert started[0][1] == f"http://[::1]:{port}/health"


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_ui_port_out_of_range(project, started, port):
    assert one_error(run("ui", "--port", port)) == f"Error: --port must be in 1-65535, got {port}"
    assert started == []


def test_ui_port_in_use(project, started):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = one_error(run("ui", "--port", port))
    assert line == (f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); is another server using "
                    f"it? Pick another --port")
    assert started == []


def test_ui_on_a_server_store_or_an_unusable_one(project, started, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert one_error(run("ui")) == ("Error: the tracking store is a server (http://127.0.0.1:9); open it in a browser "
                                    "instead")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////proc/nope.db")
    one_error(run("ui", "--port", _free_port()), "the tracking store cannot be used: sqlite:////proc/nope.db")
    assert started == []


def test_ui_bad_params_file(workdir, started):
    (workdir / "params.yaml").write_text("mc:\n  samples: 0\n")
    one_error(run("ui"), "mc.samples")
    assert started == []


# --- mcdropout serve ----------------------------------------------------------------------------------


def test_serve_without_a_store_says_what_to_run(project, started):
    workdir, params = project
    line = one_error(run("serve", "--dataset", "regression", "--port", _free_port()))
    assert line == (f"Error: no champion model mcdropout-regression: the tracking store {params.mlflow.tracking_uri} "
                    f"does not exist; run `mcdropout sweep --dataset regression` (or `dvc repro`) first")
    assert started == [] and not (workdir / "mlflow.db").exists()  # nothing created


def test_serve_starts_mlflow_models_serve_on_the_champion(project, started, monkeypatch):
    workdir, params = project
    monkeypatch.setattr(registry, "champion_missing", lambda p, dataset: None)
    port = _free_port()
    result = run("serve", "--task", "classification", "--port", port)
    assert result.exit_code == 0, result.output
    ((cmd, health, env),) = started
    assert cmd == [sys.executable, "-m", "mlflow", "models", "serve", "-m",
                   "models:/mcdropout-classification@champion", "--env-manager", "local", "-h", "127.0.0.1",
                   "-p", str(port)]
    assert health == f"http://127.0.0.1:{port}/ping"
    assert env["MLFLOW_TRACKING_URI"] == params.mlflow.tracking_uri
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)  # `uvicorn` found by name
    assert result.stderr.splitlines() == [
        f"serving models:/mcdropout-classification@champion from {params.mlflow.tracking_uri} ...",
        f"POST rows to http://127.0.0.1:{port}/invocations (e.g. {{\"dataframe_split\": {{\"columns\": [...], "
        f"\"data\": [[...]]}}}}); Ctrl-C stops it"]


def test_serve_mistakes_before_anything_starts(project, started, monkeypatch):
    monkeypatch.setattr(registry, "champion_missing", lambda p, dataset: pytest.fail("looked for a champion"))
    one_error(run("serve", "--dataset", "nope"), "unknown dataset 'nope'")
    one_error(run("serve", "--dataset", "regression", "--port", 0), "--port must be in 1-65535, got 0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        one_error(run("serve", "--dataset", "regression", "--port", sock.getsockname()[1]), "cannot listen on")
    result = run("serve")
    assert result.exit_code == 2 and "Missing option '--dataset'" in result.output
    assert started == []


def test_ui_neither_imports_torch_nor_lightning(workdir):
    """`mcdropout ui` only starts a server: a mistake is one line at once, and the end of the server ends the command
    at once (no seconds of torch and Lightning imports first)."""
    import subprocess

    code = ("import sys; from click.testing import CliRunner; from mcdropout.cli import main; "
            "r = CliRunner().invoke(main, ['ui', '--port', '0']); assert r.exit_code == 2, r.output; "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
