"""The UCI protocol: all splits as one batched model against split by split.

Both sides run :func:`mcdropout.study.uci.run_benchmark` on the same splits and epochs:
``together`` trains every split's grid as one model (then every split's retrain as a
second), ``one by one`` one split at a time (``per_model=1``). Prints the wall time, the
mean test log-likelihood and RMSE, and the peak memory of each (run in its own process).

    python benchmarks/uci_protocol.py --data-dir ../shared/data/uci --dataset yacht --splits 0-3 [--epochs N]

``--make-synthetic DIR`` first writes a synthetic data set (``--rows`` rows, 8 features,
20 splits) in the published layout as ``DIR/synthetic``, for sizes the shared data sets
do not reach; then ``--data-dir DIR --dataset synthetic``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
from mcdropout.core.config import Params
from mcdropout.study.uci import peak_memory_mb, run_benchmark

data_dir, name, splits, epochs, samples, per_model = sys.argv[1:7]
start = time.perf_counter()
params = Params().override(**{"mlflow.enabled": False})
r = run_benchmark(data_dir, name, splits, int(epochs) or None, int(samples), params, progress=False,
                  per_model=int(per_model) or None)
print(json.dumps({"seconds": time.perf_counter() - start, "ll": r["mean"]["ll"], "rmse": r["mean"]["rmse"],
                  "choices": [(s["p"], s["tau"]) for s in r["splits"]], "peak_mb": peak_memory_mb()}))
"""


def make_synthetic(root: Path, rows: int, n_splits: int = 20, seed: int = 0) -> Path:
    """A smooth nonlinear target of 8 features plus noise, in the layout of Gal's UCI folders."""
    folder = root / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 8))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2 + x[:, 4:] @ rng.standard_normal(4) \
        + 0.3 * rng.standard_normal(rows)
    np.savetxt(folder / "data.txt", np.column_stack([x, y]), fmt="%.6f")
    (folder / "index_features.txt").write_text("\n".join(map(str, range(8))) + "\n")
    (folder / "index_target.txt").write_text("8\n")
    for key, value in {"n_splits": n_splits, "n_hidden": 50, "n_epochs": 40, "dropout_rates": "0.005 0.01 0.05 0.1",
                       "tau_values": "0.25 0.5 0.75"}.items():
        (folder / f"{key}.txt").write_text(f"{value}\n")
    n_train = int(round(0.9 * rows))
    for i in range(n_splits):
        order = rng.permutation(rows)
        np.savetxt(folder / f"index_train_{i}.txt", order[:n_train], fmt="%d")
        np.savetxt(folder / f"index_test_{i}.txt", order[n_train:], fmt="%d")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="yacht")
    parser.add_argument("--splits", default="0-3")
    parser.add_argument("--epochs", type=int, default=0, help="default: the protocol's (100 x n_epochs.txt)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--only", choices=["together", "one-by-one"], default=None)
    parser.add_argument("--make-synthetic", action="store_true", help="write <data-dir>/synthetic first")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    if args.make_synthetic:
        print(f"wrote {make_synthetic(Path(args.data_dir), args.rows)}", flush=True)
    sides = {"together": 0, "one-by-one": 1}
    for side, per_model in sides.items():
        if args.only not in (None, side):
            continue
        out = subprocess.run([sys.executable, "-c", CHILD, args.data_dir, args.dataset, args.splits, str(args.epochs),
                              str(args.samples), str(per_model)], check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{side:>10}: {r['seconds']:7.1f}s  test LL {r['ll']:.3f}  RMSE {r['rmse']:.3f}  "
              f"peak {r['peak_mb']:.0f} MB  choices {r['choices']}", flush=True)


if __name__ == "__main__":
    main()
