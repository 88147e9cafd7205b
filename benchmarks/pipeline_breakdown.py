"""Where the default `dvc repro` spends its time: per stage, per kind of stage, and process start.

Clones the committed repository into a fresh folder, runs `dvc repro` there (the study
of `params.yaml`, with a fresh MLflow store) and stamps each line DVC prints; a stage
lasts from its "Running stage" line to the next one. Process start is measured apart:
the imports every stage pays (torch, MLflow; Lightning only where it trains).

    python benchmarks/pipeline_breakdown.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE = re.compile(r"Running stage '([^']+)'")


def import_seconds(modules: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return time.perf_counter() - start


def run_repro(workdir: Path) -> tuple[list[tuple[str, float]], float]:
    """``[(stage, seconds)]`` in the order DVC ran them, and the whole run's seconds."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    proc = subprocess.Popen(["dvc", "repro"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    marks: list[tuple[str, float]] = []
    for line in proc.stdout:
        if found := STAGE.search(line):
            marks.append((found.group(1), time.perf_counter()))
            print(f"[{marks[-1][1] - start:7.1f}s] {found.group(1)}", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"dvc repro failed (exit {proc.returncode}) in {workdir}")
    total = time.perf_counter() - start
    ends = [t for _, t in marks[1:]] + [start + total]
    return [(name, end - t) for (name, t), end in zip(marks, ends)], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="mcdropout-repro-")) / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(workdir)], check=True)
    try:
        stages, total = run_repro(workdir)
        starts = {
            "python + CLI": import_seconds("mcdropout.cli"),
            "+ torch, MLflow": import_seconds("mcdropout.cli, torch, mlflow"),
            "+ Lightning": import_seconds("mcdropout.cli, torch, mlflow, pytorch_lightning"),
        }
    finally:
        if not args.keep:
            shutil.rmtree(workdir.parent, ignore_errors=True)
    by_kind: dict[str, list[float]] = defaultdict(list)
    print(f"\n{'stage':<28} {'seconds':>8}")
    for name, seconds in stages:
        print(f"{name:<28} {seconds:>8.1f}")
        by_kind[name.split("@")[0]].append(seconds)
    print(f"\n{'kind':<12} {'stages':>6} {'seconds':>8} {'share':>6}")
    for kind, values in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"{kind:<12} {len(values):>6} {sum(values):>8.1f} {sum(values) / total:>6.0%}")
    print(f"{'total':<12} {len(stages):>6} {total:>8.1f}   ({total / 60:.1f} min, {os.cpu_count()} cores)")
    print("\nprocess start (one import each, seconds): "
          + ", ".join(f"{k} {v:.1f}" for k, v in starts.items()))


if __name__ == "__main__":
    main()
