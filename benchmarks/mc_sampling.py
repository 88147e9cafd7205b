"""MC dropout sampling: the naive loop, ``predict_mc`` and two peer libraries, side by side in one run.

Naive: a Python loop of T full passes through the model with its ``nn.Dropout`` layers in
train mode (what most tutorials do). Library: ``mcdropout.inference.sampling.predict_mc``. Peers
(``pip install -e .[bench]``; a missing one prints "not installed"): torch-uncertainty's
``mc_dropout`` wrapper (samples stacked on the batch, or a loop) and baal (its
``patch_module`` + ``mc_inference``, replicated in memory or looped, and with its
``MCCachingModule``). Every row is a speed-up against the naive loop (best of ``--repeats``).

Models: the seed MLP (1-128-128-1, ReLU, p = 0.3), the UCI network (8-50-1 with dropout on
the inputs and the hidden layer, standardising affine layers around it) and a residual
network that is not an ``nn.Sequential`` (dropout inside a residual block called from
``forward``). "floor" is the time of the model's matrix products alone at the rate this
machine runs them (the deterministic ones on N rows, the rest on T * N rows, in
``predict_mc``'s block size), and "of floor" that time over ``predict_mc``'s.

    python benchmarks/mc_sampling.py [--samples 100] [--points 10000] [--repeats 3] [--device auto]
        [--threads K] [--models seed uci residual]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import time
from collections.abc import Callable

import torch
from torch import nn

from mcdropout.inference.plan import build_plan
from mcdropout.inference.sampling import block_rows, predict_mc
from mcdropout.nn.model import seeded_mlp


class ResidualMLP(nn.Module):
    """``x -> relu(W0 x) = h -> h + W2 drop(relu(W1 drop(h))) -> W3``: not a Sequential."""

    def __init__(self, in_dim: int = 1, width: int = 128, p: float = 0.3) -> None:
        super().__init__()
        self.inp, self.fc1, self.fc2 = nn.Linear(in_dim, width), nn.Linear(width, width), nn.Linear(width, width)
        self.drop1, self.drop2, self.out = nn.Dropout(p), nn.Dropout(p), nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        h = h + self.fc2(self.drop2(torch.relu(self.fc1(self.drop1(h)))))
        return self.out(h)


def make_model(name: str, points: int) -> tuple[nn.Module, torch.Tensor, str]:
    gen = torch.Generator().manual_seed(0)
    if name == "seed":
        return (seeded_mlp(0, in_dim=1, out_dim=1, hidden=(128, 128), p=0.3),
                torch.linspace(-4, 4, points)[:, None], "seed MLP 1-128-128-1, p=0.3")
    if name == "uci":
        model = seeded_mlp(0, in_dim=8, out_dim=1, hidden=(50,), p=0.1, input_p=0.1, x_mean=[0.5] * 8,
                           x_std=[2.0] * 8, y_mean=[1.0], y_std=[3.0])
        return model, torch.randn(points, 8, generator=gen), "UCI network 8-50-1, input p=0.1, hidden p=0.1"
    if name == "residual":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = ResidualMLP()
        return model, torch.linspace(-4, 4, points)[:, None], "residual 1-128-[128-128]+-1, p=0.3 (not Sequential)"
    raise ValueError(name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], repeats: int, device: torch.device, warmup: Callable[[], object]) -> float:
    warmup()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def time_rounds(fns: dict[str, Callable[[torch.Tensor], object]], x: torch.Tensor, warm_x: torch.Tensor,
                repeats: int, device: torch.device) -> dict[str, float | str]:
    """Best of ``repeats`` timings of each ``fn(x)``, taken in rounds (one of each per round, so that a
    noisy stretch of the machine hits them alike), after a warm-up on ``warm_x``; a failure's message."""
    runs: dict[str, list[float] | str] = {}
    for label, fn in fns.items():
        try:
            fn(warm_x)
            runs[label] = []
        except (RuntimeError, MemoryError) as e:
            runs[label] = f"failed: {str(e)[:60]}"
    for _ in range(repeats):
        for label, fn in fns.items():
            if isinstance(runs[label], list):
                sync(device)
                start = time.perf_counter()
                fn(x)
                sync(device)
                runs[label].append(time.perf_counter() - start)
    return {label: min(v) if isinstance(v, list) else v for label, v in runs.items()}


