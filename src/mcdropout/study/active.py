"""Pool-based active learning with MC dropout: every (acquisition function, repeat) a member of one batched model.

``mcdropout active --dataset NAME`` starts each repeat from a small labelled set drawn from the training split (the
pool; balanced over the classes for classification), then, round after round, trains every member on its own
labelled set (one batched fit: :func:`~mcdropout.training.train.fit_members_on`; from scratch, or from the last
round's weights with ``warm_start``), scores the member's unlabelled pool points with its acquisition function
(:mod:`mcdropout.scoring.acquisition`, from T MC-dropout passes) and labels the best ``batch`` of them. The test
metrics of MC dropout (accuracy or RMSE, and NLL) are recorded after every round. Acquisition never reads a test
label, and a pool label only once its point is acquired. Regression fits its observation noise on the validation
split (labelled, as the paper's validation set is) and scores with the predictive variance or the Gaussian BALD.

The result, ``active.json`` (:func:`run_active`): ``curves`` per function, a list of ``{"labels", <metric>, "nll"}``
with each metric ``{"mean", "se", "n"}`` over the repeats (``<metric>``: ``accuracy``, or ``rmse`` for regression);
``per_repeat``, the same values repeat by repeat; ``auc``, the area under each repeat's curve divided by the labels
it spans (the curve's mean height); ``paired_auc``, each function against ``random`` repeat by repeat ("better" only
beyond 2 SE, :func:`mcdropout.scoring.stats.paired`); and ``labels_to_reach`` per function and target test error,
the labels each repeat needed, mean ± SE over the repeats that got there (``n`` of ``of``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mcdropout.core.config import ActiveConfig, Params
from mcdropout.core.tasks import Task
from mcdropout.data.datasets import DataError, Dataset, Split, load_dataset
from mcdropout.inference.sampling import predict_mc
from mcdropout.nn.members import Member
from mcdropout.scoring import acquisition as A
from mcdropout.scoring.stats import estimate, paired

# (MC samples of the pool: probabilities [T, N, K] or means [T, N]; noise std (regression); batch; seed) -> positions
Acquire = Callable[[np.ndarray, "float | None", int, int], np.ndarray]
FUNCTIONS: dict[str, dict[str, Acquire]] = {  # per task (Task.name): what each function chooses
    "classification": {
        "random": lambda s, noise, b, seed: A.top(A.random_scores(s.shape[1], seed), b),
        "max_entropy": lambda s, noise, b, seed: A.top(A.max_entropy(s), b),
        "variation_ratios": lambda s, noise, b, seed: A.top(A.variation_ratios(s), b),
        "mean_std": lambda s, noise, b, seed: A.top(A.mean_std(s), b),
        "bald": lambda s, noise, b, seed: A.top(A.bald(s), b),
        "batchbald": lambda s, noise, b, seed: A.batchbald(s, b, seed=seed),
    },
    "regression": {
        "random": lambda s, noise, b, seed: A.top(A.random_scores(s.shape[1], seed), b),
        "max_variance": lambda s, noise, b, seed: A.top(A.max_variance(s, noise), b),
        "bald": lambda s, noise, b, seed: A.top(A.gaussian_bald(s, noise), b),
    },
}


def functions_of(task: Task, names: list[str] | tuple[str, ...] | None) -> list[str]:
    """The acquisition functions asked for (``None`` or ``["all"]``: every one of the task), checked."""
    known = FUNCTIONS[task.name]
    if not names or list(names) == ["all"]:
        return list(known)
    unknown = [f for f in names if f not in known]
    if unknown:
        raise DataError(f"acquisition function(s) {', '.join(unknown)} not for {task.name}; choose from "
                        f"{', '.join(known)}")
    return list(dict.fromkeys(names))


def initial_set(y: np.ndarray, size: int, n_classes: int | None, seed: int) -> np.ndarray:
    """``size`` pool positions, seeded: as balanced over the classes as the pool allows (``n_classes``), or drawn
    at random (``None``: regression)."""
    rng = np.random.default_rng(seed)
    if n_classes is None:
        return np.sort(rng.choice(len(y), size=size, replace=False))
    per_class = [rng.permutation(np.flatnonzero(y == k)).tolist() for k in range(n_classes)]
    chosen: list[int] = []
    while len(chosen) < size and any(per_class):
        for rows in per_class:
            if rows and len(chosen) < size:
                chosen.append(rows.pop())
    return np.asarray(sorted(chosen))


def labels_to_reach(labels: list[int], errors: list[float], target: float) -> int | None:
    """The fewest labels at which the test error is at most ``target`` (None: never within the budget)."""
    return next((n for n, e in zip(labels, errors) if e <= target), None)


def area(labels: list[int], values: list[float]) -> float:
    """The area under a curve divided by the labels it spans: its mean height (one point: that point)."""
    if len(labels) == 1:
        return float(values[0])
    return float(np.trapezoid(values, labels) / (labels[-1] - labels[0]))


class RepeatData:
    """A repeat's data as the members see them: inputs standardised by the whole pool's statistics (inputs are
    known for the whole pool, labels are not) where the dataset standardises, and a regression target by the
    validation split's (labelled)."""

    def __init__(self, data: Dataset, task: Task) -> None:
        pool, val, test = (data.splits[k] for k in ("train", "val", "test"))
        self.mean, self.sd = np.zeros(pool.x.shape[1]), np.ones(pool.x.shape[1])
        self.y_mean, self.y_sd = 0.0, 1.0
        if data.schema.standardize:
            sd = pool.x.std(0)
            self.mean, self.sd = pool.x.mean(0), np.where(sd > 0, sd, 1.0)
            if task.continuous:
                self.y_mean, self.y_sd = float(val.y.mean()), float(val.y.std()) or 1.0
        self.pool_x, self.pool_y = self.x(pool.x), pool.y
        self.val, self.test = Split(self.x(val.x), val.y), Split(self.x(test.x), test.y)

    def x(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.sd).astype(np.float32)

    def train(self, rows: np.ndarray) -> Split:
        return Split(self.pool_x[rows], (self.pool_y[rows] - self.y_mean) / self.y_sd)


