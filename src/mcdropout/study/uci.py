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

from mcdropout.core.config import Params
from mcdropout.core.tasks import Regression
from mcdropout.data.sources import UCIDataset, load_uci
from mcdropout.data.tables import DataError
from mcdropout.inference.sampling import predict_mc, predict_standard
from mcdropout.nn.members import Member
from mcdropout.scoring.metrics import logsumexp
from mcdropout.study import uci_methods
from mcdropout.study.uci_splits import Norm, inputs, norm_of, sayer, standardised
from mcdropout.training.train import duration, fit_members_on

LENGTH_SCALE = 1e-2


def grid_members(ds: UCIDataset, n_train: int, seed: int) -> list[tuple[Member, float]]:
    """The 2018 grid: one member per (p, tau), its weight decay from the length scale, p, tau and the row count."""
    out = []
    for p in ds.dropout_rates:
        for tau in ds.taus:
            l2 = LENGTH_SCALE**2 * (1 - p) / (2 * n_train * tau)
            out.append((Member(p, seed, input_p=p, l2=l2), tau))
    return out


def mc_scores(model, x, y, norm: Norm, tau: float, samples: int, seed: int) -> dict[str, float]:
    ym, ys = norm[2], norm[3]
    xt = inputs(x, norm)
    draws = predict_mc(model, xt, samples, seed=seed)[..., 0].double().numpy() * ys + ym  # [T, N]
    ll = logsumexp(-0.5 * tau * (y[None, :] - draws) ** 2, axis=0) - math.log(samples) \
        - 0.5 * math.log(2 * math.pi) + 0.5 * math.log(tau)
    standard = predict_standard(model, xt)[:, 0].double().numpy() * ys + ym
    return {"rmse": float(np.sqrt(np.mean((y - draws.mean(0)) ** 2))), "ll": float(np.mean(ll)),
            "rmse_standard": float(np.sqrt(np.mean((y - standard) ** 2)))}


def protocol_params(ds: UCIDataset, params: Params, epochs: int) -> Params:
    """The protocol's training settings (Adam 1e-3, batch 128, weight decay per member) on top of ``params``."""
    return params.override(**{"model.hidden": [ds.n_hidden], "train.epochs": epochs, "train.batch_size": 128,
                              "train.lr": 1e-3, "train.weight_decay": 0.0})


