import os

import pytest

from mcdropout.core.config import Params


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty directory so data/, models/ and reports/ land in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def tiny_params(workdir) -> Params:
    """Small, fast settings (seconds, not minutes)."""
    return Params().override(**{
        "data.regression.n_test": 50,
        "data.classification.n_train": 40,
        "data.classification.n_val": 40,
        "data.classification.n_test": 60,
        "model.hidden": [16, 16],
        "mc.samples": 20,
        "mlflow.enabled": False,  # tracking has its own tests; a fresh SQLite store costs ~3 s
        "mlflow.tracking_uri": f"sqlite:///{os.fspath(workdir)}/mlflow.db",
        "mlflow.artifact_location": os.fspath(workdir / "mlruns"),
    }).with_epochs(30)


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.gpu`` tests skip cleanly on a machine without CUDA (CI has none)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
