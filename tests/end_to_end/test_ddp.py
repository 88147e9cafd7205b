"""A real 2-process DDP sweep on CPU (gloo), through the CLI as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from mcdropout.core.config import to_dict
from mcdropout.nn.checkpoint import load_checkpoint

BIN = Path(sys.executable).parent


def _sweep(workdir: Path, params, name: str) -> dict:
    (workdir / f"{name}.yaml").write_text(yaml.safe_dump(to_dict(params)))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "mcdropout"), "--params", f"{name}.yaml", "sweep", "--task", "regression",
                           "--quiet"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = workdir / params.train.models_dir / "regression" / "sweep"
    return {p.name: load_checkpoint(p)[1] for p in sorted(folder.glob("*.pt"))}, proc.stdout


def test_ddp_two_processes_matches_single_in_kind(workdir, tiny_params):
    from mcdropout.data.datasets import write_dataset

    base = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1], "train.accelerator": "cpu"})
    write_dataset("regression", base)
    single, _ = _sweep(workdir, base.override(**{"train.models_dir": "single"}), "single")
    ddp, out = _sweep(workdir, base.override(**{"train.models_dir": "ddp", "train.devices": 2,
                                                "train.strategy": "ddp"}), "ddp")
    assert out.count("trained 4 members") == 1  # rank 0 reports and saves; rank 1 stays quiet
    assert sorted(ddp) == sorted(single) == ["p0.5_seed0.pt", "p0.5_seed1.pt", "p0_seed0.pt", "p0_seed1.pt"]
    for name, meta in ddp.items():
        history = meta.history.numpy()
        assert history.shape == single[name].history.shape == (30, 4)
        assert np.isfinite(history).all()
        assert meta.noise_std["mc"] > 0
    # p = 0 has no RNG: both ranks see the same full batch, so DDP's averaged gradient is the single-process one.
    np.testing.assert_allclose(ddp["p0_seed0.pt"].history.numpy(), single["p0_seed0.pt"].history.numpy(),
                               rtol=1e-4, atol=1e-6)
