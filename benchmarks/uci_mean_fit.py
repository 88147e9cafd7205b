"""Why a UCI cell's mean is less accurate: train against test RMSE of Concrete dropout and MC dropout.

The research table (reports/uci/README.md) splits a method's miss into what its mean's accuracy costs and what its
variances cost. This script measures where a worse mean comes from. For each split of one dataset it retrains both
methods as their runs did (same seeds, the hyper-parameters each split chose, read from
``benchmarks/uci/runs/<method>/<dataset>.json``: Concrete's epochs; MC dropout's p and tau) on the whole training
split, and prints per method the RMSE of the MC mean (T passes) on the training rows and on the test rows, and the
mean predicted variance on the training rows. A training RMSE far above the other method's means the mean
underfits (the heteroscedastic head can explain residuals as noise instead of fitting them); a training RMSE below
it with a test RMSE above means it overfits.

    python benchmarks/uci_mean_fit.py --data-dir ../shared/data/uci --dataset concrete [--splits 0-19] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.tasks import Regression
from mcdropout.data.sources import load_uci
from mcdropout.inference.sampling import predict_mc
from mcdropout.study import uci, uci_methods
from mcdropout.study.uci_splits import inputs, norm_of, standardised
from mcdropout.training.train import fit_members_on

RUNS = Path(__file__).parent / "uci" / "runs"


def chosen_of(method: str, dataset: str) -> dict[int, dict]:
    """Each split's recorded result (its choices among them) in the table's run of ``method``."""
    data = json.loads((RUNS / method / f"{dataset}.json").read_text())["methods"][method]
    return {r["split"]: r for r in data["splits"]}


def _rmse(y: np.ndarray, mean: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - mean) ** 2)))


def concrete_fit(ds, splits: list[int], rows, norms, params: Params, chosen: dict, samples: int) -> list[dict]:
    """Concrete dropout retrained per split at its chosen epochs; splits that chose alike train together."""
    out = {}
    for epochs in sorted({chosen[i]["epochs"] for i in splits}):
        these = [s for s, i in enumerate(splits) if chosen[i]["epochs"] == epochs]
        data = [standardised(rows[s][0], rows[s][1], norms[s]) for s in these]
        nets = uci_methods.train_concretes(ds, [splits[s] for s in these], data, params, epochs, progress=False)
        for s, net in zip(these, nets):
            (x, y), (tx, ty) = rows[s][:2], rows[s][2]
            fit = {}
            for part, (a, b) in (("train", (x, y)), ("test", (tx, ty))):
                draws = predict_mc(net, inputs(a, norms[s]), samples, seed=splits[s])
                means, variances = uci_methods.target_units(draws, norms[s])
                fit[part] = _rmse(b, means.mean(0))
                fit[f"{part}_var"] = float(variances.mean())
            out[s] = fit
    return [out[s] for s in range(len(splits))]


def mc_fit(ds, splits: list[int], rows, norms, params: Params, chosen: dict, samples: int) -> list[dict]:
    """MC dropout retrained per split at its chosen p and tau (its weight decay follows from them), all at once."""
    members = []
    for s, i in enumerate(splits):
        grid = uci.grid_members(ds, len(rows[s][0]), seed=i)
        members.append(next(m for m, tau in grid if np.isclose(m.p, chosen[i]["p"]) and
                            np.isclose(tau, chosen[i]["tau"])))
    params = uci.protocol_params(ds, params, uci.default_epochs("mc_dropout", ds))
    data = [{"train": standardised(x, y, n), "val": standardised(x, y, n)} for (x, y, _), n in zip(rows, norms)]
    fit = fit_members_on(Regression(), data, list(range(len(splits))), members, params, progress=False,
                         global_seed=splits[0], validate=False)
    out = []
    for s, i in enumerate(splits):
        (x, y), (tx, ty), norm = rows[s][:2], rows[s][2], norms[s]
        result = {}
        for part, (a, b) in (("train", (x, y)), ("test", (tx, ty))):
            draws = predict_mc(fit.models[s], inputs(a, norm), samples, seed=i)[..., 0].double().numpy() \
                * norm[3] + norm[2]
            result[part] = _rmse(b, draws.mean(0))
            result[f"{part}_var"] = float(1 / chosen[i]["tau"] + draws.var(0).mean())
        out.append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="concrete")
    parser.add_argument("--splits", default="all")
    parser.add_argument("--samples", type=int, default=1000, help="MC passes per prediction")
    args = parser.parse_args()
    ds = load_uci(args.data_dir, args.dataset)
    splits = uci.parse_splits(args.splits, ds.n_splits)
    rows = []
    for i in splits:
        train_idx, test_idx = ds.split(i)
        rows.append((ds.x[train_idx], ds.y[train_idx].astype(np.float64),
                     (ds.x[test_idx], ds.y[test_idx].astype(np.float64))))
    norms = [norm_of(x, y) for x, y, _ in rows]
    params = Params().override(**{"mlflow.enabled": False})
    results = {}
    for method, fit in (("concrete", concrete_fit), ("mc_dropout", mc_fit)):
        start = time.perf_counter()
        results[method] = fit(ds, splits, rows, norms, params, chosen_of(method, args.dataset), args.samples)
        print(f"{method}: retrained {len(splits)} split(s) in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\n{args.dataset}, {len(splits)} split(s), T = {args.samples}: mean ± SE over splits\n")
    columns = (("train RMSE", "train", 1), ("test RMSE", "test", 1), ("predicted variance (train)", "train_var", 1),
               ("squared train error", "train", 2), ("predicted variance (test)", "test_var", 1),
               ("squared test error", "test", 2))
    print("| method | " + " | ".join(c[0] for c in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for method, res in results.items():
        cells = []
        for _, key, power in columns:
            v = np.array([r[key] ** power for r in res])
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            cells.append(f"{v.mean():.2f} ± {se:.2f}")
        print(f"| {method} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
