"""Dropout against the other usual remedies for overfitting, a learned dropout rate, and the two ensembles.

``mcdropout compare --dataset NAME`` (after the sweep) trains, as one batched model next to the sweep and with
the same data, seeds, epochs and optimiser:

* a Concrete dropout member per seed (each hidden dropout layer learns its p);
* the MLP without dropout under each L2 weight decay of ``compare.l2``, per seed;
* the MLP without dropout with early stopping on the validation loss, per seed;
* dropout at ``compare.dropout_l2_p`` plus each weight decay of the grid, per seed.

Each setting is chosen by the study's one rule (:mod:`mcdropout.study.selection`: the lowest seed-mean
validation NLL of the member's own inference). Then a second batched fit trains the ensembles that ``mcdropout
trust`` sets beside MC dropout, ``trust.ensemble_size`` members for each seed of the sweep (a repeat):

* the **deep ensemble**: members of the best non-dropout configuration (an L2 weight decay of the grid or early
  stopping, chosen by validation NLL), the tuned baseline of Lakshminarayanan et al. (2017);
* the **MC-dropout ensemble**: members at the sweep's selected p, predicted with MC dropout.

They are saved in ``models/<dataset>/ensemble/``; compare.json names them per repeat (``ensembles``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task, get_task, task_for
from mcdropout.data.datasets import DataError
from mcdropout.nn.members import Member
from mcdropout.scoring.stats import estimate, paired
from mcdropout.study.publishing import NOWHERE, Publisher
from mcdropout.study.results import checked, read
from mcdropout.study.selection import CRITERIA, select, val_nll

if TYPE_CHECKING:  # training (Lightning) is imported only by the functions that train
    from mcdropout.study.experiment import MemberOutcome
    from mcdropout.training.train import FitResult

ENSEMBLE_SEED = 10_000  # ensemble members' seeds start here, apart from the sweep's


@dataclass
class CompareResult:
    fit: FitResult
    outcomes: list[MemberOutcome]
    folder: Path
    metrics: dict[str, Any]
    ensemble: FitResult  # the ensembles, trained in a second fit
    ensemble_folder: Path


def compare_members(params: Params) -> list[Member]:
    """Each setting for every seed of the sweep, the i-th seed on repeat i's data as in the sweep."""
    seeds = list(enumerate(params.sweep.seeds))
    members = [Member(params.model.concrete.init_p, s, dropout="concrete", split=i) for i, s in seeds]
    members += [Member(0.0, s, l2=value, split=i) for value in params.compare.l2 for i, s in seeds]
    members += [Member(0.0, s, early_stopping=True, split=i) for i, s in seeds]
    p = params.compare.dropout_l2_p
    if p is not None:
        members += [Member(p, s, l2=value, split=i) for value in params.compare.l2 for i, s in seeds]
    return members


def ensemble_seeds(params: Params, seed: int) -> list[int]:
    """The seeds of the ensemble members of the repeat whose sweep seed is ``seed``."""
    size = params.trust.ensemble_size
    return [ENSEMBLE_SEED + seed * size + j for j in range(size)]


def ensemble_members(params: Params, config: dict[str, Any], best_p: float) -> dict[str, dict[int, list[Member]]]:
    """Per ensemble, per sweep seed (a repeat): its members. ``config``: the deep ensemble's chosen setting."""
    seeds = list(enumerate(params.sweep.seeds))
    deep = {s: [Member(0.0, e, l2=config.get("l2", 0.0), early_stopping=config["method"] == "early_stopping",
                       split=i) for e in ensemble_seeds(params, s)] for i, s in seeds}
    mc = {s: [Member(best_p, e, split=i) for e in ensemble_seeds(params, s)] for i, s in seeds}
    return {"deep_ensemble": deep, "mc_dropout_ensemble": mc}


def sweep_metrics(params: Params, dataset: str) -> dict[str, Any]:
    """The sweep's metrics.json: its selected p (the MC-dropout ensemble's) and its runs (λ = 0 of the L2 grids)."""
    return read("metrics.json", Paths.of(params).metrics_json(dataset), dataset)


