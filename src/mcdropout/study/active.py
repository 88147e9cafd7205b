"""Pool-based active learning with MC dropout: every (acquisition function, repeat) a member of one batched model.

``mcdropout active --dataset NAME`` (classification) starts each repeat from a small balanced labelled set drawn from
the training split (the pool), then, round after round, trains every member from scratch on its own labelled set
(one batched fit: :func:`~mcdropout.training.train.fit_members_on`), scores the member's unlabelled pool points with
its acquisition function (:mod:`mcdropout.scoring.acquisition`, from T MC-dropout passes) and labels the best
``batch`` of them. Test accuracy and NLL (MC dropout) are recorded after every round. Acquisition never reads a
test label, and a pool label only once its point is acquired.

The result, ``active.json``: ``curves`` per function, a list of ``{"labels", "accuracy", "nll"}`` with each metric
``{"mean", "se", "n"}`` over the repeats, and ``labels_to_reach`` per function and target test error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mcdropout.core.config import Params
from mcdropout.data.datasets import DataError, Dataset, Split, load_dataset
from mcdropout.inference.sampling import predict_mc
from mcdropout.nn.members import Member
from mcdropout.scoring import acquisition as A
from mcdropout.scoring.stats import estimate

FUNCTIONS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    # name -> (probs [T, N, K], batch, seed) -> the chosen pool positions
    "random": lambda p, b, s: A.top(A.random_scores(p.shape[1], s), b),
    "max_entropy": lambda p, b, s: A.top(A.max_entropy(p), b),
    "variation_ratios": lambda p, b, s: A.top(A.variation_ratios(p), b),
    "mean_std": lambda p, b, s: A.top(A.mean_std(p), b),
    "bald": lambda p, b, s: A.top(A.bald(p), b),
    "batchbald": lambda p, b, s: A.batchbald(p, b, seed=s),
}


def initial_set(y: np.ndarray, size: int, n_classes: int, seed: int) -> np.ndarray:
    """``size`` pool positions, as balanced over the classes as the pool allows, seeded."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == k)).tolist() for k in range(n_classes)]
    chosen: list[int] = []
    while len(chosen) < size and any(per_class):
        for rows in per_class:
            if rows and len(chosen) < size:
                chosen.append(rows.pop())
    return np.asarray(sorted(chosen))


def _probs(model, x: np.ndarray, task, samples: int, seed: int) -> np.ndarray:
    with torch.no_grad():
        out = predict_mc(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), samples, seed=seed)
    return task.link(out)  # [T, N, K]


def labels_to_reach(curve: list[dict[str, Any]], error: float) -> int | None:
    """The fewest labels at which the mean test error is at most ``error`` (None: never within the budget)."""
    return next((pt["labels"] for pt in curve if 1 - pt["accuracy"]["mean"] <= error), None)


def run_active(params: Params, dataset: str, functions: list[str], initial: int = 20, batch: int = 10,
               budget: int = 100, repeats: int = 3, samples: int = 20, epochs: int = 100, p: float = 0.5,
               targets: tuple[float, ...] = (0.10, 0.05), progress: bool = True) -> dict[str, Any]:
    """The ``active.json`` object (see the module docstring)."""
    from mcdropout.training.train import fit_members_on

    functions = list(FUNCTIONS) if functions in (["all"], []) else functions
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown:
        raise DataError(f"unknown acquisition function(s) {', '.join(unknown)}; choose from {', '.join(FUNCTIONS)}")
    params = params.for_dataset(dataset).override(**{"train.epochs": epochs, "train.batch_size": 0})
    base = load_dataset(dataset, params.data.dir)
    task = base.task
    if task.fits_noise:
        raise DataError(f"{dataset}: active learning is built for classification so far (regression: to come)")
    data = [base.repeat(r) for r in range(repeats)]
    stats = [_standardiser(d) for d in data]
    pools = [(_scaled(d.splits["train"].x, s), d.splits["train"].y) for d, s in zip(data, stats)]
    vals = [Split(_scaled(d.splits["val"].x, s), d.splits["val"].y) for d, s in zip(data, stats)]
    tests = [Split(_scaled(d.splits["test"].x, s), d.splits["test"].y) for d, s in zip(data, stats)]
    members = [(f, r) for f in functions for r in range(repeats)]
    labelled = {m: initial_set(pools[m[1]][1], initial, len(task.labels), seed=m[1]) for m in members}
    curves: dict[str, list[dict[str, Any]]] = {f: [] for f in functions}
    round_ = 0
    while True:
        fit = fit_members_on(task, [{"train": Split(pools[r][0][labelled[(f, r)]], pools[r][1][labelled[(f, r)]]),
                                     "val": vals[r]} for f, r in members], list(range(len(members))),
                             [Member(p, 1000 * r + round_) for _, r in members], params, progress=False,
                             global_seed=round_, validate=False)
        scores: dict[str, list[tuple[float, float]]] = {f: [] for f in functions}
        for i, (f, r) in enumerate(members):
            pt = _probs(fit.models[i], tests[r].x, task, samples, seed=round_)
            m = task.metrics(task.prediction(pt, None), tests[r].y.astype(np.float64))
            scores[f].append((m["accuracy"], m["nll"]))
        n_labels = len(labelled[members[0]])
        for f in functions:
            acc, nll = zip(*scores[f])
            curves[f].append({"labels": n_labels, "accuracy": estimate(acc), "nll": estimate(nll)})
        if progress:
            print(f"active {dataset}: {n_labels} labels, " + ", ".join(
                f"{f} {curves[f][-1]['accuracy']['mean']:.3f}" for f in functions), flush=True)
        if n_labels + batch > budget:
            break
        for i, (f, r) in enumerate(members):  # acquisition: the unlabelled pool's inputs only
            rest = np.setdiff1d(np.arange(len(pools[r][1])), labelled[(f, r)])
            probs = _probs(fit.models[i], pools[r][0][rest], task, samples, seed=round_)
            picked = rest[FUNCTIONS[f](probs, batch, 1000 * r + round_)]
            labelled[(f, r)] = np.sort(np.concatenate([labelled[(f, r)], picked]))
        round_ += 1
    return {"dataset": dataset, "task": task.name, "functions": functions, "initial": initial, "batch": batch,
            "budget": budget, "repeats": repeats, "mc_samples": samples, "epochs": epochs, "p": p,
            "curves": curves,
            "labels_to_reach": {f: {f"{e:g}": labels_to_reach(curves[f], e) for e in targets} for f in functions}}


def _standardiser(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The pool's input statistics (inputs, not labels: known for the whole pool) where the dataset standardises."""
    x = data.splits["train"].x
    if not data.schema.standardize:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    sd = x.std(0)
    return x.mean(0), np.where(sd > 0, sd, 1.0)


def _scaled(x: np.ndarray, stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return ((x - stats[0]) / stats[1]).astype(np.float32)
