"""Sampling to a tolerance against a fixed T, side by side in one run, on the default regression model.

For the test inputs of a dataset (default: the seed's regression, its selected model from `dvc repro`), three
ways of predicting with MC dropout: fixed T = 100, fixed T = 1,000, and `--tolerance` (default 0.01 of the
target's std, every row until the larger of its mean's and std's Monte Carlo standard error is below it). Printed
per way: wall time (best of --repeats), the passes spent (all rows together), the standard error each row was
left with (median and largest, in units of the target's std), and the error actually achieved: how far each row's
mean and std are from a reference of 100,000 passes drawn with another seed (root mean square and largest).

    python benchmarks/mc_tolerance.py [--dataset regression] [--tolerance 0.01] [--max-samples 10000]
        [--repeats 3] [--threads K]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mcdropout.core.config import MCConfig, load_params, mc_config
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import load_dataset
from mcdropout.inference.predict import prediction_columns
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="regression")
    ap.add_argument("--tolerance", type=float, default=0.01, help="in units of the target's std")
    ap.add_argument("--max-samples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params("params.yaml") if Path("params.yaml").is_file() else None
    paths = Paths.of(params)
    metrics = json.loads(paths.metrics_json(args.dataset).read_text())
    model, meta = load_checkpoint(paths.sweep_dir(args.dataset) / f"{Member(metrics['best_p'], 0).name}.pt")
    data = load_dataset(args.dataset, params.data.dir)
    x, scale = data.splits["test"].x, float(np.std(data.splits["train"].y))
    if meta.classes is not None:
        raise SystemExit("a regression dataset, please: the tolerance is in units of the target's std")
    print(f"{args.dataset}: p = {meta.p:g}, {len(x)} test rows, target std {scale:.4g}; tolerance "
          f"{args.tolerance:g} std = {args.tolerance * scale:.4g}; torch threads {torch.get_num_threads()}")
    reference = prediction_columns(model, meta, x, MCConfig(samples=100_000, seed=12345))
    ways = {"T = 100": MCConfig(samples=100, seed=0), "T = 1000": MCConfig(samples=1000, seed=0),
            f"tolerance {args.tolerance:g}": mc_config(tolerance=args.tolerance * scale,
                                                       max_samples=args.max_samples, seed=0)}
    head = (f"{'way':<16}{'seconds':>9}{'passes':>11}{'SE median':>11}{'SE max':>9}{'mean err rms':>14}"
            f"{'mean err max':>14}{'std err max':>13}{'rows met':>10}")
    print(head)
    for name, mc in ways.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            cols = prediction_columns(model, meta, x, mc)
            best = min(best, time.perf_counter() - start)
        se = np.maximum(cols["mean_mc_se"], cols["std_mc_se"]) / scale
        mean_err = np.abs(cols["mean"] - reference["mean"]) / scale
        std_err = np.abs(cols["std"] - reference["std"]) / scale
        met = int(cols["tolerance_met"].sum()) if "tolerance_met" in cols else "-"
        print(f"{name:<16}{best:>9.3f}{int(cols['samples'].sum()):>11,}{np.median(se):>11.4f}{se.max():>9.4f}"
              f"{np.sqrt(np.mean(mean_err**2)):>14.4f}{mean_err.max():>14.4f}{std_err.max():>13.4f}{met:>10}")


if __name__ == "__main__":
    main()