def without_l2(sweep_runs: list[dict[str, Any]], p: float | None) -> list[dict[str, Any]]:
    """The sweep's members at ``p`` as the λ = 0 point of an L2 grid (the same seeds and splits, no weight decay)."""
    method = "l2" if p == 0 else "dropout+l2"
    return [{**r, "l2": 0.0, "method": method} for r in sweep_runs if p is not None and r["p"] == p]


def run_compare(params: Params, dataset: str, progress: bool = True,
                publisher: Publisher = NOWHERE) -> CompareResult | None:
    """Train, save and evaluate the comparison members, then train the ensembles of the chosen settings (saved
    apart, in ``models/<dataset>/ensemble/``, for ``mcdropout trust``); ``None`` on non-zero DDP ranks."""
    paths = Paths.of(params)
    sweep = sweep_metrics(params, dataset)
    best_p = float(sweep["best_p"])
    from mcdropout.study.experiment import train_group

    done = train_group(params, dataset, compare_members(params), paths.compare_dir(dataset), "compare", True,
                       progress, publisher)
    if done is None:
        return None
    fit, outcomes = done
    task = outcomes[0].meta.make_task()
    metrics = compare_metrics(task, outcomes, params, dataset, sweep["runs"])
    ensembles = ensemble_members(params, metrics["ensembles"]["deep_ensemble"]["config"], best_p)
    # once each: with λ = 0 chosen and the sweep's p = 0 both ensembles are the same networks
    members = list(dict.fromkeys(m for by_seed in ensembles.values() for group in by_seed.values() for m in group))
    done = train_group(params, dataset, members, paths.ensemble_dir(dataset), "ensemble", False, progress,
                       publisher)
    if done is None:
        return None
    metrics["ensembles"]["mc_dropout_ensemble"]["config"] = {"p": best_p}
    for name, by_seed in ensembles.items():
        metrics["ensembles"][name]["members"] = {str(s): [m.name for m in group] for s, group in by_seed.items()}
    return CompareResult(fit, outcomes, paths.compare_dir(dataset), checked("compare.json", metrics), done[0],
                         paths.ensemble_dir(dataset))


