"""The UCI regression benchmark of Gal & Ghahramani (2016), 2018 grid-search protocol.

Per split: standardise inputs and target with the training split's statistics (std 0
becomes 1); one hidden layer of ``n_hidden`` ReLU units with dropout on the input and
the hidden layer; squared error plus ``l^2 (1 - p) / (2 N tau)`` times the squared
weights (l = 1e-2), Adam. The grid ``dropout_rates x tau_values`` trains as one batched
model on the first 80% of the training indices; the member with the best validation
log-likelihood (last 20%) is retrained on the whole training split. Test: T MC passes,
RMSE of the MC mean and the log-likelihood

    logsumexp_t(-tau/2 (y - yhat_t)^2) - log T - 1/2 log 2 pi + 1/2 log tau

in original units (averaged over points), plus the dropout-off RMSE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from mcdropout.config import Params
from mcdropout.data import Split
from mcdropout.inference import predict_mc, predict_standard
from mcdropout.members import Member
from mcdropout.sources import UCIDataset, load_uci
from mcdropout.tables import DataError
from mcdropout.tasks import Regression
from mcdropout.train import fit_members

LENGTH_SCALE = 1e-2
PUBLISHED = {  # 2018 grid-search table: (rmse, rmse stderr, ll, ll stderr)
    "bostonHousing": (2.90, 0.18, -2.40, 0.04),
    "concrete": (4.82, 0.16, -2.93, 0.02),
    "energy": (0.54, 0.01, -1.21, 0.01),
    "yacht": (0.67, 0.05, -1.25, 0.01),
}
def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = x.mean(0), x.std(0)
    return mean, np.where(std == 0, 1.0, std)


def _members(ds: UCIDataset, n_train: int, seed: int) -> list[tuple[Member, float]]:
    out = []
    for p in ds.dropout_rates:
        for tau in ds.taus:
            l2 = LENGTH_SCALE**2 * (1 - p) / (2 * n_train * tau)
            out.append((Member(p, seed, input_p=p, l2=l2), tau))
    return out


def _fit(ds: UCIDataset, x: np.ndarray, y: np.ndarray, members: list[Member], params: Params):
    xm, xs = _standardiser(x)
    ym, ys = float(y.mean()), float(y.std() or 1.0)
    xn, yn = ((x - xm) / xs).astype(np.float32), ((y - ym) / ys).astype(np.float32)
    split = Split(xn, yn)
    fit = fit_members(Regression(), {"train": split, "val": split}, members, params, progress=False,
                      global_seed=members[0].seed)
    return fit, (xm, xs, ym, ys)


def mc_scores(model, x, y, norm, tau: float, samples: int, seed: int) -> dict[str, float]:
    xm, xs, ym, ys = norm
    xt = torch.from_numpy(((x - xm) / xs).astype(np.float32))
    draws = predict_mc(model, xt, samples, seed=seed)[..., 0].double().numpy() * ys + ym  # [T, N]
    ll = logsumexp(-0.5 * tau * (y[None, :] - draws) ** 2, axis=0) - math.log(samples) \
        - 0.5 * math.log(2 * math.pi) + 0.5 * math.log(tau)
    standard = predict_standard(model, xt)[:, 0].double().numpy() * ys + ym
    return {"rmse": float(np.sqrt(np.mean((y - draws.mean(0)) ** 2))), "ll": float(np.mean(ll)),
            "rmse_standard": float(np.sqrt(np.mean((y - standard) ** 2)))}


def run_split(ds: UCIDataset, i: int, epochs: int, samples: int, params: Params, val_samples: int = 1000) -> dict:
    start = time.perf_counter()
    train_idx, test_idx = ds.split(i)
    x, y = ds.x[train_idx], ds.y[train_idx].astype(np.float64)
    cut = int(round(0.8 * len(train_idx)))
    params = params.override(**{"model.hidden": [ds.n_hidden], "train.epochs": epochs, "train.batch_size": 128,
                                "train.lr": 1e-3, "train.weight_decay": 0.0})
    grid = _members(ds, cut, seed=i)
    fit, norm = _fit(ds, x[:cut], y[:cut], [m for m, _ in grid], params)
    val = [mc_scores(model, x[cut:], y[cut:], norm, tau, val_samples, seed=i)["ll"]
           for model, (_, tau) in zip(fit.models, grid)]
    best = int(np.argmax(val))
    (member, tau) = _members(ds, len(train_idx), seed=i)[best]
    final, norm = _fit(ds, x, y, [member], params)
    scores = mc_scores(final.models[0], ds.x[test_idx], ds.y[test_idx].astype(np.float64), norm, tau, samples,
                       seed=i)
    return {"split": i, **scores, "p": member.p, "tau": tau, "seconds": time.perf_counter() - start}


def parse_splits(text: str, n_splits: int) -> list[int]:
    if text == "all":
        return list(range(n_splits))
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            chosen = list(range(lo, hi + 1))
        else:
            chosen = [int(v) for v in text.split(",")]
    except ValueError:
        raise DataError(f"--splits must be 'all', 'A-B' or 'A,B,...', got {text!r}") from None
    bad = [s for s in chosen if not 0 <= s < n_splits]
    if bad or not chosen:
        raise DataError(f"--splits: split(s) {bad or text} outside 0-{n_splits - 1}")
    return chosen


def run_benchmark(data_dir: str | Path, name: str, splits: str, epochs: int | None, samples: int,
                  params: Params, progress: bool = True,
                  on_split: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Every requested split's files and indices are checked before any training; ``on_split`` gets the
    result so far (summarised) after each split, to save it: a failure at split 19 keeps splits 0-18."""
    ds = load_uci(data_dir, name)
    chosen = parse_splits(splits, ds.n_splits)
    for i in chosen:
        ds.split(i)  # a missing file or a bad index is named now, not an hour into the run
    epochs = epochs or ds.n_epochs * 100
    results: list[dict[str, Any]] = []
    for i in chosen:
        results.append(run_split(ds, i, epochs, samples, params))
        if progress:
            r = results[-1]
            print(f"{name} split {i}: rmse {r['rmse']:.3f} ll {r['ll']:.3f} (p={r['p']:g}, tau={r['tau']:g}, "
                  f"{r['seconds']:.0f}s)", flush=True)
        if on_split is not None:
            on_split(summarise({"dataset": name, "epochs": epochs, "mc_samples": samples, "splits": list(results)}))
    return summarise({"dataset": name, "epochs": epochs, "mc_samples": samples, "splits": results})


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Add ``mean`` and ``stderr`` (std over splits / sqrt(n), as in the paper's tables)."""
    results = result["splits"]
    keys = ("rmse", "ll", "rmse_standard")
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    stderr = {k: float(np.std([r[k] for r in results]) / math.sqrt(len(results))) for k in keys}
    return {**result, "mean": mean, "stderr": stderr}


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Splits of two runs of one dataset under the same protocol (the new run wins a split run twice)."""
    if (old["dataset"], old["epochs"], old["mc_samples"]) != (new["dataset"], new["epochs"], new["mc_samples"]):
        raise DataError(f"cannot merge: {old['dataset']} ran with {old['epochs']} epochs and T = "
                        f"{old['mc_samples']}, the new run with {new['epochs']} and {new['mc_samples']}")
    splits = {r["split"]: r for r in old["splits"]} | {r["split"]: r for r in new["splits"]}
    return summarise({**new, "splits": [splits[i] for i in sorted(splits)]})


def summary_table(results: list[dict[str, Any]], n_splits: dict[str, int] | None = None) -> str:
    """All datasets beside the published 2018 figures (the table of ``reports/uci/README.md``)."""
    lines = ["| dataset | splits | RMSE (MC) | test LL | RMSE (dropout off) | published RMSE | published LL | "
             "within 2 SE (LL / RMSE) | CPU time (sum over splits) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: r["dataset"]):
        name, m, s = r["dataset"], r["mean"], r["stderr"]
        pub = PUBLISHED.get(name)
        total = (n_splits or {}).get(name, 20)

        def verdict(ours: float, se: float, theirs: float, their_se: float, higher_better: bool) -> str:
            if (ours > theirs) == higher_better and ours != theirs:
                return "better"
            return "yes" if abs(ours - theirs) <= 2 * math.hypot(se, their_se) else "no"

        if pub:
            cells = [f"{pub[0]:.2f} ± {pub[1]:.2f}", f"{pub[2]:.2f} ± {pub[3]:.2f}",
                     f"{verdict(m['ll'], s['ll'], pub[2], pub[3], True)} / "
                     f"{verdict(m['rmse'], s['rmse'], pub[0], pub[1], False)}"]
        else:
            cells = ["", "", ""]
        minutes = sum(x["seconds"] for x in r["splits"]) / 60
        lines.append(f"| {name} | {len(r['splits'])} of {total} | {m['rmse']:.2f} ± {s['rmse']:.2f} | "
                     f"{m['ll']:.2f} ± {s['ll']:.2f} | {m['rmse_standard']:.2f} ± {s['rmse_standard']:.2f} | "
                     + " | ".join(cells) + f" | {minutes:.0f} min |")
    return "\n".join(lines) + "\n"


def markdown_table(result: dict[str, Any]) -> str:
    name, m, s = result["dataset"], result["mean"], result["stderr"]
    pub = PUBLISHED.get(name)
    lines = [f"# UCI {name}", "",
             f"{len(result['splits'])} split(s), {result['epochs']} epochs, T = {result['mc_samples']}.", "",
             "| | RMSE (MC) | test LL | RMSE (dropout off) |", "|---|---|---|---|",
             f"| mcdropout | {m['rmse']:.2f} ± {s['rmse']:.2f} | {m['ll']:.2f} ± {s['ll']:.2f} | "
             f"{m['rmse_standard']:.2f} ± {s['rmse_standard']:.2f} |"]
    if pub:
        lines.append(f"| Gal & Ghahramani 2018 grid search | {pub[0]:.2f} ± {pub[1]:.2f} | "
                     f"{pub[2]:.2f} ± {pub[3]:.2f} | |")
    return "\n".join(lines) + "\n"
