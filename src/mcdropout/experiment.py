"""End-to-end runs: train, save, evaluate and log one member (``mcdropout train``) or a
group of members trained together (the sweep, the comparison).

A group's checkpoints are written beside its folder and swapped in at the end: an
interrupted run leaves the previous results whole. MLflow runs are created once the
members are trained (their start time is the training's start), so each checkpoint is
saved once, already holding its run id; their curves are logged while the members are
evaluated and saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mcdropout import background, tracking
from mcdropout.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.config import Params, to_dict
from mcdropout.data import Dataset, load_dataset
from mcdropout.evaluation import evaluate_model, fit_noise
from mcdropout.io import check_output, staged_dir
from mcdropout.members import Member, MemberOutcome
from mcdropout.paths import Paths
from mcdropout.publish import log_group
from mcdropout.train import FitResult, fit_members

__all__ = ["Group", "MemberOutcome", "finish_members", "run_single", "train_group", "train_groups"]


def finish_members(data: Dataset, fit: FitResult, params: Params, out_dir: Path, runs: tracking.GroupRuns,
                   evaluate: bool = True) -> list[MemberOutcome]:
    """Fit observation noise on val, save each member's checkpoint, and (optionally) evaluate it both ways."""
    outcomes = []
    mc, task, splits, schema = params.mc, data.task, data.splits, data.schema
    for i, (member, model) in enumerate(zip(fit.members, fit.models)):
        noise = fit_noise(model, task, splits["val"], mc.samples, mc.seed)
        meta = CheckpointMeta(
            task=task.name, seed=member.seed, dataset=schema.name, features=list(schema.features),
            target=schema.target, classes=None if schema.classes is None else list(schema.classes),
            method=member.method, l2=member.l2, noise_std=noise,
            mc_samples=mc.samples, train=to_dict(params.train), accelerator=fit.accelerator,
            fit_seconds=fit.seconds, fit_members=fit.stack_size,
            history=torch.from_numpy(fit.history[:, :, i].copy()), p=member.p,
            mlflow_run_id=runs.members.get(member.name), mlflow_parent_run_id=runs.parent,
        )
        if member.dropout == "concrete":
            meta.learned_p = model.learned_p  # per hidden layer, at the end of training
            meta.p_history = torch.from_numpy(fit.p_history[:, :, i].copy())  # [epochs, layers]
        if member.early_stopping:
            meta.stop_epoch, meta.best_epoch = int(fit.stop_epoch[i]), int(fit.best_epoch[i])
        evaluation = evaluate_model(model, task, splits, mc.samples, mc.seed, noise) if evaluate else {}
        path = save_checkpoint(out_dir / f"{member.name}.pt", model, meta)
        outcomes.append(MemberOutcome(member, model, path, meta, evaluation))
    return outcomes


def _fit(params: Params, dataset: str, members: list[Member], label: str,
         progress: bool) -> tuple[Dataset, FitResult, int] | None:
    """``params`` already resolved for the dataset (:meth:`~mcdropout.config.Params.for_dataset`); also returns
    the training's start (for the MLflow runs, created once the members are trained)."""
    data = load_dataset(dataset, params.data.dir)
    started = tracking.now_ms()
    fit = fit_members(data.task, data.splits, members, params, progress, label=label,
                      global_seed=params.train.seed, standardize=data.schema.standardize)
    if fit is None:
        return None  # a non-zero DDP rank: rank 0 saves and logs
    return data, fit, started


def run_single(params: Params, dataset: str, progress: bool = True) -> MemberOutcome | None:
    """Train one (p, seed) member from ``params.train``, evaluate it, save it under ``models/<dataset>/``."""
    params = params.for_dataset(dataset)
    if params.model.dropout == "concrete":
        member = Member(params.model.concrete.init_p, params.train.seed, dropout="concrete")
    else:
        member = Member(params.train.p, params.train.seed)
    check_output(Paths.of(params).single_dir(dataset) / f"{member.name}.pt")  # before training, not after
    done = _fit(params, dataset, [member], f"{dataset} {member.name}", progress)
    if done is None:
        return None
    data, fit, started = done
    runs = background.call(tracking.create_runs, params, dataset, [member], None, started, fit.accelerator)
    background.submit(tracking.log_histories, params, data.task, runs, _histories(fit), fit.seconds)
    outcomes = finish_members(data, fit, params, Paths.of(params).single_dir(dataset), runs)
    _log(params, data, outcomes, runs)
    return outcomes[0]


