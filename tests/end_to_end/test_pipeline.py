"""A real `dvc repro` of the whole pipeline on tiny settings, in a copy of the repository,
then what a user sees: the MLflow server's REST API, the HTML report and the MLflow UI in
headless Chromium. The repro runs once for the module; the edit-a-param test runs last."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from mcdropout.core.config import Params, to_dict

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    repo.mkdir()
    shutil.copy(REPO / "dvc.yaml", repo)
    shutil.copytree(REPO / "sources", repo / "sources")
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = Params().override(**{
        "data.regression.n_test": 60, "data.classification.n_train": 40, "data.classification.n_val": 40,
        "data.classification.n_test": 60, "model.hidden": [16, 16], "mc.samples": 10,
        "sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1], "compare.l2": [1e-4, 1e-2], "compare.patience": 5,
        "datasets": {"regression": {"source": "synthetic"}, "classification": {"source": "synthetic"},
                     "flowers": {"source": "csv", "path": "sources/flowers.csv", "target": "kind"}},
        "train.epochs": 20, "trust.ensemble_size": 2, "trust.shift_points": 30,
        "active": {"regression": {"initial": 4, "batch": 2, "budget": 8, "repeats": 2, "samples": 5, "epochs": 20}},
    })
    rng = np.random.default_rng(0)
    lines = ["petal,kind,sepal"]  # a user's table: named columns, string labels, the target in the middle
    for i in range(90):
        kind = ("iris", "lily", "rose")[i % 3]
        lines.append(f"{rng.normal(i % 3, 0.3):.3f},{kind},{rng.normal(-(i % 3), 0.3):.3f}")
    (repo / "sources" / "flowers.csv").write_text("\n".join(lines) + "\n")
    (repo / "params.yaml").write_text(yaml.safe_dump(to_dict(params)))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    first = dvc(repo, "repro")
    return repo, first


def _lowest_seed_mean_val_nll(runs: list[dict], key: str, inference: str) -> float:
    """The value of ``key`` whose runs have the lowest mean validation NLL over seeds under ``inference`` (``mc``:
    MC dropout, ``standard``: dropout off), the one rule metrics.json and compare.json state, written out."""
    losses: dict[float, list[float]] = {}
    for r in runs:
        losses.setdefault(r[key], []).append(r[inference]["val"]["nll"])
    means = {value: sum(v) / len(v) for value, v in losses.items()}
    return min(means, key=means.get)  # a tie goes to the value seen first


def test_repro_outputs(repo):
    repo, out = repo
    assert "Running stage 'train@regression'" in out and "Running stage 'report'" in out
    for task, key in (("regression", "rmse"), ("classification", "accuracy")):
        metrics = json.loads((repo / "reports" / task / "metrics.json").read_text())
        assert metrics["task"] == task and metrics["mc_samples"] == 10
        assert [(r["p"], r["seed"]) for r in metrics["runs"]] == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
        # best p: the lowest seed-mean validation NLL of MC dropout (sweep.select), worked out here; flagged when it
        # sits at the grid's upper end (p = 0 is a natural bound, not an edge)
        assert metrics["best_p"] == _lowest_seed_mean_val_nll(metrics["runs"], "p", "mc")
        selection = metrics["selection"]
        assert (selection["best_p"], selection["inference"]) == (metrics["best_p"], "mc")
        assert selection["at_grid_edge"] == (metrics["best_p"] == 0.5)
        assert [c["p"] for c in selection["curve"]] == [0.0, 0.5] and all(c["n"] == 2 for c in selection["curve"])
        for run in metrics["runs"]:
            for mode in ("standard", "mc"):
                assert set(run[mode]) == {"train", "val", "test"}
                assert np.isfinite(run[mode]["test"][key]) and run[mode]["test"][key] > 0
            if run["p"] == 0.0:  # no dropout: every MC pass is the standard pass
                assert run["mc"]["test"][key] == pytest.approx(run["standard"]["test"][key], rel=1e-5)
        if task == "classification":  # 60 test points: the accuracy is a count over 60
            assert all(abs(r["standard"]["test"][key] * 60 - round(r["standard"]["test"][key] * 60)) < 1e-6
                       for r in metrics["runs"])
        assert sorted(p.name for p in (repo / "models" / task / "sweep").iterdir()) == [
            "p0.5_seed0.pt", "p0.5_seed1.pt", "p0_seed0.pt", "p0_seed1.pt", "runs.json"]  # + MLflow's record
    report = (repo / "reports" / "report.md").read_text()
    for needle in ("## Regression", "## Classification", "the reference is the p with the lowest seed-mean "
                   "validation loss", "selected p =", "was selected by the lowest seed-mean validation NLL"):
        assert needle in report
    figures = sorted(p.relative_to(repo / "reports" / "figures").as_posix()
                     for p in (repo / "reports" / "figures").rglob("*.png") if p.parent.name != "flowers")
    assert figures == ["active/regression.png", "classification/boundaries.png", "classification/curves.png",
                       "classification/learned_p.png", "classification/reliability.png",
                       "classification/samples.png", "classification/shift.png", "classification/tradeoff.png",
                       "classification/trust.png", "regression/calibration.png", "regression/curves.png",
                       "regression/fits.png", "regression/learned_p.png", "regression/regularisers.png",
                       "regression/samples.png", "regression/shift.png", "regression/tradeoff.png",
                       "regression/trust.png"]
    # active learning (active@regression): its curves, and its part of the report after the dataset's own
    assert "Running stage 'active@regression'" in out and "active@classification" not in out
    active = json.loads((repo / "reports" / "regression" / "active.json").read_text())
    assert [pt["labels"] for pt in active["curves"]["bald"]] == [4, 6, 8] and active["repeats"] == 2
    assert report.index("### Regression: is T enough?") < report.index("### Regression: active learning")
    # is T enough? every dataset's samples.json, and its part of the section
    for task in ("regression", "classification", "flowers"):
        samples = json.loads((repo / "reports" / task / "samples.json").read_text())
        assert samples["default_samples"] == 10 and samples["needed"] in samples["grid"]
        assert samples["default_enough"] == (samples["needed"] <= 10)
        assert f"### {task.capitalize()}: is T enough?" in report
    for task in ("regression", "classification"):
        compare = json.loads((repo / "reports" / task / "compare.json").read_text())
        l2_runs = [r for r in compare["runs"] if r["method"] == "l2"]
        assert sorted({r["l2"] for r in l2_runs}) == [1e-4, 1e-2]
        # the L2 grid starts at λ = 0, the sweep's p = 0 members; chosen by validation NLL with dropout off
        sweep = json.loads((repo / "reports" / task / "metrics.json").read_text())
        zero = [{**r, "l2": 0.0} for r in sweep["runs"] if r["p"] == 0.0]
        assert compare["best_l2"] == _lowest_seed_mean_val_nll(zero + l2_runs, "l2", "standard")
        assert compare["selection"]["l2"]["best_l2"] == compare["best_l2"]
        assert [c["l2"] for c in compare["selection"]["l2"]["curve"]] == [0.0, 1e-4, 1e-2]
        ensembles = compare["ensembles"]
        assert ensembles["size"] == 2 and ensembles["mc_dropout_ensemble"]["config"] == {"p": sweep["best_p"]}
        for name in ("deep_ensemble", "mc_dropout_ensemble"):  # per repeat (a sweep seed), 2 members
            assert sorted(ensembles[name]["members"]) == ["0", "1"]
            assert all(len(m) == 2 for m in ensembles[name]["members"].values())
        assert len(compare["learned_p"]["mean"]) == 2
        assert len(compare["runs"]) == 12  # 2 seeds x (Concrete, 2 L2 values, early stopping, 2 dropout + L2)
        assert f"### {task.capitalize()}: a learned dropout rate, and dropout against other regularisers" in report
        table = json.loads((repo / "reports" / task / "comparison.json").read_text())
        assert [r["method"] for r in table] == ["no regularisation", "dropout (sweep)", "Concrete dropout",
                                                "L2 weight decay, no dropout", "dropout + L2",
                                                "early stopping, no dropout"]
    assert "Concrete dropout learned p = layer 1:" in report
    assert report.count("Learned against swept rate") == 3  # regression, classification, flowers
    shown = next(iter(json.loads(dvc(repo, "metrics", "show", "--json")).values()))["data"]  # the workspace
    headline = {name: m["data"] for name, m in shown.items()}
    assert set(headline["reports/regression/summary.json"]) == {"best_p", "test_rmse", "mc_test_rmse"}
    # methods with a model uncertainty of their own: standard inference is left out
    assert set(headline["reports/flowers/trust_summary.json"]) == {
        "nll_mc_dropout", "nll_deep_ensemble", "nll_mc_dropout_ensemble", "nll_concrete"}
    assert set(headline["reports/regression/trust_summary.json"]) == {
        "nll_mc_dropout", "nll_deep_ensemble", "nll_mc_dropout_ensemble", "nll_concrete"}
    table = dvc(repo, "metrics", "show").splitlines()  # readable in a terminal: every dataset, one line each
    assert len(table) == 7 and max(map(len, table)) <= 200, (max(map(len, table)), table)
    assert dvc(repo, "status").strip() == "Data and pipelines are up to date."  # a second repro would run nothing
    # the user's CSV went through every stage: K = 3 classes with their labels, a report section, trust.json
    flowers = json.loads((repo / "reports" / "flowers" / "metrics.json").read_text())
    assert (flowers["task"], flowers["n_classes"]) == ("classification", 3)
    assert flowers["classes"] == ["iris", "lily", "rose"]
    assert flowers["features"] == ["petal", "sepal"] and "## Flowers" in report
    trust = json.loads((repo / "reports" / "flowers" / "trust.json").read_text())
    assert [m["name"] for m in trust["methods"]] == ["standard", "mc_dropout", "deep_ensemble",
                                                     "mc_dropout_ensemble", "concrete"]
    assert trust["repeats"] == 2 and trust["methods"][1]["in_distribution"]["nll"]["n"] == 2
    (repo / "new.csv").write_text("sepal,petal,note\n-2.1,1.9,x\n0.1,0.0,y\n")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "mcdropout"), "predict", "--model", "models/flowers/sweep/p0.5_seed0.pt",
                           "--input", "new.csv", "--output", "preds.csv"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ignored column(s) the model does not use: note" in proc.stderr
    rows = (repo / "preds.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header == ["petal", "sepal", "prob_iris", "prob_iris_mc_se", "prob_lily", "prob_lily_mc_se", "prob_rose",
                      "prob_rose_mc_se", "label", "entropy", "entropy_mc_se", "mutual_info", "mutual_info_mc_se",
                      "samples"]
    for row in rows[1:]:
        cells = dict(zip(header, row.split(",")))
        assert cells["label"] in {"iris", "lily", "rose"} and cells["samples"] == "10"
        assert sum(float(cells[f"prob_{k}"]) for k in ("iris", "lily", "rose")) == pytest.approx(1, abs=1e-5)
    assert [float(v) for v in rows[1].split(",")[:2]] == pytest.approx([1.9, -2.1])  # reordered to the model's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, seconds: float = 90) -> bool:
    """Poll an MLflow server's /health until it answers or ``seconds`` pass."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                return True
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to answer on a busy machine
            time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def server(repo):
    repo, _ = repo
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{repo}/mlflow.db",
         "--default-artifact-root", (repo / "mlruns").as_uri(), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not _wait_healthy(url):
        proc.kill()
        pytest.fail("mlflow server did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_mlflow_server_has_sweep_runs(server):
    api = f"{server}/api/2.0/mlflow"
    exps = requests.post(f"{api}/experiments/search", json={"max_results": 100}, timeout=10).json()["experiments"]
    by_name = {e["name"]: e["experiment_id"] for e in exps}
    assert {"mcdropout-regression", "mcdropout-classification"} <= set(by_name)
    runs = requests.post(f"{api}/runs/search", json={"experiment_ids": [by_name["mcdropout-regression"]]},
                         timeout=10).json()["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags) if t.get("kind") == "sweep"]
    assert len(parents) == 1
    parent_id = parents[0]["info"]["run_id"]
    children = [r for r, t in zip(runs, tags) if t.get("mlflow.parentRunId") == parent_id]
    assert sorted(r["info"]["run_name"] for r in children) == ["p0.5_seed0", "p0.5_seed1", "p0_seed0", "p0_seed1"]
    child = next(r for r in children if r["info"]["run_name"] == "p0.5_seed1")
    params = {p["key"]: p["value"] for p in child["data"]["params"]}
    assert params["p"] == "0.5" and params["seed"] == "1" and params["hidden"] == "16,16"
    assert params["accelerator"] == "cpu" and params["epochs"] == "20" and params["data_n_train"] == "30"
    child_tags = {t["key"]: t["value"] for t in child["data"]["tags"]}
    assert {"git_commit", "git_dirty"} <= set(child_tags)
    metrics = {m["key"] for m in child["data"]["metrics"]}
    assert {"train/loss", "val/loss", "train/rmse", "val/rmse", "mc/test/nll", "standard/test/rmse"} <= metrics
    history = requests.get(f"{api}/metrics/get-history", params={"run_id": child["info"]["run_id"],
                                                                  "metric_key": "val/loss"}, timeout=10).json()
    assert [m["step"] for m in history["metrics"]] == list(range(20))
    files = requests.get(f"{api}/artifacts/list", params={"run_id": child["info"]["run_id"], "path": "model"},
                         timeout=10).json()["files"]
    assert [f["path"] for f in files] == ["model/p0.5_seed1.pt"]
    report = requests.get(f"{api}/artifacts/list", params={"run_id": parent_id, "path": "report"},
                          timeout=10).json()["files"]
    assert {"report/report.html", "report/fits.png"} <= {f["path"] for f in report}

    # The comparison run: Concrete members log their learned rates per epoch; the table is on the parent.
    compare = [r for r, t in zip(runs, tags) if t.get("kind") == "compare"]
    assert len(compare) == 1
    compare_id = compare[0]["info"]["run_id"]
    members = {r["info"]["run_name"]: r for r, t in zip(runs, tags) if t.get("mlflow.parentRunId") == compare_id}
    assert {"concrete_seed0", "l2_0.01_seed1", "early_stopping_seed0"} <= set(members)
    rates = requests.get(f"{api}/metrics/get-history", params={
        "run_id": members["concrete_seed0"]["info"]["run_id"], "metric_key": "concrete/p_layer2"}, timeout=10).json()
    assert [m["step"] for m in rates["metrics"]] == list(range(20))
    assert all(0 < m["value"] < 1 for m in rates["metrics"])
    table = requests.get(f"{api}/artifacts/list", params={"run_id": compare_id, "path": "comparison"},
                         timeout=10).json()["files"]
    assert {"comparison/comparison.md", "comparison/comparison.json"} <= {f["path"] for f in table}
    parent_metrics = {m["key"] for m in compare[0]["data"]["metrics"]}
    assert "comparison/concrete_dropout/test_nll" in parent_metrics


def _browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    return playwright.sync_playwright()


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
BROKEN_IMAGES = "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"


@pytest.mark.browser
def test_report_in_browser(repo):
    repo, _ = repo
    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    # The tiny pipeline's report, and the committed full-size one when present (its screenshot is kept).
    pages = [(repo / "reports" / "report.html", repo / "report.png")]
    if (REPO / "reports" / "report.html").is_file():
        pages.append((REPO / "reports" / "report.html", shots / "report.png"))
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for html_path, shot in pages:
            page.goto(html_path.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("document.images.length") >= 8
            assert page.evaluate(BROKEN_IMAGES) == 0
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            # The comparison section (learned rate, other regularisers) is there and renders.
            page.evaluate("document.getElementById('comparison-regression').scrollIntoView()")
            section = shot.with_name(shot.stem.replace("report", "comparison") + ".png")
            page.screenshot(path=str(section), full_page=False)
            assert section.stat().st_size > 10_000
        browser.close()


@pytest.mark.browser
def test_mlflow_ui_in_browser(server):
    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    api = f"{server}/api/2.0/mlflow"
    exp = requests.get(f"{api}/experiments/get-by-name", params={"experiment_name": "mcdropout-regression"},
                       timeout=10).json()["experiment"]["experiment_id"]
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{server}/#/experiments/{exp}/runs?workflowType=machine_learning")
        page.get_by_text("sweep-regression").first.wait_for(timeout=60_000)
        # Expand the sweep's parent run: its children are the (p, seed) members.
        page.locator("[role=row]", has_text="sweep-regression").first.locator("button").first.click()
        for name in ("p0_seed0", "p0.5_seed1"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
        assert page.evaluate(BROKEN_IMAGES) == 0
        page.screenshot(path=str(shots / "mlflow_ui.png"))
        browser.close()
    assert (shots / "mlflow_ui.png").stat().st_size > 10_000


@pytest.mark.browser
def test_dvc_plots_render_with_the_network_off(repo):
    """The project's DVC config points `dvc plots show` at a page template with Vega inline (.dvc/plots)."""
    repo, _ = repo
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots", dirs_exist_ok=True)
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")
    dvc(repo, "plots", "show", "-o", "dvc_plots")
    page_html = (repo / "dvc_plots" / "index.html").read_text()
    assert "<script src=" not in page_html  # nothing to fetch
    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto((repo / "dvc_plots" / "index.html").as_uri())
        page.wait_for_function("document.querySelectorAll('.vega-embed canvas').length >= 4", timeout=30_000)
        charts = page.evaluate("document.querySelectorAll('.vega-embed').length")
        drawn = page.evaluate("document.querySelectorAll('.vega-embed canvas').length")
        page.screenshot(path=str(shots / "dvc_plots.png"))
        browser.close()
    # the four plots of dvc.yaml whose files exist here, and flowers' by_p.json: every one drawn
    assert charts >= 5 and drawn == charts
    assert [u for u in requested if not u.startswith("file:")] == []


def test_mcdropout_ui_serves_the_project_store(repo):
    repo, _ = repo
    port = _free_port()
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([str(BIN / "mcdropout"), "ui", "--port", str(port)], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        if not _wait_healthy(url):
            pytest.fail("mcdropout ui did not start within 90 s")
        exps = requests.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 10}, timeout=10)
        assert {"mcdropout-regression", "mcdropout-classification"} <= {e["name"] for e in exps.json()["experiments"]}
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.time() + 30
        while time.time() < deadline and not any(line.startswith("MLflow UI: ") for line in lines):
            time.sleep(0.2)
        printed = next(line for line in lines if line.startswith("MLflow UI: "))
        first = min(int(e["experiment_id"]) for e in exps.json()["experiments"] if e["name"].startswith("mcdropout-"))
        # the first experiment's runs, in the UI's model-training view (MLflow 3 opens its GenAI view otherwise)
        assert printed.startswith(f"MLflow UI: {url}/#/experiments/{first}/runs?workflowType=machine_learning ")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Stopping `mcdropout ui` stops the server it started (no orphaned server keeps the port).
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            requests.get(f"{url}/health", timeout=2)
            time.sleep(0.5)
        except requests.ConnectionError:
            break
        except requests.Timeout:  # still there, slow to answer while it shuts down (a busy machine)
            continue
    else:
        pytest.fail("the MLflow server outlived `mcdropout ui`")


@pytest.mark.slow  # three more repros (about 5 minutes on 2 cores): `make test-all`
def test_zz_second_repro_noop_then_param_edit(repo):
    repo, _ = repo
    again = dvc(repo, "repro")
    assert "Running stage" not in again
    # a user's CSV in sources/ changes: the data stages reread their sources, only that dataset trains again
    csv = repo / "sources" / "flowers.csv"
    csv.write_text(csv.read_text().replace("iris", "tulip"))
    edited = dvc(repo, "repro")
    assert "Running stage 'data@regression'" in edited and "Running stage 'train@flowers'" in edited
    assert "Running stage 'train@regression'" not in edited and "Running stage 'train@classification'" not in edited
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"]["regression"]["lr"] = 0.01  # one dataset's own setting: only its stages rerun
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    edited = dvc(repo, "repro")
    assert "Running stage 'train@regression'" in edited and "Running stage 'section@regression'" in edited
    assert "Running stage 'train@classification'" not in edited and "Running stage 'train@flowers'" not in edited
    params["trust"]["shift_fraction"] = 0.3  # only the sections' trust evaluation (and the report) depend on it
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    edited = dvc(repo, "repro")
    assert "Running stage 'section@flowers'" in edited and "Running stage 'report'" in edited
    assert "Running stage 'train@" not in edited
    # Report code and tracking settings never retrain a model.
    report_init = repo / "src" / "mcdropout" / "report" / "__init__.py"
    report_init.write_text(report_init.read_text() + "\n# edited\n")
    params["mlflow"]["max_history_points"] = 20
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    status = dvc(repo, "status")
    assert "report:" in status or "report" in status.split()
    assert "train@" not in status


@pytest.mark.slow  # two queued experiments, each rerunning the sections and the report (about a minute)
def test_zzz_a_grid_of_queued_experiments(repo):
    """docs/dvc.md: a grid as DVC users run one, `dvc exp run --queue -S ...`, then `dvc exp show`."""
    repo, _ = repo
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    dvc(repo, "repro")
    (repo / ".gitignore").write_text("/mlflow.db*\n/mlruns/\n/dvc_plots/\n")  # as in the project's .gitignore
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "study"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    dvc(repo, "exp", "run", "--queue", "-S", "trust.shift_fraction=0.1,0.4")  # a grid: one experiment per value
    dvc(repo, "exp", "run", "--run-all")
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    fractions, names = {}, set()
    for rev in shown:
        for exp in rev.get("experiments") or []:
            run = exp["revs"][0]
            names.add(exp["name"])
            fractions[run["data"]["params"]["params.yaml"]["data"]["trust"]["shift_fraction"]] = \
                run["data"]["metrics"]["reports/flowers/trust_summary.json"]["data"]
    assert set(fractions) == {0.1, 0.4}
    assert all(set(m) == {"nll_standard", "nll_mc_dropout", "nll_deep_ensemble", "nll_mc_dropout_ensemble",
                          "nll_concrete"} for m in fractions.values())
    table = dvc(repo, "exp", "show", "--csv", "--only-changed")
    cells = set(table.replace("\n", ",").split(","))
    assert "trust.shift_fraction" in table.splitlines()[0] and {"0.1", "0.4"} <= cells
    # each experiment's MLflow runs reached the repository's store (DVC deletes the copy it ran in), tagged
    with sqlite3.connect(repo / "mlflow.db") as db:
        tagged = {v for (v,) in db.execute("select value from tags where key = 'dvc.exp_name'")}
    assert tagged == names and len(names) == 2
