"""Active learning: mcdropout's batched loop against baal's, on the same experiment, side by side in one run.

Same data (each repeat's pool and test split, as ``mcdropout active`` makes them), initial labelled sets, network
(the study's MLP), optimiser (Adam, full batch, from scratch each round), epochs, dropout rate, batch, budget, T and
repeats. mcdropout trains every (function, repeat) as one member of a batched model per round
(:func:`mcdropout.study.active.run_active`); baal runs one model per (function, repeat), round after round, with
its own ``ActiveLearningLoop`` (``benchmarks/baal_active.py``, in a venv of its own: baal has no place in the
project's; see ``--baal-python``). Prints the wall time of both, their ratio, and each function's curve side by
side, the areas under them with the difference and its standard error (independent runs: not paired).

    python benchmarks/active_learning.py [--budget 100] [--repeats 3] [--functions random,bald,...]
        [--baal-python /work/baal-venv/bin/python] [--threads 2]

The baal venv: ``python -m venv V && V/bin/pip install torch==2.13.0 baal`` (check that torch stays 2.13.0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mcdropout.core.config import ActiveConfig, Params
from mcdropout.data.datasets import load_dataset, write_dataset
from mcdropout.study.active import RepeatData, area, initial_set, run_active
from mcdropout.training import train  # noqa: F401 - Lightning's import, untimed (baal's side warms up untimed too)

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="a classification dataset of the default params")
    parser.add_argument("--functions", default="random,max_entropy,variation_ratios,mean_std,bald,batchbald")
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads, both sides")
    parser.add_argument("--baal-python", default="/work/baal-venv/bin/python",
                        help="a Python with baal and torch (and no need of mcdropout)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ActiveConfig(functions=args.functions.split(","), initial=args.initial, batch=args.batch,
                       budget=args.budget, repeats=args.repeats, samples=args.samples, epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        params = Params().override(**{"data.dir": f"{tmp}/data", "mlflow.enabled": False})
        write_dataset(args.dataset, params)
        base = load_dataset(args.dataset, params.data.dir)
        data = [RepeatData(base.repeat(r), base.task) for r in range(cfg.repeats)]
        n_pool, n_test = min(len(d.pool_y) for d in data), min(len(d.test.y) for d in data)
        inp = Path(tmp) / "in.npz"
        np.savez(inp, x_pool=np.stack([d.pool_x[:n_pool] for d in data]),
                 y_pool=np.stack([d.pool_y[:n_pool] for d in data]).astype(np.int64),
                 x_test=np.stack([d.test.x[:n_test] for d in data]),
                 y_test=np.stack([d.test.y[:n_test] for d in data]).astype(np.int64),
                 initial=np.stack([initial_set(d.pool_y, cfg.initial, len(base.task.labels), seed=r)
                                   for r, d in enumerate(data)]),
                 config=json.dumps({"functions": cfg.functions, "batch": cfg.batch, "budget": cfg.budget,
                                    "samples": cfg.samples, "epochs": cfg.epochs, "p": cfg.p,
                                    "lr": params.train.lr, "hidden": list(params.model.hidden),
                                    "n_classes": len(base.task.labels), "threads": args.threads}))
        print(f"{args.dataset}: pool {n_pool}, test {n_test}, functions {', '.join(cfg.functions)}; initial "
              f"{cfg.initial}, batch {cfg.batch}, budget {cfg.budget}, T {cfg.samples}, {cfg.epochs} epochs, "
              f"{cfg.repeats} repeats, {args.threads} torch threads", flush=True)
        start = time.perf_counter()
        ours = run_active(params, args.dataset, cfg, progress=True)
        t_ours = time.perf_counter() - start
        print(f"mcdropout: {t_ours:.1f} s", flush=True)
        out = Path(tmp) / "out.json"
        start = time.perf_counter()
        subprocess.run([args.baal_python, str(HERE / "baal_active.py"), str(inp), str(out)], check=True)
        t_baal_process = time.perf_counter() - start
        baal = json.loads(out.read_text())
    t_baal = sum(f["seconds"] for f in baal["functions"].values())
    same = [f for f in cfg.functions if f in baal["functions"]]
    t_ours_same = t_ours * len(same) / len(cfg.functions)  # the batched fit's time shared out evenly
    print(f"\nbaal {baal['baal_version']}: {t_baal:.1f} s in its loops ({t_baal_process:.1f} s with its process "
          f"start); skipped: {baal['skipped'] or 'none'}")
    print(f"mcdropout: {t_ours:.1f} s for {len(cfg.functions)} functions; speed-up on the {len(same)} functions "
          f"both ran: {t_baal / t_ours_same:.1f}x (baal {t_baal:.1f} s against mcdropout's share {t_ours_same:.1f} s)")
    print("\nmean test accuracy over repeats by labels (mcdropout | baal), and the area under each curve:")
    labels = [pt["labels"] for pt in ours["curves"][same[0]]]
    print(f"{'function':<17}" + "".join(f"{n:>14}" for n in labels) + "   area mcdropout   area baal   difference")
    for f in same:
        a = np.array([rep for rep in ours["per_repeat"][f]["accuracy"]])
        b = np.array([[pt["accuracy"] for pt in rep] for rep in baal["functions"][f]["curves"]])
        cells = "".join(f"{x:>7.3f}|{y:<6.3f}" for x, y in zip(a.mean(0), b.mean(0)))
        auc_a = np.array([area(labels, rep) for rep in a])
        auc_b = np.array([area(labels, rep) for rep in b])
        se = np.sqrt(auc_a.var(ddof=1) / len(auc_a) + auc_b.var(ddof=1) / len(auc_b))
        diff = auc_a.mean() - auc_b.mean()
        verdict = "within noise" if abs(diff) <= 2 * se else "beyond 2 SE"
        print(f"{f:<17}{cells}   {auc_a.mean():.3f}           {auc_b.mean():.3f}       {diff:+.3f} ± {se:.3f} "
              f"({verdict})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
