"""Sweep training: all members as one batched model against one run after another.

Both sides use the library's Lightning training (``fit_members``): batched trains the
whole ``sweep.p x sweep.seeds`` grid in one Trainer; sequential calls the single-run
trainer (what ``mcdropout train`` does) once per member. Same data, epochs, members.

    python benchmarks/sweep_training.py [--dataset regression] [--epochs N] [--members K]
"""

from __future__ import annotations

import argparse
import time

import torch

from mcdropout.core.config import Params
from mcdropout.data.datasets import build_dataset
from mcdropout.study.sweep import sweep_members
from mcdropout.training.train import fit_members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", "--task", dest="dataset", default="regression", help="a declared dataset")
    parser.add_argument("--epochs", type=int, default=None, help="default: the dataset's epochs")
    parser.add_argument("--members", type=int, default=None, help="use only the first K members")
    parser.add_argument("--accelerator", default="auto")
    args = parser.parse_args()
    params = Params().override(**{"train.accelerator": args.accelerator}).with_epochs(args.epochs)
    params = params.for_dataset(args.dataset)
    data = build_dataset(args.dataset, params)
    task, splits = data.task, data.splits
    members = sweep_members(params)[: args.members]
    epochs = params.train.epochs
    print(f"dataset={args.dataset} members={len(members)} epochs={epochs} threads={torch.get_num_threads()}")

    start = time.perf_counter()
    batched = fit_members(task, splits, members, params, progress=False)
    t_batched = time.perf_counter() - start
    print(f"batched:    {t_batched:7.1f}s on {batched.accelerator}", flush=True)

    start = time.perf_counter()
    for member in members:
        fit_members(task, splits, [member], params, progress=False)
    t_seq = time.perf_counter() - start
    print(f"sequential: {t_seq:7.1f}s ({t_seq / len(members):.2f}s per member)")
    print(f"speed-up:   {t_seq / t_batched:7.2f}x")


if __name__ == "__main__":
    main()