def naive_loop(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    model.train()
    with torch.no_grad():
        out = torch.stack([model(x) for _ in range(samples)])
    model.eval()
    return out


def _torch_uncertainty() -> tuple[Callable | None, str]:
    """torch-uncertainty's ``mc_dropout``: from the package, else its module file alone (the package's
    ``__init__`` imports torchvision and lightning, which some environments cannot install)."""
    if importlib.util.find_spec("torch_uncertainty") is None:
        return None, "not installed"
    for name in ("torch_uncertainty.models.wrappers", "torch_uncertainty.models", "torch_uncertainty.methods"):
        try:
            return importlib.import_module(name).mc_dropout, ""
        except (ImportError, AttributeError, RuntimeError) as e:
            error = f"{type(e).__name__}: {e}"
    spec = importlib.util.find_spec("torch_uncertainty")
    for sub in ("models/wrappers/mc_dropout.py", "methods/mc_dropout.py"):
        path = f"{spec.submodule_search_locations[0]}/{sub}"
        try:
            file_spec = importlib.util.spec_from_file_location("_tu_mc_dropout", path)
            module = importlib.util.module_from_spec(file_spec)
            file_spec.loader.exec_module(module)
            return module.mc_dropout, f"its {sub} loaded alone; the package import failed: {error[:70]}"
        except (ImportError, FileNotFoundError, AttributeError):
            continue
    return None, f"import failed: {error[:80]}"


def peers(model: nn.Module, samples: int) -> list[tuple[str, Callable[[torch.Tensor], object] | None, str]]:
    """``(label, fn(x), note)`` for each peer configuration; fn None: skipped, with the note saying why."""
    rows: list[tuple[str, Callable[[torch.Tensor], object] | None, str]] = []
    mc_dropout, note = _torch_uncertainty()
    for on_batch in (True, False):
        label = f"torch-uncertainty mc_dropout ({'on_batch' if on_batch else 'loop'})"
        if mc_dropout is None:
            rows.append((label, None, note))
            continue
        wrapped = mc_dropout(copy.deepcopy(model), num_estimators=samples, on_batch=on_batch, task="regression",
                             probabilistic=False).eval()
        rows.append((label, lambda x, w=wrapped: _no_grad(w, x), note))
    try:
        from baal.bayesian.caching_utils import MCCachingModule
        from baal.bayesian.dropout import patch_module
        from baal.modelwrapper import mc_inference
    except ImportError as e:
        for label in ("replicate in memory", "loop", "MCCachingModule"):
            rows.append((f"baal mc_inference ({label})", None, "not installed" if "baal" in str(e) else str(e)[:80]))
        return rows
    patched = patch_module(copy.deepcopy(model), inplace=True).eval()
    cached = MCCachingModule(patch_module(copy.deepcopy(model), inplace=True)).eval()
    for label, net, replicate in (("replicate in memory", patched, True), ("loop", patched, False),
                                  ("MCCachingModule", cached, False)):
        rows.append((f"baal mc_inference ({label})",
                     lambda x, n=net, r=replicate: _no_grad(lambda x: mc_inference(n, x, samples, r), x), ""))
    return rows


def _no_grad(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> object:
    with torch.no_grad():
        return fn(x)


def matmul_floor(model: nn.Module, x: torch.Tensor, samples: int, repeats: int) -> tuple[float, float]:
    """Seconds of the model's matrix products alone (deterministic ones on N rows, the rest on T N rows in
    ``predict_mc``'s block size), and the GFLOP/s they ran at."""
    device = x.device
    plan = build_plan(model)
    with torch.no_grad():
        det = plan.run_prefix(x)
        rows = block_rows(plan, det, x) if plan.stochastic_output else x.shape[0]
    fixed, stochastic = plan.linears()
    total, flops = 0.0, 0.0
    for layers, n_rows in ((fixed, x.shape[0]), (stochastic, samples * x.shape[0])):
        for layer in layers:
            block = min(rows, n_rows)
            a = torch.randn(block, layer.in_features, device=device)
            w, b = layer.weight.detach().t(), layer.bias.detach()
            out = torch.empty(block, layer.out_features, device=device)
            reps = max(3, int(2e8 // (2 * block * layer.in_features * layer.out_features + 1)))
            t = best_time(lambda a=a, w=w, b=b, out=out, reps=reps: [torch.addmm(b, a, w, out=out)
                                                                       for _ in range(reps)],
                          repeats, device, lambda: None) / reps
            total += t * n_rows / block
            flops += 2.0 * n_rows * layer.in_features * layer.out_features
    return total, flops / total / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--models", nargs="+", default=["seed", "uci", "residual"])
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device={device} ({name}) torch={torch.__version__} T={args.samples} N={args.points} "
          f"best of {args.repeats}; speed-up = naive time / time")
    t_, n_ = args.samples, args.points
    for key in args.models:
        model, x, title = make_model(key, n_)
        model, x = model.to(device).eval(), x.to(device)
        small = x if device.type == "cuda" else x[: max(1, n_ // 20)]  # warm-up input
        methods: list[tuple[str, Callable[[torch.Tensor], object] | None, str]] = [
            ("naive loop (nn.Dropout in train mode)", lambda xx, m=model: naive_loop(m, xx, t_), ""),
            ("predict_mc", lambda xx, m=model: predict_mc(m, xx, t_), ""),
            *peers(model, t_),
        ]
        times = time_rounds({label: fn for label, fn, _ in methods if fn}, x, small, args.repeats, device)
        naive, fast = times[methods[0][0]], times["predict_mc"]
        print(f"\n{title}")
        print(f"  {'method':<46} {'time':>9} {'speed-up':>9}")
        notes: list[str] = []
        for label, fn, note in methods:
            took = times.get(label)
            shown = f"{took * 1e3:>7.2f}ms {naive / took:>8.2f}x" if isinstance(took, float) else (took or note)
            if note and fn and note not in notes:
                notes.append(note)
            print(f"  {label:<46} {shown}" + (f" [{notes.index(note) + 1}]" if note and fn else ""))
        floor, rate = matmul_floor(model, x, t_, args.repeats)
        print(f"  floor (matmuls alone, {rate:.0f} GFLOP/s): {floor * 1e3:.2f}ms; "
              f"predict_mc runs at {floor / fast:.0%} of the floor's speed")
        for i, note in enumerate(notes, 1):
            print(f"  [{i}] {note}")


if __name__ == "__main__":
    main()