def _samples(model, x: np.ndarray, task: Task, scaled: RepeatData, samples: int, seed: int) -> np.ndarray:
    """MC-dropout samples in the data's units: probabilities ``[T, N, K]`` or means ``[T, N]``."""
    with torch.no_grad():
        out = task.link(predict_mc(model, torch.from_numpy(x), samples, seed=seed))
    return out * scaled.y_sd + scaled.y_mean if task.continuous else out


def run_active(params: Params, dataset: str, cfg: ActiveConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """The ``active.json`` object (see the module docstring); ``cfg`` default: ``params.active[dataset]``."""
    from mcdropout.training.train import fit_members_on

    cfg = cfg or params.active.get(dataset) or ActiveConfig()
    params = params.for_dataset(dataset).override(**{"train.epochs": cfg.epochs, "train.batch_size": 0})
    base = load_dataset(dataset, params.data.dir)
    task = base.task
    functions = functions_of(task, cfg.functions)
    pool_size = len(base.splits["train"].y)
    if cfg.budget > pool_size:
        raise DataError(f"{dataset}: the budget ({cfg.budget} labels) is more than the pool ({pool_size} training "
                        "rows)")
    data = [RepeatData(base.repeat(r), task) for r in range(cfg.repeats)]
    members = [(f, r) for f in functions for r in range(cfg.repeats)]
    classes = None if task.continuous else len(task.labels)
    labelled = {m: initial_set(data[m[1]].pool_y, cfg.initial, classes, seed=m[1]) for m in members}
    metric = task.metric
    values: dict[str, dict[str, list[list[float]]]] = {
        f: {metric: [[] for _ in range(cfg.repeats)], "nll": [[] for _ in range(cfg.repeats)]} for f in functions}
    labels: list[int] = []
    start, models, round_ = time.perf_counter(), None, 0
    while True:
        fit = fit_members_on(task, [{"train": data[r].train(labelled[(f, r)]), "val": data[r].val}
                                    for f, r in members], list(range(len(members))),
                             [Member(cfg.p, 1000 * r + round_) for _, r in members], params, progress=False,
                             global_seed=round_, validate=False, start=models)
        models = fit.models if cfg.warm_start else None
        labels.append(len(labelled[members[0]]))
        last = labels[-1] + cfg.batch > cfg.budget
        for i, (f, r) in enumerate(members):
            d = data[r]
            noise = task.fit_noise(_samples(fit.models[i], d.val.x, task, d, cfg.samples, round_), d.val.y) \
                if task.fits_noise else None
            test = _samples(fit.models[i], d.test.x, task, d, cfg.samples, round_)
            scores = task.metrics(task.prediction(test, noise), d.test.y.astype(np.float64))
            values[f][metric][r].append(scores[metric])
            values[f]["nll"][r].append(scores["nll"])
            if not last:  # acquisition: the unlabelled pool's inputs only
                rest = np.setdiff1d(np.arange(len(d.pool_y)), labelled[(f, r)])
                pool = np.empty((0, len(rest))) if f == "random" else (  # random's choice needs no passes
                    _samples(fit.models[i], d.pool_x[rest], task, d, cfg.samples, round_))
                picked = rest[FUNCTIONS[task.name][f](pool, noise, cfg.batch, 1000 * r + round_)]
                labelled[(f, r)] = np.sort(np.concatenate([labelled[(f, r)], picked]))
        if progress:
            print(f"active {dataset}: {labels[-1]} labels, " + ", ".join(
                f"{f} {np.mean([v[-1] for v in values[f][metric]]):.3f}" for f in functions)
                + f" ({metric}, mean of {cfg.repeats}; {time.perf_counter() - start:.0f} s)", flush=True)
        if last:
            break
        round_ += 1
    return {**_result(dataset, task, cfg, functions, labels, values, time.perf_counter() - start),
            "balanced": classes is not None, "resplit": cfg.repeats > 1 and base.schema.resplit}


def _result(dataset: str, task: Task, cfg: ActiveConfig, functions: list[str], labels: list[int],
            values: dict[str, dict[str, list[list[float]]]], seconds: float) -> dict[str, Any]:
    metric = task.metric
    lower_is_better = task.error(1.0) > task.error(0.0)
    curves = {f: [{"labels": n, **{k: estimate([rep[j] for rep in values[f][k]]) for k in (metric, "nll")}}
                  for j, n in enumerate(labels)] for f in functions}
    auc = {f: [area(labels, rep) for rep in values[f][metric]] for f in functions}
    reach = {f: {f"{e:g}": _reach(labels, values[f][metric], task, e) for e in cfg.targets} for f in functions}
    return {"dataset": dataset, "task": task.name, "metric": metric, "functions": functions,
            "initial": cfg.initial, "batch": cfg.batch, "budget": cfg.budget, "repeats": cfg.repeats,
            "mc_samples": cfg.samples, "epochs": cfg.epochs, "p": cfg.p, "warm_start": cfg.warm_start,
            "targets": list(cfg.targets), "seconds": seconds,
            "curves": curves, "per_repeat": values, "auc": {f: estimate(a) for f, a in auc.items()},
            "paired_auc": {f: paired(auc[f], auc["random"], lower_is_better).as_dict()
                           for f in functions if f != "random" and "random" in functions},
            "labels_to_reach": reach}


def _reach(labels: list[int], repeats: list[list[float]], task: Task, target: float) -> dict[str, Any]:
    got = [labels_to_reach(labels, [task.error(v) for v in rep], target) for rep in repeats]
    return {**estimate([float(n) for n in got if n is not None]), "of": len(repeats)}
