"""The baal half of the active-learning speed benchmark: the same experiment as ``mcdropout active``, run with baal.

Usage (in a venv that has baal and a CPU torch, and no mcdropout)::

    /work/baal-venv/bin/python benchmarks/baal_active.py IN.npz OUT.json

IN.npz: ``x_pool`` [R, N, D] float32, ``y_pool`` [R, N] int64, ``x_test`` [R, M, D], ``y_test`` [R, M],
``initial`` [R, I] (pool positions labelled at the start) and ``config``, a JSON string with ``functions``, ``batch``,
``budget``, ``samples`` (T), ``epochs``, ``p``, ``lr``, ``hidden``, ``n_classes`` and ``threads``.

For each function and repeat, with baal's ActiveLearningDataset, MCDropoutModule, ModelWrapper, heuristics and
ActiveLearningLoop: every round a fresh network (seed 1000 * repeat + round) is trained from scratch for ``epochs``
full-batch Adam steps; test accuracy and NLL come from the mean softmax of T MC-dropout passes; then, unless
``labels + batch > budget``, the loop scores the pool from T passes and labels the heuristic's top ``batch``.

OUT.json: ``baal_version``, ``torch_threads``, ``functions`` {name: {``seconds`` (all repeats), ``curves`` (per repeat,
a list of {``labels``, ``accuracy``, ``nll``})}} and ``skipped`` {name: reason}. One progress line per (function,
repeat) goes to stderr. baal's info logging (to stdout, every training and prediction) is switched off.
"""

import json
import logging
import sys
import time
import warnings
from importlib.metadata import version

import numpy as np
import structlog
import torch
from baal import ActiveLearningDataset, ModelWrapper
from baal.active import ActiveLearningLoop
from baal.active import heuristics as H
from baal.bayesian.dropout import MCDropoutModule
from baal.modelwrapper import TrainingArgs
from scipy.special import log_softmax, logsumexp, softmax
from torch import nn
from torch.utils.data import TensorDataset

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # baal's train-loss metric

KEYS = ("x_pool", "y_pool", "x_test", "y_test", "initial")


def heuristic(name, batch):
    """baal's heuristic for a benchmark function name (None: baal has none)."""
    make = {
        "random": lambda: H.Random(),
        "max_entropy": lambda: H.Entropy(),
        "bald": lambda: H.BALD(),
        # num_samples = the query size, as baal documents it; num_draw: baal's default, 500. baal picks greedily
        # num_samples + 1 points (its first, the BALD argmax, is then ranked last and left out by the loop).
        "batchbald": lambda: H.BatchBALD(num_samples=batch),
        # 1 - max_y p(y|x) on the mean softmax: Certainty ranks by the lowest max mean probability.
        "variation_ratios": lambda: H.Certainty(),
        # per-class std over the passes, averaged over the classes: Variance (var over passes, [N, C]) reduced so.
        "mean_std": lambda: H.Variance(reduction=lambda var: np.sqrt(var).mean(axis=1)),
    }.get(name)
    return make and make()


def network(d, hidden, n_classes, p):
    layers, width = [], d
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(p)]
        width = h
    return MCDropoutModule(nn.Sequential(*layers, nn.Linear(width, n_classes)))  # dropout on at test time too


def mc_logits(wrapper, dataset, samples):
    """[n, C, T] logits of T MC-dropout passes, the whole dataset in one batch."""
    wrapper.args.batch_size = len(dataset)
    return wrapper.predict_on_dataset(dataset, iterations=samples, verbose=False)


def run_repeat(cfg, heur, x, y, xt, yt, initial, r):
    pool = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    test = TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt))
    active = ActiveLearningDataset(pool, labelled=np.isin(np.arange(len(x)), initial))
    T = cfg["samples"]
    curve = []
    for rnd in range(10**6):
        seed = 1000 * r + rnd
        torch.manual_seed(seed)
        np.random.seed(seed)  # baal's Random draws from np.random
        model = network(x.shape[1], cfg["hidden"], cfg["n_classes"], cfg["p"])
        args = TrainingArgs(optimizer=torch.optim.Adam(model.parameters(), lr=cfg["lr"]),
                            batch_size=len(active), epoch=cfg["epochs"], use_cuda=False, workers=0,
                            criterion=nn.CrossEntropyLoss())
        wrapper = ModelWrapper(model, args)
        wrapper.train_on_dataset(active)  # batch_size = labelled count: one full-batch step per epoch

        log_p = logsumexp(log_softmax(mc_logits(wrapper, test, T), axis=1), axis=-1) - np.log(T)  # [M, C]
        curve.append({"labels": len(active), "accuracy": float((log_p.argmax(1) == yt).mean()),
                      "nll": float(-log_p[np.arange(len(yt)), yt].mean())})
        if len(active) + cfg["batch"] > cfg["budget"]:
            return curve
        loop = ActiveLearningLoop(active, lambda ds, w=wrapper, **kw: softmax(mc_logits(w, ds, T), axis=1),
                                  heuristic=heur, query_size=cfg["batch"])
        if not loop.step():
            return curve


def main(inp, out):
    data = np.load(inp)
    cfg = json.loads(str(data["config"]))
    torch.set_num_threads(int(cfg["threads"]))
    result = {"baal_version": version("baal"), "torch_threads": torch.get_num_threads(), "functions": {},
              "skipped": {}}
    # Untimed warm-up (torch's first calls cost ~1.5 s, which the first function timed would otherwise carry).
    run_repeat({**cfg, "epochs": 1, "budget": 0}, H.Random(), *(data[k][0] for k in KEYS), 0)
    for name in cfg["functions"]:
        if heuristic(name, cfg["batch"]) is None:
            result["skipped"][name] = "no baal heuristic of that name"
            continue
        curves, start = [], time.perf_counter()
        for r in range(data["x_pool"].shape[0]):
            t0 = time.perf_counter()
            curves.append(run_repeat(cfg, heuristic(name, cfg["batch"]), *(data[k][r] for k in KEYS), r))
            last = curves[-1][-1]
            print(f"baal {name} repeat {r}: {last['labels']} labels, accuracy {last['accuracy']:.3f}, "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        result["functions"][name] = {"seconds": time.perf_counter() - start, "curves": curves}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
