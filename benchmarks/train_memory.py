"""Memory of ``fit_members`` against the number of optimiser steps (issue #16).

The issue's case: random data (6,000 x 8), 12 members of 8-50-1 with input dropout and
L2, mini-batches of 128 (47 steps an epoch). Each epoch count runs in a fresh process and
reports its peak RSS (``ru_maxrss``) and its RSS at 1/3 and at the end of training; a leak
shows as memory that grows with the epochs (the issue measured ~240 kB a step: 0.84 GB
after 100 epochs, 4.2 GB after 300). ``--splits S``: the UCI grids' case instead, S data sets of ``rows`` rows,
each with its own ``members`` (``fit_members_on``; 20 x 12 = 240 members as the MC dropout grid of a UCI dataset),
where glibc's heap grew with the steps until :mod:`mcdropout.training.heap` trimmed it.

    python benchmarks/train_memory.py [--epochs 100 300] [--rows 6000] [--members 12] [--splits 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, os, sys, time
import numpy as np
from mcdropout.core.config import Params
from mcdropout.data.datasets import Split
from mcdropout.nn.members import Member
from mcdropout.training.routine import DropoutRoutine
from mcdropout.study.uci import peak_memory_mb
from mcdropout.core.tasks import Regression
from mcdropout.training.train import fit_members, fit_members_on

epochs, rows, members, splits, trim = (int(v) for v in sys.argv[1:6])
if not trim:  # the heap as glibc leaves it (before mcdropout.training.heap)
    from mcdropout.training import heap
    heap.HeapTrimmer.__call__ = lambda self: None
marks, rss = {max(1, epochs // 3), epochs}, {}
end = DropoutRoutine.end_epoch


def record(self):
    end(self)
    if len(self.history) in marks:
        with open("/proc/self/statm") as f:
            rss[len(self.history)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


DropoutRoutine.end_epoch = record
rng = np.random.default_rng(0)
x = rng.standard_normal((rows, 8)).astype(np.float32)
y = (x @ rng.standard_normal(8) + 0.1 * rng.standard_normal(rows)).astype(np.float32)
params = Params().override(**{"model.hidden": [50], "train.epochs": epochs, "train.batch_size": 128,
                              "mlflow.enabled": False, "train.accelerator": "cpu", "train.devices": 1})
grid = [Member(p, 0, input_p=p, l2=1e-4 * (1 + i % 3)) for i, p in enumerate([0.005, 0.01, 0.05, 0.1] * 3)]
start = time.perf_counter()
if splits:  # each data set its own rows, its members trained on them alone
    data = []
    for s in range(splits):
        xs = rng.standard_normal((rows, 8)).astype(np.float32)
        ys = (xs @ rng.standard_normal(8) + 0.1 * rng.standard_normal(rows)).astype(np.float32)
        data.append({"train": Split(xs, ys), "val": Split(xs[:100], ys[:100])})
    fit_members_on(Regression(), data, [s for s in range(splits) for _ in range(members)],
                   [m for _ in range(splits) for m in grid[:members]], params, progress=False, global_seed=0,
                   validate=False)
else:
    fit_members("regression", {"train": Split(x, y), "val": Split(x[:500], y[:500])}, grid[:members], params,
                progress=False)
print(json.dumps({"epochs": epochs, "steps": epochs * -(-rows // 128), "seconds": time.perf_counter() - start,
                  "rss_mb": rss, "peak_mb": peak_memory_mb()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--splits", type=int, default=0, help="data sets of their own (0: one shared)")
    args = parser.parse_args()
    print("heap trimmed  epochs  steps  seconds  RSS at 1/3 (MB)  RSS at end (MB)  peak (MB)")
    for epochs in args.epochs:
        for trim in (0, 1):  # side by side: glibc's heap as it is, and trimmed every second
            out = subprocess.run([sys.executable, "-c", CHILD, str(epochs), str(args.rows), str(args.members),
                                  str(args.splits), str(trim)], check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            at = [r["rss_mb"][k] for k in sorted(r["rss_mb"], key=int)]
            third, last = at[0], at[-1]
            print(f"{'yes' if trim else 'no':>12} {r['epochs']:6d} {r['steps']:6d} {r['seconds']:8.1f} {third:16.0f} "
                  f"{last:16.0f} {r['peak_mb']:10.0f}", flush=True)


if __name__ == "__main__":
    main()
