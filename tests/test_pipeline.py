"""A real `dvc repro` of the whole pipeline, on tiny settings, in a copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcdropout.config import to_dict

REPO = Path(__file__).resolve().parents[1]


def dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture
def tiny_repo(tmp_path, tiny_params):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "dvc.yaml", repo)
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = to_dict(tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1], "train.epochs": 20}))
    params["data"]["dir"] = "data"
    params["mlflow"]["tracking_uri"] = "sqlite:///mlflow.db"
    params["mlflow"]["artifact_location"] = "mlruns"
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    return repo


def test_dvc_repro_end_to_end(tiny_repo):
    out = dvc(tiny_repo, "repro")
    for task, key in (("regression", "rmse"), ("classification", "accuracy")):
        metrics = json.loads((tiny_repo / "reports" / task / "metrics.json").read_text())
        assert metrics["task"] == task and metrics["best_p"] in (0.0, 0.5)
        assert len(metrics["runs"]) == 4
        for run in metrics["runs"]:
            for mode in ("standard", "mc"):
                assert set(run[mode]) == {"train", "val", "test"}
                assert run[mode]["test"][key] == run[mode]["test"][key]  # finite, not NaN
        assert sorted(p.name for p in (tiny_repo / "models" / task / "sweep").iterdir()) == [
            "p0.5_seed0.pt", "p0.5_seed1.pt", "p0_seed0.pt", "p0_seed1.pt"]
    assert "Running stage 'sweep@regression'" in out

    shown = dvc(tiny_repo, "metrics", "show", "--json")
    assert "standard_test_rmse" in shown and "mc_test_accuracy" in shown

    again = dvc(tiny_repo, "repro")
    assert "Running stage" not in again

    # Editing one train param reruns what reads it (sweeps, evaluations), not the data.
    params = yaml.safe_load((tiny_repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.01
    (tiny_repo / "params.yaml").write_text(yaml.safe_dump(params))
    edited = dvc(tiny_repo, "repro")
    assert "Running stage 'sweep@regression'" in edited and "Running stage 'sweep@classification'" in edited
    assert "Running stage 'data@" not in edited
