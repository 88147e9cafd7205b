"""The UCI regression benchmark of Gal & Ghahramani (2016), 2018 grid-search protocol.

Per split: standardise inputs and target with the training split's statistics (std 0
becomes 1); one hidden layer of ``n_hidden`` ReLU units with dropout on the input and
the hidden layer; squared error plus ``l^2 (1 - p) / (2 N tau)`` times the squared
weights (l = 1e-2), Adam, mini-batches of 128. The grid ``dropout_rates x tau_values``
trains on the first 80% of the training indices; the member with the best validation
log-likelihood (last 20%, T = 1000 MC passes) is retrained on the whole training split.

All requested splits train together: their grids as one batched model (each member on
its own split's rows, see :func:`~mcdropout.training.train.fit_members_on`), then the chosen
members of all splits as a second one. The selection is per split, as is the
standardisation, so a split's result follows the protocol above. Test: T MC passes,
RMSE of the MC mean and the log-likelihood

    logsumexp_t(-tau/2 (y - yhat_t)^2) - log T - 1/2 log 2 pi + 1/2 log tau

in original units (averaged over points), plus the dropout-off RMSE.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mcdropout.core.config import Params
from mcdropout.core.tasks import Regression
from mcdropout.data.datasets import Split
from mcdropout.data.sources import UCIDataset, load_uci
from mcdropout.data.tables import DataError
from mcdropout.inference.sampling import predict_mc, predict_standard
from mcdropout.nn.members import Member
from mcdropout.scoring.metrics import logsumexp
from mcdropout.training.train import duration, fit_members_on

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


Norm = tuple[np.ndarray, np.ndarray, float, float]


def _norm(x: np.ndarray, y: np.ndarray) -> Norm:
    """Training statistics of the inputs and the target (a std of 0 becomes 1)."""
    xm, xs = _standardiser(x)
    return xm, xs, float(y.mean()), float(y.std() or 1.0)


def _standardised(x: np.ndarray, y: np.ndarray, norm: Norm) -> Split:
    xm, xs, ym, ys = norm
    return Split(((x - xm) / xs).astype(np.float32), ((y - ym) / ys).astype(np.float32))


def mc_scores(model, x, y, norm, tau: float, samples: int, seed: int) -> dict[str, float]:
    xm, xs, ym, ys = norm
    xt = torch.from_numpy(((x - xm) / xs).astype(np.float32))
    draws = predict_mc(model, xt, samples, seed=seed)[..., 0].double().numpy() * ys + ym  # [T, N]
    ll = logsumexp(-0.5 * tau * (y[None, :] - draws) ** 2, axis=0) - math.log(samples) \
        - 0.5 * math.log(2 * math.pi) + 0.5 * math.log(tau)
    standard = predict_standard(model, xt)[:, 0].double().numpy() * ys + ym
    return {"rmse": float(np.sqrt(np.mean((y - draws.mean(0)) ** 2))), "ll": float(np.mean(ll)),
            "rmse_standard": float(np.sqrt(np.mean((y - standard) ** 2)))}


def run_splits(ds: UCIDataset, chosen: list[int], epochs: int, samples: int, params: Params,
               val_samples: int = 1000, progress: bool = False) -> list[dict]:
    """The protocol on the splits ``chosen``, all at once; a split's ``seconds`` is its share of the time."""
    start = time.perf_counter()
    params = params.override(**{"model.hidden": [ds.n_hidden], "train.epochs": epochs, "train.batch_size": 128,
                                "train.lr": 1e-3, "train.weight_decay": 0.0})
    rows = []  # per split: train rows x, y (float64), cut, test indices
    for i in chosen:
        train_idx, test_idx = ds.split(i)
        rows.append((ds.x[train_idx], ds.y[train_idx].astype(np.float64), int(round(0.8 * len(train_idx))),
                     test_idx))
    grids = [_members(ds, cut, seed=i) for i, (_, _, cut, _) in zip(chosen, rows)]
    norms = [_norm(x[:cut], y[:cut]) for x, y, cut, _ in rows]
    data = [{"train": _standardised(x[:cut], y[:cut], n), "val": _standardised(x[cut:], y[cut:], n)}
            for (x, y, cut, _), n in zip(rows, norms)]
    say = _say(progress, ds.name, start)
    size = len(grids[0])
    say(f"training the grids of {len(chosen)} split(s) ({len(chosen)} x {size} members, {epochs} epochs)")
    fit = fit_members_on(Regression(), data, [s for s, g in enumerate(grids) for _ in g],
                         [m for g in grids for m, _ in g], params, progress=progress, global_seed=chosen[0],
                         label=f"{ds.name} grids ({len(chosen)} x {size} members)", validate=False)
    say(f"choosing each split's member by validation log-likelihood (T = {val_samples})")
    best, last = [], time.perf_counter()
    for s, (i, (x, y, cut, _)) in enumerate(zip(chosen, rows)):
        val = [mc_scores(fit.models[s * size + j], x[cut:], y[cut:], norms[s], tau, val_samples, seed=i)["ll"]
               for j, (_, tau) in enumerate(grids[s])]
        best.append(_members(ds, len(x), seed=i)[int(np.argmax(val))])
        if time.perf_counter() - last > 30 and s + 1 < len(chosen):
            last = time.perf_counter()
            say(f"chosen for {s + 1} of {len(chosen)} splits")
    norms = [_norm(x, y) for x, y, _, _ in rows]
    data = [{"train": _standardised(x, y, n), "val": _standardised(x[cut:], y[cut:], n)}  # unused: validate=False
            for (x, y, cut, _), n in zip(rows, norms)]
    say(f"retraining the {len(chosen)} chosen member(s) on their whole training splits")
    final = fit_members_on(Regression(), data, list(range(len(chosen))), [m for m, _ in best], params,
                           progress=progress, global_seed=chosen[0], label=f"{ds.name} retrain ({len(chosen)})",
                           validate=False)
    say(f"testing (T = {samples})")
    out = []
    for s, (i, (member, tau), (_, _, _, test_idx)) in enumerate(zip(chosen, best, rows)):
        scores = mc_scores(final.models[s], ds.x[test_idx], ds.y[test_idx].astype(np.float64), norms[s], tau,
                           samples, seed=i)
        out.append({"split": i, **scores, "p": member.p, "tau": tau})
    seconds = time.perf_counter() - start
    return [{**r, "seconds": seconds / len(out)} for r in out]


