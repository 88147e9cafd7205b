"""What bounds the UCI research table's time: optimiser steps of which shape, and how far a step is from the floor
of its matrix products.

For each dataset of a UCI data folder and each method, the protocol's training phases (their batched members M,
rows per batch B, inputs D, hidden units H, outputs O, and number of optimiser steps) are counted from the folder's
files and the protocol's constants; a short real fit of each phase's shape (``fit_members_on``, synthetic rows of
the dataset's size) gives the seconds per step (the difference of a short and a twice-as-long fit, so Lightning's
start-up is not counted); the floor is the time of the same step's matrix products alone (forward and backward
``torch.bmm`` of the same shapes, nothing else). Prints, per dataset and method, the steps, ms per step, the floor,
their ratio and the projected hours of training; then the sum.

    python benchmarks/uci_table_cost.py --data-dir ../shared/data/uci [--datasets kin8nm,yacht] [--steps 200]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mcdropout.core.config import Params
from mcdropout.core.tasks import HeteroscedasticRegression, Regression
from mcdropout.data.datasets import Split
from mcdropout.data.sources import load_uci
from mcdropout.nn.members import Member
from mcdropout.study.uci_methods import ENSEMBLE_BATCH, ENSEMBLE_LONGER, ENSEMBLE_LRS, ENSEMBLE_SIZE
from mcdropout.training.train import fit_members_on


@dataclass(frozen=True)
class Phase:
    """One batched fit of a protocol: ``fits`` of them, each ``epochs`` long."""
    name: str
    members: int
    rows: int  # training rows per member
    batch: int
    hidden: int
    outputs: int
    epochs: int
    splits: int = 1  # data sets: member i trains on split i // (members / splits), as in the protocol
    fits: int = 1
    dropout: str = "fixed"

    @property
    def steps(self) -> int:
        return self.fits * self.epochs * math.ceil(self.rows / self.batch)


def phases(ds, method: str) -> list[Phase]:
    """The training phases of ``method`` on all of ``ds``'s splits (a retrain after a choice: its longest case)."""
    s, n = ds.n_splits, len(ds.split(0)[0])
    cut, e = round(0.8 * n), ds.n_epochs
    if method == "mc_dropout":
        grid = len(ds.dropout_rates) * len(ds.taus)
        return [Phase("grid", s * grid, cut, 128, ds.n_hidden, 1, 100 * e, s),
                Phase("retrain", s, n, 128, ds.n_hidden, 1, 100 * e, s)]
    if method == "deep_ensemble":  # each learning rate trains E and 10 E epochs (two fits); then the chosen retrain
        m = s * ENSEMBLE_SIZE
        return [Phase("grid", m, cut, ENSEMBLE_BATCH, ds.n_hidden, 2, e + ENSEMBLE_LONGER * e, s, len(ENSEMBLE_LRS)),
                Phase("retrain", m, n, ENSEMBLE_BATCH, ds.n_hidden, 2, ENSEMBLE_LONGER * e, s)]
    # Concrete: its epochs grid is one training continued to 100 E on 80% of the rows; the retrain's longest case
    return [Phase("grid", s, cut, 128, ds.n_hidden, 2, 100 * e, s, dropout="concrete"),
            Phase("retrain", s, n, 128, ds.n_hidden, 2, 100 * e, s, dropout="concrete")]


def seconds_per_step(phase: Phase, inputs: int, steps: int) -> float:
    """Real training of the phase's shape: (time of 2k epochs - time of k epochs) / k epochs' steps."""
    rng = np.random.default_rng(0)
    data = []
    for _ in range(phase.splits):
        x = rng.standard_normal((phase.rows, inputs)).astype(np.float32)
        y = (x[:, 0] + 0.1 * rng.standard_normal(phase.rows)).astype(np.float32)
        data.append({"train": Split(x, y), "val": Split(x[:8], y[:8])})
    per_split = phase.members // phase.splits
    task = Regression() if phase.outputs == 1 else HeteroscedasticRegression()
    per_epoch = math.ceil(phase.rows / phase.batch)
    k = max(1, round(steps / per_epoch))
    times = []
    for epochs in (k, 2 * k):
        params = Params().override(**{"mlflow.enabled": False, "model.hidden": [phase.hidden], "train.epochs": epochs,
                                      "train.batch_size": phase.batch, "train.lr": 1e-3, "model.input_p": 0.0})
        members = [Member(0.1 if phase.dropout == "concrete" else 0.05, seed=i, input_p=0.0, dropout=phase.dropout)
                   for i in range(phase.members)]
        start = time.perf_counter()
        fit_members_on(task, data, [i // per_split for i in range(phase.members)], members, params, progress=False,
                       validate=False)
        times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / (k * per_epoch)


def floor_per_step(phase: Phase, inputs: int, repeats: int = 50) -> float:
    """The step's matrix products alone: forward x W1, h W2; backward the weights' and the hidden layer's."""
    m, b, d, h, o = phase.members, min(phase.batch, phase.rows), inputs, phase.hidden, phase.outputs
    x, w1, w2 = torch.randn(m, b, d), torch.randn(m, d, h), torch.randn(m, h, o)
    hid, g2 = torch.randn(m, b, h), torch.randn(m, b, o)

    def step():
        torch.bmm(x, w1)
        torch.bmm(hid, w2)
        torch.bmm(hid.transpose(1, 2), g2)  # grad W2
        g1 = torch.bmm(g2, w2.transpose(1, 2))  # grad hidden
        torch.bmm(x.transpose(1, 2), g1)  # grad W1

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--datasets", default=None, help="comma-separated; default: every dataset folder")
    ap.add_argument("--methods", default="mc_dropout,deep_ensemble,concrete")
    ap.add_argument("--steps", type=int, default=200, help="steps of each timed fit (about)")
    args = ap.parse_args()
    names = args.datasets.split(",") if args.datasets else sorted(
        p.name for p in Path(args.data_dir).iterdir() if (p / "data.txt").is_file())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| dataset | method | phase | M x B x D-H-O | steps | ms/step | floor ms | ratio | hours |")
    print("|---|---|---|---|---|---|---|---|---|")
    total = 0.0
    for name in names:
        ds = load_uci(args.data_dir, name)
        for method in args.methods.split(","):
            for ph in phases(ds, method):
                step = seconds_per_step(ph, ds.x.shape[1], args.steps)
                floor = floor_per_step(ph, ds.x.shape[1])
                hours = ph.steps * step / 3600
                total += hours
                print(f"| {name} | {method} | {ph.name} | {ph.members} x {ph.batch} x {ds.x.shape[1]}-{ph.hidden}-"
                      f"{ph.outputs} | {ph.steps:,} | {1e3 * step:.2f} | {1e3 * floor:.3f} | {step / floor:.0f} | "
                      f"{hours:.2f} |", flush=True)
    print(f"\ntraining, all phases: {total:.1f} h (testing and validation passes not counted)")


if __name__ == "__main__":
    main()
