"""Two UCI runs at once with one torch thread each, against one after the other with torch's default threads.

The research table's cells are many small optimiser steps (benchmarks/README.md, "The UCI table"): on 2 cores a
step's matrix products gain little from a second thread, and two runs with two threads each make the threads wait
for each other. This runs the same short cell (``mcdropout benchmark uci`` with few epochs, all splits) twice in
each of two ways, side by side in one run of this script:

- one after the other, torch's default threads (one per core);
- both at once, each with ``OMP_NUM_THREADS=1``,

and prints each way's wall time and the ratio (throughput of the pair at once over the pair in turn).

    python benchmarks/uci_threads.py --data-dir ../shared/data/uci [--dataset kin8nm] [--method mc_dropout]
        [--epochs 40] [--samples 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def command(args: argparse.Namespace, out: str, params: str) -> list[str]:
    data_dir = os.path.abspath(args.data_dir)  # the runs' working folder is a temporary one
    return [sys.executable, "-m", "mcdropout.cli", "--params", params, "benchmark", "uci", "--data-dir", data_dir,
            "--dataset", args.dataset, "--method", args.method, "--epochs", str(args.epochs),
            "--samples", str(args.samples), "--output-dir", out]


def run(args: argparse.Namespace, together: bool) -> float:
    """Wall seconds of two runs of the cell, at once (one thread each) or in turn (default threads)."""
    env = dict(os.environ)
    if together:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        outs = [os.path.join(tmp, f"run{i}") for i in range(2)]
        params = os.path.join(tmp, "params.yaml")
        with open(params, "w") as f:
            f.write("mlflow:\n  enabled: false\n")  # timing the training, not the tracking
        start = time.perf_counter()
        if together:
            procs = [subprocess.Popen(command(args, o, params), env=env, cwd=tmp, stdout=subprocess.DEVNULL)
                     for o in outs]
            codes = [p.wait() for p in procs]
        else:
            codes = [subprocess.run(command(args, o, params), env=env, cwd=tmp, stdout=subprocess.DEVNULL).returncode
                     for o in outs]
        seconds = time.perf_counter() - start
    if any(codes):
        sys.exit(f"a run failed (exit codes {codes})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="kin8nm")
    parser.add_argument("--method", default="mc_dropout")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    in_turn = run(args, together=False)
    print(f"two runs one after the other, default threads: {in_turn:.1f} s", flush=True)
    at_once = run(args, together=True)
    print(f"two runs at once, one thread each:              {at_once:.1f} s", flush=True)
    print(f"throughput at once / in turn: {in_turn / at_once:.2f}x ({args.dataset} {args.method}, "
          f"{args.epochs} epochs, T = {args.samples}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