def run_splits(ds: UCIDataset, chosen: list[int], epochs: int, samples: int, params: Params,
               val_samples: int = 1000, progress: bool = False) -> list[dict]:
    """The protocol on the splits ``chosen``, all at once; a split's ``seconds`` is its share of the time."""
    start = time.perf_counter()
    params = protocol_params(ds, params, epochs)
    rows = []  # per split: train rows x, y (float64), cut, test indices
    for i in chosen:
        train_idx, test_idx = ds.split(i)
        rows.append((ds.x[train_idx], ds.y[train_idx].astype(np.float64), int(round(0.8 * len(train_idx))),
                     test_idx))
    grids = [grid_members(ds, cut, seed=i) for i, (_, _, cut, _) in zip(chosen, rows)]
    norms = [norm_of(x[:cut], y[:cut]) for x, y, cut, _ in rows]
    data = [{"train": standardised(x[:cut], y[:cut], n), "val": standardised(x[cut:], y[cut:], n)}
            for (x, y, cut, _), n in zip(rows, norms)]
    say = sayer(progress, ds.name, start)
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
        best.append(grid_members(ds, len(x), seed=i)[int(np.argmax(val))])
        if time.perf_counter() - last > 30 and s + 1 < len(chosen):
            last = time.perf_counter()
            say(f"chosen for {s + 1} of {len(chosen)} splits")
    norms = [norm_of(x, y) for x, y, _, _ in rows]
    data = [{"train": standardised(x, y, n), "val": standardised(x[cut:], y[cut:], n)}  # unused: validate=False
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


METHODS = ("mc_dropout", "deep_ensemble", "concrete")
SUMMARY_KEYS = {  # per method: the per-split values whose mean and standard error a result holds
    "mc_dropout": ("rmse", "ll", "rmse_standard"),
    "deep_ensemble": ("rmse", "ll", "ll_mixture", "aleatoric_var", "epistemic_var"),
    "concrete": ("rmse", "ll", "p", "aleatoric_var", "epistemic_var"),
}


def default_epochs(method: str, ds: UCIDataset) -> int:
    """The 2018 protocol's 100 x ``n_epochs.txt`` for dropout; the ensembles' paper's ``n_epochs.txt`` (40)."""
    return ds.n_epochs if method == "deep_ensemble" else ds.n_epochs * 100


def grid_of(method: str, ds: UCIDataset, epochs: int) -> dict[str, list[float]]:
    """The hyper-parameters a method chooses by validation, and their grids (Concrete: its epochs; p is learned)."""
    if method == "mc_dropout":
        return {"p": list(ds.dropout_rates), "tau": list(ds.taus)}
    if method == "deep_ensemble":
        grid = uci_methods.ensemble_grid(epochs)
        return {"lr": sorted({lr for lr, _ in grid}), "epochs": sorted({e for _, e in grid})}
    return {"epochs": uci_methods.concrete_grid(epochs)}  # p is learned


def _runner(method: str, adversarial: bool) -> Callable[..., list[dict[str, Any]]]:
    if method == "deep_ensemble":
        return lambda *args, **kw: uci_methods.run_ensemble_splits(*args, **kw, adversarial=adversarial)
    return uci_methods.run_concrete_splits if method == "concrete" else run_splits


def run_benchmark(data_dir: str | Path, name: str, splits: str, epochs: int | None, samples: int,
                  params: Params, progress: bool = True,
                  on_split: Callable[[dict[str, Any]], None] | None = None,
                  per_model: int | None = None, method: str = "mc_dropout",
                  adversarial: bool = False) -> dict[str, Any]:
    """One method (:data:`METHODS`) on the requested splits of one dataset. Every requested split's files and
    indices are checked before any training. The splits train ``per_model`` at a time (default: all at once, the
    fastest); ``on_split`` gets the result so far (summarised) after each such batch, to save it: a failure in the
    last batch keeps the others. ``adversarial``: the deep ensembles' adversarial training."""
    if method not in METHODS:
        raise DataError(f"--method must be one of {', '.join(METHODS)} or all, got {method!r}")
    ds = load_uci(data_dir, name)
    chosen = parse_splits(splits, ds.n_splits)
    for i in chosen:
        ds.split(i)  # a missing file or a bad index is named now, not an hour into the run
    epochs = epochs or default_epochs(method, ds)
    per_model = per_model or len(chosen)
    run = _runner(method, adversarial)
    head = {"dataset": name, "method": method, "epochs": epochs, "mc_samples": samples}
    if method == "deep_ensemble":
        head["adversarial"] = adversarial
    head["grid"] = grid_of(method, ds, epochs)
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    for first in range(0, len(chosen), per_model):
        batch = chosen[first:first + per_model]
        results.extend(run(ds, batch, epochs, samples, params, progress=progress))
        if progress:
            for r in results[-len(batch):]:
                chosen_text = ", ".join(f"{k}={r[k]:g}" for k in ("p", "tau", "lr", "epochs") if k in r)
                print(f"{name} {method} split {r['split']}: rmse {r['rmse']:.3f} ll {r['ll']:.3f} ({chosen_text})",
                      flush=True)
        if on_split is not None:
            on_split(summarise({**head, "splits": list(results), "peak_memory_mb": peak_memory_mb()}))
    if progress:
        print(f"{name} {method}: {len(results)} split(s) in {duration(time.perf_counter() - start)}, "
              f"peak memory {peak_memory_mb():.0f} MB", flush=True)
    return summarise({**head, "splits": results, "peak_memory_mb": peak_memory_mb()})


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Add ``mean`` and ``stderr`` (std over splits / sqrt(n), as in the paper's tables) of the method's
    :data:`SUMMARY_KEYS`."""
    results = result["splits"]
    keys = SUMMARY_KEYS[result.get("method", "mc_dropout")]
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    stderr = {k: float(np.std([r[k] for r in results]) / math.sqrt(len(results))) for k in keys}
    return {**result, "mean": mean, "stderr": stderr}


def protocol(result: dict[str, Any]) -> tuple:
    """What two runs must share for their splits to be merged."""
    return (result["dataset"], result.get("method", "mc_dropout"), result["epochs"], result["mc_samples"],
            result.get("adversarial", False))


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Splits of two runs of one dataset and method under the same protocol (the new run wins a split run twice)."""
    if protocol(old) != protocol(new):
        raise DataError(f"cannot merge: {old['dataset']} ran with {old['epochs']} epochs and T = "
                        f"{old['mc_samples']}, the new run with {new['epochs']} and {new['mc_samples']}")
    splits = {r["split"]: r for r in old["splits"]} | {r["split"]: r for r in new["splits"]}
    return summarise({**new, "splits": [splits[i] for i in sorted(splits)]})


def as_file(data: Any) -> dict[str, Any]:
    """The contents of a ``<dataset>.json`` as ``{"dataset", "methods": {method: result}}``; a file written before
    the methods (one MC dropout result) is read as its ``mc_dropout`` entry. A ``DataError`` if it is neither."""
    try:
        if "methods" not in data:
            data = {"dataset": data["dataset"], "methods": {"mc_dropout": {**data, "method": "mc_dropout"}}}
        for method, result in data["methods"].items():
            if method not in METHODS or result["dataset"] != data["dataset"]:
                raise ValueError(method)
            _ = protocol(result), list(result["splits"]), result["mean"]["ll"]
    except (ValueError, KeyError, TypeError):
        raise DataError("not a result of `mcdropout benchmark uci`") from None
    return data


def with_result(file: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """``file`` (:func:`as_file`'s form, or None) with ``result`` as its method's entry; other methods kept."""
    methods = dict(file["methods"]) if file else {}
    methods[result["method"]] = result
    return {"dataset": result["dataset"], "methods": {m: methods[m] for m in METHODS if m in methods}}


def read_results(folder: str | Path) -> list[dict[str, Any]]:
    """Every ``<dataset>.json`` under ``folder`` (subfolders too), the methods of one dataset's files put together
    (:func:`as_file` form, sorted by dataset). A ``DataError`` names a file that is not a result, or a method of a
    dataset found in two files."""
    import json

    files: dict[str, dict[str, Any]] = {}
    where: dict[tuple[str, str], Path] = {}
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            data = as_file(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError):
            raise DataError(f"{path}: not a result of `mcdropout benchmark uci`; run it again or move it away") \
                from None
        for method, result in data["methods"].items():
            key = (data["dataset"], method)
            if key in where:
                raise DataError(f"{data['dataset']} {method} is in both {where[key]} and {path}; keep one")
            where[key] = path
            files[data["dataset"]] = with_result(files.get(data["dataset"]), result)
    return [files[d] for d in sorted(files)]
