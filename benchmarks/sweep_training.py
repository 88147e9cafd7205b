"""Sweep training: all members as one batched model against one run after another.

Both sides use the library's Lightning training (``fit_members``): batched trains the
whole ``sweep.p x sweep.seeds`` grid in one Trainer; sequential calls the single-run
trainer (what ``mcdropout train`` does) once per member. Same data, epochs, members.

    python benchmarks/sweep_training.py [--task regression] [--epochs N] [--members K]
"""

from __future__ import annotations

import argparse
import time

import torch

from mcdropout.config import Params
from mcdropout.data import make_task_data
from mcdropout.sweep import sweep_members
from mcdropout.train import fit_members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="regression", choices=["regression", "classification"])
    parser.add_argument("--epochs", type=int, default=None, help="default: train.epochs of params.yaml")
    parser.add_argument("--members", type=int, default=None, help="use only the first K members")
    parser.add_argument("--accelerator", default="auto")
    args = parser.parse_args()
    params = Params().override(**{"train.epochs": args.epochs, "train.accelerator": args.accelerator})
    splits = make_task_data(args.task, params.data)
    members = sweep_members(params)[: args.members]
    epochs = params.train.epochs_for(args.task)
    print(f"task={args.task} members={len(members)} epochs={epochs} threads={torch.get_num_threads()}")

    start = time.perf_counter()
    batched = fit_members(args.task, splits, members, params, progress=False)
    t_batched = time.perf_counter() - start
    print(f"batched:    {t_batched:7.1f}s on {batched.accelerator}", flush=True)

    start = time.perf_counter()
    for member in members:
        fit_members(args.task, splits, [member], params, progress=False)
    t_seq = time.perf_counter() - start
    print(f"sequential: {t_seq:7.1f}s ({t_seq / len(members):.2f}s per member)")
    print(f"speed-up:   {t_seq / t_batched:7.2f}x")


if __name__ == "__main__":
    main()
