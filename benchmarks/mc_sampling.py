"""MC dropout sampling: the naive loop against ``predict_mc``, side by side in one run.

Naive: a Python loop of T full passes through the model with its ``nn.Dropout`` layers
in train mode (what most tutorials do). Library: ``mcdropout.inference.predict_mc``
(layers before the first dropout run once, masks from cheap random bits on CPU,
samples in blocks). Same model (128-128 ReLU MLP, p = 0.2), same inputs.

    python benchmarks/mc_sampling.py [--samples 100] [--sizes 1000 10000] [--repeats 5] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mcdropout.inference import predict_mc
from mcdropout.model import seeded_mlp


def naive_loop(model: torch.nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    model.train()
    with torch.no_grad():
        out = torch.stack([model(x) for _ in range(samples)])
    model.eval()
    return out


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    model = seeded_mlp(0, in_dim=1, out_dim=1, hidden=(128, 128), p=0.2).to(device).eval()
    print(f"device={device} threads={torch.get_num_threads()} T={args.samples} model=1-128-128-1 p=0.2")
    print(f"{'N':>7} {'naive loop':>12} {'predict_mc':>12} {'speed-up':>9}")
    for n in args.sizes:
        x = torch.linspace(-4, 4, n, device=device)[:, None]
        naive = timed(lambda x=x: naive_loop(model, x, args.samples), args.repeats, device)
        fast = timed(lambda x=x: predict_mc(model, x, args.samples), args.repeats, device)
        print(f"{n:>7} {naive * 1e3:>10.1f}ms {fast * 1e3:>10.1f}ms {naive / fast:>8.2f}x")


if __name__ == "__main__":
    main()