def run_split(ds: UCIDataset, i: int, epochs: int, samples: int, params: Params, val_samples: int = 1000) -> dict:
    """One split alone (:func:`run_splits` of one)."""
    return run_splits(ds, [i], epochs, samples, params, val_samples)[0]


def _say(progress: bool, name: str, start: float) -> Callable[[str], None]:
    def say(text: str) -> None:
        if progress:
            print(f"{name}: {text} ({duration(time.perf_counter() - start)} elapsed)", file=sys.stderr, flush=True)
    return say


def peak_memory_mb() -> float:
    """This process's peak resident memory (``ru_maxrss``: kB on Linux, bytes on macOS); NaN where unknown."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


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
    repeated = sorted({s for s in chosen if chosen.count(s) > 1})
    if repeated:  # a split counted twice would shrink the standard error over a duplicate
        raise DataError(f"--splits: split(s) {', '.join(map(str, repeated))} given more than once")
    return chosen


def run_benchmark(data_dir: str | Path, name: str, splits: str, epochs: int | None, samples: int,
                  params: Params, progress: bool = True,
                  on_split: Callable[[dict[str, Any]], None] | None = None,
                  per_model: int | None = None) -> dict[str, Any]:
    """Every requested split's files and indices are checked before any training. The splits train
    ``per_model`` at a time (default: all at once, the fastest); ``on_split`` gets the result so far
    (summarised) after each such batch, to save it: a failure in the last batch keeps the others."""
    ds = load_uci(data_dir, name)
    chosen = parse_splits(splits, ds.n_splits)
    for i in chosen:
        ds.split(i)  # a missing file or a bad index is named now, not an hour into the run
    epochs = epochs or ds.n_epochs * 100
    per_model = per_model or len(chosen)
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    for first in range(0, len(chosen), per_model):
        batch = chosen[first:first + per_model]
        results.extend(run_splits(ds, batch, epochs, samples, params, progress=progress))
        if progress:
            for r in results[-len(batch):]:
                print(f"{name} split {r['split']}: rmse {r['rmse']:.3f} ll {r['ll']:.3f} (p={r['p']:g}, "
                      f"tau={r['tau']:g})", flush=True)
        if on_split is not None:
            on_split(summarise({"dataset": name, "epochs": epochs, "mc_samples": samples, "splits": list(results)}))
    if progress:
        print(f"{name}: {len(results)} split(s) in {duration(time.perf_counter() - start)}, "
              f"peak memory {peak_memory_mb():.0f} MB", flush=True)
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
