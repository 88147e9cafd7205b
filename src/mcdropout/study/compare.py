"""Dropout against the other usual remedies for overfitting, and a learned dropout rate.

``mcdropout compare --task T`` trains, as one batched model next to the sweep and with
the same data, seeds, epochs and optimiser:

* a Concrete dropout member per seed (each hidden dropout layer learns its p);
* the MLP without dropout under each L2 weight decay of ``compare.l2``, per seed;
* the MLP without dropout with early stopping on the validation loss, per seed;
* dropout at ``compare.dropout_l2_p`` plus each weight decay of the grid, per seed;
* and, saved apart in ``models/<task>/ensemble/``, the deep ensemble that ``mcdropout trust``
  sets beside MC dropout (``trust.ensemble_size`` networks without dropout): one fit for both
  saves a process and a training per data set.

Every comparison member is evaluated both ways (dropout off, MC) and saved under
``models/<task>/compare/``; ``reports/<task>/compare.json`` holds the results. The best
weight decay is the one with the lowest seed-mean validation loss, the rule that picks
the sweep's ``best_p``. The report sets the best of each against the best dropout rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task, get_task
from mcdropout.nn.members import SELECTION, Member, best_by_seed_mean
from mcdropout.study.publishing import NOWHERE, Publisher

if TYPE_CHECKING:  # training (Lightning) is imported only by the functions that train
    from mcdropout.study.experiment import MemberOutcome
    from mcdropout.training.train import FitResult


@dataclass
class CompareResult:
    fit: FitResult
    outcomes: list[MemberOutcome]
    folder: Path
    metrics: dict[str, Any]
    ensemble: FitResult  # the deep ensemble, trained in the same fit
    ensemble_folder: Path


def compare_members(params: Params) -> list[Member]:
    seeds = params.sweep.seeds
    members = [Member(params.model.concrete.init_p, s, dropout="concrete") for s in seeds]
    members += [Member(0.0, s, l2=value) for value in params.compare.l2 for s in seeds]
    members += [Member(0.0, s, early_stopping=True) for s in seeds]
    p = params.compare.dropout_l2_p
    if p is not None:
        members += [Member(p, s, l2=value) for value in params.compare.l2 for s in seeds]
    return members


def ensemble_members(params: Params) -> list[Member]:
    """The deep ensemble of ``mcdropout trust``: ``trust.ensemble_size`` networks without dropout, seeds 0..M-1."""
    return [Member(0.0, s) for s in range(params.trust.ensemble_size)]


def run_compare(params: Params, dataset: str, progress: bool = True,
                publisher: Publisher = NOWHERE) -> CompareResult | None:
    """Train, save and evaluate the comparison members, and train the deep ensemble in the same batched model
    (saved apart, in ``models/<dataset>/ensemble/``, for ``mcdropout trust``); ``None`` on non-zero DDP ranks."""
    paths = Paths.of(params)
    from mcdropout.study.experiment import Group, train_groups

    done = train_groups(params, dataset, [
        Group("compare", compare_members(params), paths.compare_dir(dataset), evaluate=True),
        Group("ensemble", ensemble_members(params), paths.ensemble_dir(dataset), evaluate=False),
    ], progress, publisher)
    if done is None:
        return None
    (fit, outcomes), (ensemble_fit, _) = done
    task = outcomes[0].meta.make_task()
    return CompareResult(fit, outcomes, paths.compare_dir(dataset), compare_metrics(task, outcomes, params, dataset),
                         ensemble_fit, paths.ensemble_dir(dataset))


def best_l2(task: Task, runs: list[dict[str, Any]], kind: str) -> float | None:
    """The weight decay of ``kind`` members with the lowest seed-mean validation loss."""
    return best_by_seed_mean((r for r in runs if r["method"] == kind), "l2", task.val_loss)


def compare_metrics(task: Task, outcomes: list[MemberOutcome], params: Params, dataset: str) -> dict[str, Any]:
    """The ``compare.json`` object: every member's evaluation, the chosen L2, the learned rates."""
    runs = []
    for o in outcomes:
        m = o.member
        run = {"method": m.method, "name": m.name, "p": m.p, "l2": m.l2, "seed": m.seed,
               "checkpoint": o.checkpoint.name, **o.evaluation}
        if m.dropout == "concrete":
            run["learned_p"] = o.model.learned_p
        if m.early_stopping:
            run["stop_epoch"], run["best_epoch"] = o.meta.stop_epoch, o.meta.best_epoch
        runs.append(run)
    learned = np.array([r["learned_p"] for r in runs if r["method"] == "concrete"])
    return {
        "dataset": dataset,
        "task": task.name,
        "mc_samples": params.mc.samples,
        "best_l2": best_l2(task, runs, "l2"),
        "best_dropout_l2": best_l2(task, runs, "dropout+l2"),
        "selection": SELECTION,
        "learned_p": {"mean": learned.mean(0).tolist(), "sd": learned.std(0).tolist()} if len(learned) else None,
        "patience": params.compare.patience,
        "runs": runs,
    }


