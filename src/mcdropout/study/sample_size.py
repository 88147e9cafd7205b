"""How many MC passes the study needs: the test metrics of the selected model against T, from 1 to 1,000.

For T on a log grid, each metric of the task's summary (regression: RMSE, NLL, 95% coverage, CRPS;
classification: accuracy, NLL, Brier, ECE) is computed from the first T of 1,000 passes, in ``REPEATS`` runs with
other MC seeds (the band: their spread). A study runs once, so what matters is how far *one* run at T lands from the
T = 1,000 value: its root-mean-square deviation, sqrt(bias^2 + sd^2), the bias being the mean over runs minus the
T = 1,000 value and sd the spread over runs. A metric has had enough passes at the smallest T of the grid from
which on that deviation stays within its *seed noise*: the spread of the same metric over the sweep's training
seeds at the selected p (what any number of the study already carries), and for a metric that is a fraction of
the test points (accuracy, coverage) at least one point's step, 1 / N. Where no T below 1,000 gets there (a metric
that MC sampling alone moves about as much as training does), ``enough`` is None. With one training seed, twice
the MC spread at T = 1,000 stands in for the seeds' spread, and the JSON says so. Regression's observation noise
is refitted on val for every T, as the study fits it for its own T.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task
from mcdropout.data.datasets import DataError, load_dataset
from mcdropout.inference.sampling import predict_mc
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study import results

GRID = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
REPEATS = 10  # MC seeds: the spread of one run is estimated from them (5 left it +-35%)


def metrics_against_t(model: torch.nn.Module, task: Task, val, test, seeds: list[int],
                      grid: tuple[int, ...] = GRID) -> dict[str, np.ndarray]:
    """``{metric: [repeats, len(grid)]}``: the test metrics from the first T passes of each seed's run."""
    out: dict[str, list[list[float]]] = {k: [] for k in task.summary_keys}
    y_val, y_test = val.y.astype(np.float64), test.y.astype(np.float64)
    for seed in seeds:
        passes = task.link(predict_mc(model, torch.from_numpy(np.concatenate([val.x, test.x]).astype(np.float32)),
                                      max(grid), seed=seed))
        on_val, on_test = passes[:, :len(val.x)], passes[:, len(val.x):]
        rows = {k: [] for k in task.summary_keys}
        for t in grid:
            noise = task.fit_noise(on_val[:t], y_val) if task.fits_noise else None
            values = task.metrics(task.prediction(on_test[:t], noise), y_test)
            for k in task.summary_keys:
                rows[k].append(values[k])
        for k in task.summary_keys:
            out[k].append(rows[k])
    return {k: np.asarray(v) for k, v in out.items()}


def single_run_error(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """How far one run at each T lands from the last (T = 1,000) value, root mean square: sqrt(bias^2 + sd^2)."""
    return np.hypot(mean - mean[-1], sd)


def enough(mean: np.ndarray, sd: np.ndarray, noise: float, grid: tuple[int, ...] = GRID) -> int | None:
    """The smallest T of ``grid`` from which one run's error (:func:`single_run_error`) stays within ``noise``;
    None where no T below the last (the reference itself) gets there."""
    inside = single_run_error(mean, sd) <= noise
    first = len(grid) - 1
    while first > 0 and inside[first - 1]:
        first -= 1
    return grid[first] if first < len(grid) - 1 and inside[-1] else None


def seed_noise(metrics: dict[str, Any], key: str) -> float | None:
    """The spread (sd, over training seeds) of the MC test metric ``key`` at the selected p; None with one seed."""
    values = [r["mc"]["test"][key] for r in metrics["runs"] if r["p"] == metrics["best_p"]]
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def run_sample_size(params: Params, dataset: str, repeats: int = REPEATS) -> dict[str, Any]:
    """The ``samples.json`` object of one dataset: the selected p's member of seed ``train.seed`` (as trust uses)."""
    params = params.for_dataset(dataset)
    paths = Paths.of(params)
    metrics_path = paths.metrics_json(dataset)
    metrics = results.read("metrics.json", metrics_path, dataset)
    seeds = sorted({r["seed"] for r in metrics["runs"]})
    seed = params.train.seed if params.train.seed in seeds else seeds[0]
    checkpoint = paths.sweep_dir(dataset) / f"{Member(metrics['best_p'], seed).name}.pt"
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: missing; run `mcdropout sweep --dataset {dataset}` first")
    model, meta = load_checkpoint(checkpoint)
    data = load_dataset(dataset, params.data.dir, params.model.head).repeat(meta.split)  # the split it was trained on
    mc_seeds = [int(s) for s in np.random.SeedSequence([params.mc.seed, 1000]).generate_state(repeats)]
    table = metrics_against_t(model, data.task, data.splits["val"], data.splits["test"], mc_seeds)
    out: dict[str, Any] = {"dataset": dataset, "task": data.task.name, "p": metrics["best_p"], "seed": seed,
                           "repeats": repeats, "grid": list(GRID), "default_samples": params.mc.samples,
                           "metrics": {}}
    n_test = len(data.splits["test"].y)
    for key, values in table.items():
        mean, sd = values.mean(0), values.std(0, ddof=1) if repeats > 1 else np.zeros(len(GRID))
        noise, rule = seed_noise(metrics, key), "sd over training seeds"
        if noise is None:
            noise, rule = 2 * float(sd[-1]), "twice the MC spread at T = 1000 (one training seed)"
        if key in data.task.count_metrics and noise < 1 / n_test:
            noise, rule = 1 / n_test, f"one test point in {n_test}, more than the {rule}, {noise:.4f}"
        out["metrics"][key] = {"mean": mean.tolist(), "sd": sd.tolist(),
                               "single_run_error": single_run_error(mean, sd).tolist(), "noise": noise,
                               "noise_rule": rule, "enough": enough(mean, sd, noise)}
    needs = [m["enough"] for m in out["metrics"].values()]
    out["needed"] = None if None in needs else max(needs)  # None: some metric is not enough even at T = 1,000
    out["default_enough"] = out["needed"] is not None and params.mc.samples >= out["needed"]
    return out