@dataclass
class Group:
    """Members trained in one stack with others, but saved in a folder of their own and logged as MLflow group
    ``name`` (``"sweep"``, ``"compare"``, ``"ensemble"``); ``evaluate``: evaluate each member both ways."""
    name: str
    members: list[Member]
    folder: Path
    evaluate: bool


def train_groups(params: Params, dataset: str, groups: list[Group],
                 progress: bool = True) -> list[tuple[FitResult, list[MemberOutcome]]] | None:
    """Train the members of all ``groups`` as one stacked model (one fit, however many folders); save each
    group in its folder and log it. ``None`` on the non-zero ranks of a DDP run (rank 0 saves)."""
    params = params.for_dataset(dataset)
    for group in groups:
        check_output(group.folder, folder=True)  # before training, not after
    members = [m for g in groups for m in g.members]
    label = " + ".join(g.name for g in groups) + f" {dataset} ({len(members)} members)"
    done = _fit(params, dataset, members, label, progress)
    if done is None:
        return None
    data, fit, started = done
    # Every group's runs first: a call waits for the helper's earlier work, the logging of a group included.
    all_runs = [background.call(tracking.create_runs, params, dataset, group.members, group.name, started,
                                fit.accelerator) for group in groups]
    parts, first = [], 0
    for group in groups:
        parts.append(fit.part(slice(first, first + len(group.members))))
        first += len(group.members)
    for runs, part in zip(all_runs, parts):  # logged while the members are evaluated and saved
        background.submit(tracking.log_histories, params, data.task, runs, _histories(part), fit.seconds)
    results = []
    for i, (group, runs, part) in enumerate(zip(groups, all_runs, parts)):
        try:
            with staged_dir(group.folder) as staging:
                outcomes = finish_members(data, part, params, staging, runs, evaluate=group.evaluate)
        except BaseException:
            for unfinished in all_runs[i:]:
                background.submit(tracking.end_runs, params, unfinished, failed=True)
            raise
        for o in outcomes:
            o.checkpoint = group.folder / o.checkpoint.name
        _log(params, data, outcomes, runs)
        results.append((part, outcomes))
    return results


def train_group(params: Params, dataset: str, members: list[Member], folder: Path, group: str,
                evaluate: bool, progress: bool = True) -> tuple[FitResult, list[MemberOutcome]] | None:
    """:func:`train_groups` of one group."""
    done = train_groups(params, dataset, [Group(group, members, folder, evaluate)], progress)
    return None if done is None else done[0]


def _histories(fit: FitResult) -> list[tracking.MemberHistory]:
    """The members' curves over the epochs, as their runs show them."""
    return [tracking.MemberHistory(
        m.name, fit.history[:, :, i].copy(),
        fit.p_history[:, :, i].copy() if m.dropout == "concrete" else None,
        (int(fit.stop_epoch[i]), int(fit.best_epoch[i])) if m.early_stopping else None,
    ) for i, m in enumerate(fit.members)]


def _log(params: Params, data: Dataset, outcomes: list[MemberOutcome], runs: tracking.GroupRuns) -> None:
    """:func:`mcdropout.publish.log_group` in the tracking helper (:mod:`mcdropout.background`): the outcomes go
    without their networks (the helper logs the saved checkpoints)."""
    light = [MemberOutcome(o.member, None, o.checkpoint, o.meta, o.evaluation) for o in outcomes]
    background.submit(log_group, params, light, runs, data.splits["val"].x[:5])
