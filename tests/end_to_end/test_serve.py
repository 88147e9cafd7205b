"""`mcdropout serve`: a real `mlflow models serve` process on 127.0.0.1 answering like `mcdropout predict`, and
refusing what `mcdropout predict` refuses (issue 33: one line, HTTP 400, no stack trace)."""

import csv
import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcdropout.core.config import to_dict

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(workdir, *args):
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([str(BIN / "mcdropout"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _params(workdir: Path):
    from mcdropout.core.config import Params

    return Params().override(**{
        "datasets": {"wine": {"source": "sklearn", "name": "wine"}},  # not a default dataset: declared here
        "model.hidden": [16, 16], "mc.samples": 25, "mlflow.enabled": True, "sweep.p": [0.0, 0.3],
        "sweep.seeds": [0, 1], "mlflow.tracking_uri": f"sqlite:///{os.fspath(workdir)}/mlflow.db",
        "mlflow.artifact_location": os.fspath(workdir / "mlruns"),
    }).with_epochs(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The wine champion of a tiny sweep, served by `mcdropout serve` (a real `mlflow models serve`) on 127.0.0.1:
    ``(workdir, url, features, rows)``."""
    workdir = tmp_path_factory.mktemp("served")
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(_params(workdir)), sort_keys=False))
    for args in (("data", "--dataset", "wine"), ("sweep", "--dataset", "wine", "--quiet"),
                 ("evaluate", "--dataset", "wine", "--model", "models/wine/sweep", "--quiet")):
        _cli(workdir, *args)
    rows = list(csv.DictReader((workdir / "data" / "wine" / "test.csv").open()))[:4]
    features = [c for c in rows[0] if c != "target"]
    port = _free_port()
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([str(BIN / "mcdropout"), "serve", "--dataset", "wine", "--port", str(port)],
                            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/ping", timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a busy machine
                time.sleep(0.5)
        else:
            pytest.fail("mcdropout serve did not answer within 120 s")
        yield workdir, url, features, rows
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_champion_answers_like_predict(served):
    workdir, url, features, rows = served
    with (workdir / "in.csv").open("w", newline="") as fh:  # the columns in another order: matched by name
        writer = csv.DictWriter(fh, fieldnames=features[::-1])
        writer.writeheader()
        writer.writerows({f: r[f] for f in features} for r in rows)
    champion = next(p for p in (workdir / "models" / "wine" / "sweep").glob("*.pt")
                    if p.name.endswith("_seed0.pt") and p.name.startswith(f"p{_best_p(workdir):g}_"))
    _cli(workdir, "predict", "--model", str(champion), "--input", "in.csv", "--output", "out.csv")
    expected = list(csv.DictReader((workdir / "out.csv").open()))

    body = {"dataframe_split": {"columns": features, "data": [[float(r[f]) for f in features] for r in rows]},
            "params": {"samples": 25, "seed": 0, "level": 0.95}}
    answer = requests.post(f"{url}/invocations", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert len(got) == len(expected) == 4
    assert list(got[0]) == [*(f"prob_class_{k}{se}" for k in range(3) for se in ("", "_mc_se")), "label", "entropy",
                            "entropy_mc_se", "mutual_info", "mutual_info_mc_se", "samples"]
    for served_row, predicted in zip(got, expected):
        assert served_row["label"] == predicted["label"] and served_row["samples"] == int(predicted["samples"])
        for key in ("prob_class_0", "prob_class_1", "prob_class_2", "entropy", "mutual_info", "entropy_mc_se"):
            assert served_row[key] == pytest.approx(float(predicted[key]), rel=1e-5, abs=1e-6)


def _body(features, data, **params):
    return json.dumps({"dataframe_split": {"columns": features, "data": data}, "params": params}, allow_nan=True)


@pytest.mark.parametrize("change, params, needle", [
    ((1, 2, None), {}, "row 2, column "),  # JSON null
    ((0, 0, float("nan")), {}, "row 1, column "),  # a bare NaN token
    ((2, 1, float("inf")), {}, "NaN/inf"),
    ((3, 4, 1e300), {}, "float32 range"),
    ((0, 3, "abc"), {}, "not a number: 'abc'"),
    (None, {"samples": 0}, "samples must be an integer in [1, 100,000]"),
    (None, {"samples": 1_000_000_000}, "samples must be an integer in [1, 100,000]"),
    (None, {"level": 1.5}, "level must be in (0, 1)"),
    (None, {"level": 0.0}, "level must be in (0, 1)"),
    (None, {"seed": -1}, "seed must be an integer in [0, 4,294,967,295]"),
    (None, {"seed": 2**62}, "seed must be an integer in [0, 4,294,967,295]"),
    ("empty", {}, "no rows to predict"),
    ("missing", {}, "missing feature column(s)"),
])
def test_served_model_refuses_what_predict_refuses(served, change, params, needle):
    """HTTP 400 with one line naming what is wrong; no stack trace, no server paths, no NaN in an answer."""
    _, url, features, rows = served
    data = [[float(r[f]) for f in features] for r in rows]
    columns = features
    if change == "empty":
        data = []
    elif change == "missing":
        columns, data = features[1:], [row[1:] for row in data]
    elif change is not None:
        r, c, value = change
        data[r][c] = value
    start = time.perf_counter()
    answer = requests.post(f"{url}/invocations", data=_body(columns, data, **params),
                           headers={"Content-Type": "application/json"}, timeout=60)
    assert time.perf_counter() - start < 30  # refused before the work
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert "stack_trace" not in error and "Traceback" not in answer.text and "site-packages" not in answer.text
    assert needle in error["message"], error["message"]
    assert "\n" not in error["message"] and len(error["message"]) < 300, error["message"]


def test_served_model_takes_integer_columns(served):
    _, url, features, rows = served
    data = [[round(float(r[f])) for f in features] for r in rows]
    as_int = requests.post(f"{url}/invocations", data=_body(features, data, samples=10), timeout=60,
                           headers={"Content-Type": "application/json"})
    as_float = requests.post(f"{url}/invocations", data=_body(features, [[float(v) for v in row] for row in data],
                                                              samples=10),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert as_int.status_code == as_float.status_code == 200, as_int.text
    assert as_int.json() == as_float.json()


def test_pyfunc_model_takes_an_int64_frame_as_rest_does(served):
    import pandas as pd

    workdir, _, features, rows = served
    model = _loaded(f"sqlite:///{workdir}/mlflow.db")
    ints = pd.DataFrame({f: np.array([round(float(r[f])) for r in rows], dtype=np.int64) for f in features})
    got = model.predict(ints, params={"samples": 10})
    expected = model.predict(ints.astype(np.float64), params={"samples": 10})
    pd.testing.assert_frame_equal(got, expected)


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70), st.none(),
                  st.text(max_size=5), st.booleans())
params = st.fixed_dictionaries({}, optional={
    "samples": st.integers(-5, 200_000), "seed": st.integers(-5, 2**63 - 1),
    "level": st.floats(-1, 2, allow_nan=False)})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), chosen=params)
def test_pyfunc_model_never_a_traceback_never_a_nan(served, data, chosen):
    """Generated payloads (values, params, shapes) at the loaded pyfunc model: a frame of finite numbers, or one
    MlflowException line; never another exception, never a NaN in an answer."""
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    workdir, _, features, _ = served
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    model = _loaded(f"sqlite:///{workdir}/mlflow.db")
    columns = data.draw(st.lists(st.sampled_from(features), unique=True, max_size=len(features))
                        if data.draw(st.booleans()) else st.just(features))
    n = data.draw(st.integers(0, 4))
    frame = pd.DataFrame({c: data.draw(st.lists(cells, min_size=n, max_size=n)) for c in columns}
                         if columns else None)
    try:
        out = model.predict(frame, params={**chosen, "samples": chosen.get("samples", 5)})
    except MlflowException as exc:
        assert exc.message.strip() and "Traceback" not in exc.message
        return
    numbers = out.drop(columns=["label"]).to_numpy(dtype=float)
    assert len(out) == n > 0 and np.isfinite(numbers).all()


@functools.cache
def _loaded(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.pyfunc.load_model("models:/mcdropout-wine@champion")


def _best_p(workdir) -> float:
    import json

    return json.loads((workdir / "reports" / "wine" / "metrics.json").read_text())["best_p"]
