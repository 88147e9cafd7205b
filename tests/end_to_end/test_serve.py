"""`mcdropout serve`: a real `mlflow models serve` process on 127.0.0.1 answering like `mcdropout predict`."""

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from mcdropout.config import to_dict

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


def test_served_champion_answers_like_predict(workdir, tiny_params):
    params = tiny_params.override(**{"mlflow.enabled": True, "sweep.p": [0.0, 0.3], "sweep.seeds": [0, 1],
                                     "mc.samples": 25})
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(params), sort_keys=False))
    for args in (("data", "--dataset", "wine"), ("sweep", "--dataset", "wine", "--quiet"),
                 ("evaluate", "--dataset", "wine", "--model", "models/wine/sweep", "--quiet")):
        _cli(workdir, *args)
    rows = list(csv.DictReader((workdir / "data" / "wine" / "test.csv").open()))[:4]
    features = [c for c in rows[0] if c != "target"]
    with (workdir / "in.csv").open("w", newline="") as fh:  # the columns in another order: matched by name
        writer = csv.DictWriter(fh, fieldnames=features[::-1])
        writer.writeheader()
        writer.writerows({f: r[f] for f in features} for r in rows)
    champion = next(p for p in (workdir / "models" / "wine" / "sweep").glob("*.pt")
                    if p.name.endswith("_seed0.pt") and p.name.startswith(f"p{_best_p(workdir):g}_"))
    _cli(workdir, "predict", "--model", str(champion), "--input", "in.csv", "--output", "out.csv")
    expected = list(csv.DictReader((workdir / "out.csv").open()))

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
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("mcdropout serve did not answer within 120 s")
        body = {"dataframe_split": {"columns": features, "data": [[float(r[f]) for f in features] for r in rows]},
                "params": {"samples": 25, "seed": 0, "level": 0.95}}
        answer = requests.post(f"{url}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        got = answer.json()["predictions"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(got) == len(expected) == 4
    assert list(got[0]) == ["prob_class_0", "prob_class_1", "prob_class_2", "label", "entropy", "mutual_info"]
    for served, predicted in zip(got, expected):
        assert served["label"] == predicted["label"]
        for key in ("prob_class_0", "prob_class_1", "prob_class_2", "entropy", "mutual_info"):
            assert served[key] == pytest.approx(float(predicted[key]), rel=1e-5, abs=1e-6)


def _best_p(workdir) -> float:
    import json

    return json.loads((workdir / "reports" / "wine" / "metrics.json").read_text())["best_p"]
