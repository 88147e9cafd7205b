"""Long-running servers started for the user (``mcdropout ui``, ``mcdropout serve``): checked, awaited,
stopped whole.

The port is checked before anything starts (a one-line error for a port outside 1-65535
or one in use); the address is printed once the server answers; a server that dies
first makes the command exit non-zero with one line. ``mlflow server`` starts uvicorn
workers and job consumers, so the server runs as its own process group and is stopped
as one, on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from mcdropout.core.config import ConfigError

STARTUP_SECONDS = 120


def check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be in 1-65535, got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:  # SO_REUSEADDR: a port the last server left in TIME_WAIT is free for the next one (as for uvicorn)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server "
                              f"using it? Pick another --port") from None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except Exception:  # noqa: BLE001 - refused, reset, HTTP errors: not up yet
        return False


def serve(cmd: list[str], health_url: str, ready: Callable[[], None], env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` as a process group; call ``ready()`` once ``health_url`` answers; return its exit code."""
    posix = os.name == "posix"
    proc = subprocess.Popen(cmd, start_new_session=posix, env=env)

    def stop(*_: object, code: int = 0) -> None:
        try:
            if posix:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            if posix:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops the server (not the CLI's handler)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(health_url):
            if proc.poll() is not None:
                print(f"Error: the server stopped before it answered (exit code {proc.returncode})", file=sys.stderr)
                return proc.returncode or 1
            if time.monotonic() > deadline:
                print(f"Error: the server did not answer at {health_url} within {STARTUP_SECONDS} s", file=sys.stderr)
                stop(code=1)
            time.sleep(0.5)
        ready()
        return proc.wait()
    except KeyboardInterrupt:
        stop()
    return 0


# MLflow 3's UI opens in its GenAI view unless the address (or the browser's stored choice) says model training.
TRAINING = "workflowType=machine_learning"


def first_experiment_page(address: str, prefix: str) -> str:
    """The runs page of the first ``<prefix>-*`` experiment (the server root if there is none yet), in the UI's
    model-training view."""
    import json

    request = urllib.request.Request(f"{address}/api/2.0/mlflow/experiments/search", method="POST",
                                     data=json.dumps({"max_results": 100}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            experiments = json.loads(answer.read()).get("experiments", [])
    except Exception:  # noqa: BLE001 - the root page still works
        return f"{address}/#/experiments?{TRAINING}"
    ours = sorted((e for e in experiments if e["name"].startswith(f"{prefix}-")), key=lambda e: int(e["experiment_id"]))
    return (f"{address}/#/experiments/{ours[0]['experiment_id']}/runs?{TRAINING}" if ours
            else f"{address}/#/experiments?{TRAINING}")