# --- the comparison table of the report ----------------------------------------------


def _mean(runs: list[dict], mode: str, split: str, key: str) -> float:
    return float(np.mean([r[mode][split][key] for r in runs]))


def comparison_rows(sweep_metrics: dict[str, Any], compare: dict[str, Any]) -> list[dict[str, Any]]:
    """The best of each regulariser against the best dropout rate: seed means, one row each.

    Errors are with dropout off (RMSE, or error rate). NLL and coverage (regression) or
    ECE (classification) come from MC dropout for the dropout methods; the others have no
    model uncertainty: for regression their Gaussian with a constant noise fitted on val
    is shown but flagged (``has_uncertainty`` False), for classification the sigmoid.
    """
    task = get_task(sweep_metrics["task"])
    key, extra = task.metric, task.uncertainty_metric

    def row(label: str, setting: str, runs: list[dict], dropout: bool) -> dict[str, Any]:
        mode = "mc" if dropout else "standard"
        train = task.error(_mean(runs, "standard", "train", key))
        test = task.error(_mean(runs, "standard", "test", key))
        return {"method": label, "setting": setting, "seeds": len(runs), "train_error": train,
                "test_error": test, "gap": test - train, "test_nll": _mean(runs, mode, "test", "nll"),
                f"test_{extra}": _mean(runs, mode, "test", extra),
                "uncertainty": "MC dropout" if dropout else task.plain_uncertainty,
                "has_uncertainty": dropout or task.plain_has_uncertainty}

    sweep_runs, runs = sweep_metrics["runs"], compare["runs"]
    best_p = sweep_metrics["best_p"]
    rows = []
    if any(r["p"] == 0 for r in sweep_runs):
        rows.append(row("no regularisation", "p = 0", [r for r in sweep_runs if r["p"] == 0], False))
    rows.append(row("dropout (sweep)", f"best p = {best_p:g}", [r for r in sweep_runs if r["p"] == best_p],
                    best_p > 0))
    concrete = [r for r in runs if r["method"] == "concrete"]
    if concrete:
        learned = " / ".join(f"{v:.2f}" for v in compare["learned_p"]["mean"])
        rows.append(row("Concrete dropout", f"learned p = {learned}", concrete, True))
    l2 = [r for r in runs if r["method"] == "l2" and r["l2"] == compare["best_l2"]]
    if l2:
        rows.append(row("L2 weight decay, no dropout", f"best λ = {compare['best_l2']:g}", l2, False))
    both = [r for r in runs if r["method"] == "dropout+l2" and r["l2"] == compare.get("best_dropout_l2")]
    if both:
        rows.append(row("dropout + L2", f"p = {both[0]['p']:g}, best λ = {compare['best_dropout_l2']:g}", both,
                        True))
    early = [r for r in runs if r["method"] == "early_stopping"]
    if early:
        kept = np.mean([r["best_epoch"] + 1 for r in early])
        rows.append(row("early stopping, no dropout", f"patience {compare['patience']}, kept epoch ≈ {kept:.0f}",
                        early, False))
    return rows


def learned_against_swept(sweep_metrics: dict[str, Any], compare: dict[str, Any]) -> list[dict[str, Any]]:
    """The Concrete member against the sweep's best p: test metrics of both ways of predicting, seed means."""
    task = get_task(sweep_metrics["task"])
    keys = (task.metric, "nll", task.uncertainty_metric)
    concrete = [r for r in compare["runs"] if r["method"] == "concrete"]
    if not concrete:
        return []
    best_p = sweep_metrics["best_p"]
    learned = " / ".join(f"{v:.3f}" for v in compare["learned_p"]["mean"])
    rows = []
    for label, runs in ((f"sweep's best p = {best_p:g}", [r for r in sweep_metrics["runs"] if r["p"] == best_p]),
                        (f"Concrete, learned p = {learned}", concrete)):
        row: dict[str, Any] = {"member": label}
        for key in keys:
            for mode in ("standard", "mc"):
                row[f"{mode}_test_{key}"] = _mean(runs, mode, "test", key)
        rows.append(row)
    return rows