def deep_ensemble_choice(runs: list[dict[str, Any]], sweep_runs: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The deep ensemble's setting: among no regularisation (the sweep's p = 0), the L2 weight decays and early
    stopping (no dropout), the one with the lowest seed-mean validation NLL (dropout off), the rule every method is
    chosen by."""
    candidates: dict[str, tuple[dict[str, Any], list[float]]] = {}
    for r in [*without_l2(sweep_runs, 0.0), *runs]:
        if r["method"] == "l2":
            candidates.setdefault(f"l2 {r['l2']:g}", ({"method": "l2", "l2": r["l2"]}, []))[1].append(
                val_nll(r, "standard"))
        elif r["method"] == "early_stopping":
            candidates.setdefault("early stopping", ({"method": "early_stopping"}, []))[1].append(
                val_nll(r, "standard"))
    if not candidates:
        raise DataError("the deep ensemble needs L2 or early-stopping members: set compare.l2")
    best = min(candidates, key=lambda k: float(np.mean(candidates[k][1])))
    return {"selected_by": CRITERIA["standard"] + ", among no regularisation, the L2 weight decays of compare.l2 and "
                           "early stopping",
            "config": candidates[best][0],
            "curve": [{"setting": k, **estimate(v)} for k, (_, v) in candidates.items()]}


def compare_metrics(task: Task, outcomes: list[MemberOutcome], params: Params, dataset: str,
                    sweep_runs: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The ``compare.json`` object: every member's evaluation, the chosen settings, the learned rates. Each L2 grid
    starts at λ = 0, the sweep's members of the same rate (``sweep_runs``; no extra training): the grid's lower
    end is then the natural bound, not an edge the optimum could lie beyond."""
    runs = []
    for o in outcomes:
        m = o.member
        run = {"method": m.method, "name": m.name, "p": m.p, "l2": m.l2, "seed": m.seed, "split": m.split,
               "checkpoint": o.checkpoint.name, **o.evaluation}
        if m.dropout == "concrete":
            run["learned_p"] = o.model.learned_p
            history = o.meta.p_history.numpy() if o.meta.p_history is not None else None
            if history is not None and len(history) > 1:  # [epochs, layers]: the change over the last 10%
                last = max(1, len(history) // 10)
                run["learned_p_change_last_10pct"] = (history[-1] - history[-1 - last]).tolist()
        if m.early_stopping:
            run["stop_epoch"], run["best_epoch"] = o.meta.stop_epoch, o.meta.best_epoch
        runs.append(run)
    learned = np.array([r["learned_p"] for r in runs if r["method"] == "concrete"])
    l2 = select([*without_l2(sweep_runs, 0.0), *(r for r in runs if r["method"] == "l2")], "l2", "standard",
                bound=0.0)
    both = select([*without_l2(sweep_runs, params.compare.dropout_l2_p),
                   *(r for r in runs if r["method"] == "dropout+l2")], "l2", params.sweep.select, bound=0.0)
    early = [r for r in runs if r["method"] == "early_stopping"]
    epochs = len(outcomes[0].meta.history) if outcomes and outcomes[0].meta.history is not None else None
    return {
        "dataset": dataset,
        "task": task.name,
        "mc_samples": params.mc.samples,
        "best_l2": None if l2 is None else l2["best_l2"],
        "best_dropout_l2": None if both is None else both["best_l2"],
        "selection": {"l2": l2, "dropout_l2": both, "early_stopping": None if not early else {
            "patience": params.compare.patience, "epochs": epochs,
            "kept_epoch": estimate([r["best_epoch"] + 1 for r in early]),
            "never_stopped": sum(1 for r in early if epochs is not None and r["stop_epoch"] >= epochs - 1),
            "n": len(early)}},
        "learned_p": {"mean": learned.mean(0).tolist(), "sd": learned.std(0).tolist()} if len(learned) else None,
        "patience": params.compare.patience,
        "ensembles": {"deep_ensemble": deep_ensemble_choice(runs, sweep_runs),
                      "mc_dropout_ensemble": {"selected_by": "the sweep's selected p (" +
                                              CRITERIA[params.sweep.select] + ")"},
                      "size": params.trust.ensemble_size},
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
    task = task_for(sweep_metrics.get("classes"), sweep_metrics.get("head", "homoscedastic"))  # binary, K classes, or
                                                                                             # regression's head
    key, extra = task.metric, task.uncertainty_metric

    reference = {r["seed"]: r["mc"]["test"]["nll"] for r in sweep_metrics["runs"] if r["p"] == sweep_metrics["best_p"]}

    def row(label: str, setting: str, runs: list[dict], dropout: bool) -> dict[str, Any]:
        mode = "mc" if dropout else "standard"
        train = [task.error(r["standard"]["train"][key]) for r in runs]
        test = [task.error(r["standard"]["test"][key]) for r in runs]
        nll = {r["seed"]: r[mode]["test"]["nll"] for r in runs}
        seeds = sorted(set(nll) & set(reference))
        vs = paired([nll[s] for s in seeds], [reference[s] for s in seeds])
        return {"method": label, "setting": setting, "seeds": len(runs), "train_error": float(np.mean(train)),
                "test_error": float(np.mean(test)), "test_error_se": estimate(test)["se"],
                "train_error_se": estimate(train)["se"],
                "gap": float(np.mean(test) - np.mean(train)), "test_nll": _mean(runs, mode, "test", "nll"),
                "test_nll_se": estimate(list(nll.values()))["se"],
                f"test_{extra}": _mean(runs, mode, "test", extra),
                "nll_vs_selected_dropout": vs.as_dict(),
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
    l2 = [r for r in runs if r["method"] == "l2" and r["l2"] == compare["best_l2"]] or \
        ([r for r in sweep_runs if r["p"] == 0] if compare["best_l2"] == 0 else [])
    if l2:
        rows.append(row("L2 weight decay, no dropout", f"best λ = {compare['best_l2']:g}", l2, False))
    p = next((r["p"] for r in runs if r["method"] == "dropout+l2"), None)
    both = [r for r in runs if r["method"] == "dropout+l2" and r["l2"] == compare.get("best_dropout_l2")] or \
        ([r for r in sweep_runs if r["p"] == p] if compare.get("best_dropout_l2") == 0 else [])
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
