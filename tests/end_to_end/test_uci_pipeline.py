"""A real `dvc repro` of the UCI benchmark's own pipeline (benchmarks/uci/dvc.yaml) on a tiny data folder, in a
copy of the repository: the matrix of datasets x methods, the table in reports/uci, and a second repro that finds
everything done (what lets an interrupted table resume)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from uci_files import tiny_uci

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_the_benchmark_pipeline_runs_each_dataset_and_method_once_and_writes_the_table(tmp_path):
    data = tiny_uci(tmp_path, noise=0.1)
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "uci").mkdir(parents=True)
    shutil.copy(REPO / "benchmarks" / "uci" / "dvc.yaml", repo / "benchmarks" / "uci")
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (repo / "benchmarks" / "uci" / "params.yaml").write_text(yaml.safe_dump(
        {"data_dir": str(data), "datasets": ["tiny"], "methods": ["deep_ensemble", "concrete"], "splits": "0-1",
         "samples": 20}))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    here = repo / "benchmarks" / "uci"

    first = dvc(here, "repro")
    for stage in ("run@tiny-deep_ensemble", "run@tiny-concrete", "table"):
        assert f"Running stage '{stage}'" in first
    for method in ("deep_ensemble", "concrete"):
        run = json.loads((here / "runs" / method / "tiny.json").read_text())
        assert list(run["methods"]) == [method]
        assert [s["split"] for s in run["methods"][method]["splits"]] == [0, 1]
    table = json.loads((repo / "reports" / "uci" / "tiny.json").read_text())
    assert sorted(table["methods"]) == ["concrete", "deep_ensemble"]  # the runs of one dataset put together
    readme = (repo / "reports" / "uci" / "README.md").read_text()
    assert "| tiny |" in readme
    assert (repo / "mlflow.db").is_file() and not (here / "mlflow.db").exists()  # the project's store

    second = dvc(here, "repro")
    assert "Running stage" not in second  # done stages are not rerun: an interrupted table resumes
