"""mcdropout.tracking.servers: the port checked before a server starts (one line), the server awaited until it
answers, stopped whole (its process group) on Ctrl-C or SIGTERM, and the UI's address in its model-training view.
Small Python servers stand in for `mlflow server`."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from mcdropout.core.config import ConfigError
from mcdropout.tracking import servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _signal_handlers():
    """serve() installs SIGTERM and SIGINT handlers for the command's lifetime: put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


# --- check_port --------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_a_port_outside_the_range_is_refused(port):
    with pytest.raises(ConfigError) as err:
        servers.check_port("127.0.0.1", port)
    assert str(err.value) == f"--port must be in 1-65535, got {port}"


def test_a_port_in_use_is_one_line_naming_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError) as err:
            servers.check_port("127.0.0.1", port)
    line = str(err.value)
    assert line == (f"cannot listen on 127.0.0.1:{port} (Address already in use); is another server using it? "
                    f"Pick another --port")
    assert "\n" not in line and "Traceback" not in line


def test_a_free_port_passes_and_stays_free():
    port = _free_port()
    assert servers.check_port("127.0.0.1", port) is None
    servers.check_port("127.0.0.1", port)  # the check's own socket is closed: the port can be taken again


def test_an_address_of_another_machine_cannot_be_listened_on():
    with pytest.raises(ConfigError, match=r"^cannot listen on 192\.0\.2\.1:\d+ \(.+\); is another server using it"):
        servers.check_port("192.0.2.1", _free_port())  # TEST-NET-1: never an address of this machine


# --- serve ----------------------------------------------------------------------------------------


SERVER = textwrap.dedent("""
    import os, subprocess, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    port, mode, pidfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a worker, as uvicorn's
    open(pidfile, "w").write(str(child.pid))

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Health)
    if mode == "once":  # answer the health check, then end with exit code 5
        server.handle_request()
        child.kill()
        sys.exit(5)
    server.serve_forever()
""")


@pytest.fixture
def server_cmd(tmp_path):
    """``(cmd, health_url, pidfile)`` of a stand-in server on a free port; ``mode``: once or forever."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)

    def make(mode: str):
        port = _free_port()
        pidfile = tmp_path / f"worker-{mode}.pid"
        return [sys.executable, str(script), str(port), mode, str(pidfile)], f"http://127.0.0.1:{port}/health", pidfile

    return make


def _gone(pid: int, within: float = 10.0) -> bool:
    """The process ended (or is a zombie waiting for its new parent) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_ready_once_the_server_answers_then_its_exit_code(server_cmd, capsys):
    cmd, health, _ = server_cmd("once")
    ready = []
    assert servers.serve(cmd, health, lambda: ready.append(time.monotonic())) == 5
    assert len(ready) == 1
    assert capsys.readouterr().err == ""


def test_a_server_that_dies_before_answering_is_one_line_and_its_exit_code(capsys):
    cmd = [sys.executable, "-c", "import sys; sys.exit(3)"]
    ready = []
    assert servers.serve(cmd, f"http://127.0.0.1:{_free_port()}/health", lambda: ready.append(1)) == 3
    assert ready == []
    assert capsys.readouterr().err == "Error: the server stopped before it answered (exit code 3)\n"
    # a server that dies with exit code 0 before answering still fails the command
    assert servers.serve([sys.executable, "-c", "pass"], f"http://127.0.0.1:{_free_port()}/x", lambda: None) == 1


@pytest.mark.skipif(os.name != "posix", reason="process groups")
@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_stop_the_whole_process_group(server_cmd, monkeypatch, how):
    cmd, health, pidfile = server_cmd("forever")
    started = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(real_popen(*a, **k)) or started[-1])

    def ready():
        if how == "SIGTERM":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler serve() installed runs here
        else:
            raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        servers.serve(cmd, health, ready)
    assert stopped.value.code == 0
    (proc,) = started
    assert proc.poll() is not None  # the server ...
    assert _gone(int(pidfile.read_text()))  # ... and its worker, one process group


def test_a_server_that_never_answers_is_stopped_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(servers, "STARTUP_SECONDS", 0)
    started = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(real_popen(*a, **k)) or started[-1])
    url = f"http://127.0.0.1:{_free_port()}/health"
    with pytest.raises(SystemExit):
        servers.serve([sys.executable, "-c", "import time; time.sleep(120)"], url, lambda: pytest.fail("ready"))
    assert capsys.readouterr().err == f"Error: the server did not answer at {url} within 0 s\n"
    assert started[0].poll() is not None


def test_a_server_that_never_answers_fails_the_command(monkeypatch):
    monkeypatch.setattr(servers, "STARTUP_SECONDS", 0)
    with pytest.raises(SystemExit) as stopped:
        servers.serve([sys.executable, "-c", "import time; time.sleep(120)"],
                      f"http://127.0.0.1:{_free_port()}/health", lambda: None)
    assert stopped.value.code not in (0, None)


def test_answers_only_for_a_successful_reply(server_cmd):
    assert not servers._answers(f"http://127.0.0.1:{_free_port()}/health")  # refused
    cmd, health, pidfile = server_cmd("forever")
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 30
        while not servers._answers(health):
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.1)
        assert not servers._answers(health.replace("/health", "/missing"))  # HTTP 404: not up
    finally:
        proc.kill()
        proc.wait()
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


# --- the UI's first page -----------------------------------------------------------------------------


@pytest.fixture
def mlflow_api():
    """A stand-in for MLflow's REST API: ``experiments/search`` answers ``state["answer"]``; requests recorded."""
    state = {"answer": b"{}", "requests": []}

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"].append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(state["answer"])

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["address"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _experiments(*pairs):
    return json.dumps({"experiments": [{"experiment_id": i, "name": n} for i, n in pairs]}).encode()


def test_first_experiment_page_is_the_lowest_id_of_the_prefix_in_the_training_view(mlflow_api):
    mlflow_api["answer"] = _experiments(("12", "mcdropout-wine"), ("0", "Default"), ("9", "mcdropout-regression"),
                                        ("2", "mcdropoutx-a"), ("1", "other-b"))
    page = servers.first_experiment_page(mlflow_api["address"], "mcdropout")
    assert page == f"{mlflow_api['address']}/#/experiments/9/runs?workflowType=machine_learning"  # 9 < 12 as numbers
    assert mlflow_api["requests"] == [("/api/2.0/mlflow/experiments/search", "application/json", {"max_results": 100})]


@pytest.mark.parametrize("answer", [_experiments(("0", "Default")), b"{}", b"not json"])
def test_without_an_experiment_of_the_prefix_the_root_page(mlflow_api, answer):
    mlflow_api["answer"] = answer
    assert servers.first_experiment_page(mlflow_api["address"], "mcdropout") == (
        f"{mlflow_api['address']}/#/experiments?workflowType=machine_learning")


def test_an_unreachable_server_gives_the_root_page():
    address = f"http://127.0.0.1:{_free_port()}"
    assert servers.first_experiment_page(address, "mcdropout") == f"{address}/#/experiments?{servers.TRAINING}"
    assert servers.TRAINING == "workflowType=machine_learning"


def test_a_port_the_last_server_just_closed_is_free():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and http.server bind
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()  # the server closes the connection first: TIME_WAIT on its side
    client.recv(1)
    client.close()
    srv.close()
    servers.check_port("127.0.0.1", port)  # a new server could listen here: the check lets it
