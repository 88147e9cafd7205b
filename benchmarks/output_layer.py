"""The stacked model's narrow output layer on the CPU against a plain ``torch.baddbmm``.

Two measurements, each side by side in one process (rounds alternate, the first is a warm-up):

* the output layer alone, forward and backward, at the default datasets' shapes and at a
  larger table's (members x rows x outputs);
* a whole sweep fit (``fit_members``, Lightning) of a built-in dataset, the layer switched
  by ``mcdropout.nn.stacked.NARROW_OUTPUTS`` (0: every output layer through ``baddbmm``).

    python benchmarks/output_layer.py [--dataset classification] [--epochs 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import mcdropout.nn.stacked as stacked
from mcdropout.core.config import Params
from mcdropout.data.datasets import build_dataset
from mcdropout.study.sweep import sweep_members
from mcdropout.training.train import fit_members

SHAPES = [(27, 30, 1), (35, 30, 1), (27, 200, 1), (35, 200, 1), (27, 107, 3), (27, 1000, 1), (27, 1000, 10)]


def layer_seconds(members: int, rows: int, outputs: int, narrow: bool, repeats: int = 200) -> float:
    h = torch.randn(members, rows, 128, requires_grad=True)
    w = torch.randn(members, 128, outputs, requires_grad=True)
    b = torch.randn(members, 1, outputs, requires_grad=True)
    upstream = torch.randn(members, rows, outputs)

    def step() -> None:
        out = stacked._NarrowLinear.apply(h, w, b) if narrow else torch.baddbmm(b, h, w)
        out.backward(upstream)

    for _ in range(20):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="classification", help="a built-in dataset for the whole fit")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"threads={torch.get_num_threads()}")
    print(f"{'members x rows x outputs':<26} {'baddbmm us':>11} {'narrow us':>10} {'speed-up':>9}")
    for shape in SHAPES:
        plain, narrow = (layer_seconds(*shape, narrow=n) for n in (False, True))
        print(f"{' x '.join(map(str, shape)):<26} {plain * 1e6:>11.0f} {narrow * 1e6:>10.0f} {plain / narrow:>8.2f}x")

    params = Params().with_epochs(args.epochs).for_dataset(args.dataset)
    data = build_dataset(args.dataset, params)
    members = sweep_members(params)
    seconds: dict[str, list[float]] = {"baddbmm": [], "narrow": []}
    for round_ in range(args.rounds + 1):
        for name, width in (("baddbmm", 0), ("narrow", stacked.NARROW_OUTPUTS)):
            saved, stacked.NARROW_OUTPUTS = stacked.NARROW_OUTPUTS, width
            try:
                fit = fit_members(data.task, data.splits, members, params, progress=False,
                                  standardize=data.schema.standardize)
            finally:
                stacked.NARROW_OUTPUTS = saved
            if round_:
                seconds[name].append(fit.seconds)
    plain, narrow = sum(seconds["baddbmm"]), sum(seconds["narrow"])
    print(f"\n{args.dataset} sweep fit, {len(members)} members x {args.epochs} epochs, {args.rounds} rounds: "
          f"baddbmm {plain:.2f}s, narrow {narrow:.2f}s, speed-up {plain / narrow:.2f}x")


if __name__ == "__main__":
    main()
