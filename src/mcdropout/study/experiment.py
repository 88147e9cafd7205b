"""End-to-end runs: train, save, evaluate and log one member (``mcdropout train``) or a
group of members trained together (the sweep, the comparison).

A group's checkpoints are written beside its folder and swapped in at the end: an
interrupted run leaves the previous results whole. What is tracked goes to the
:class:`~mcdropout.study.publishing.Publisher` the caller hands in (nothing by default):
its runs are opened before the members train; curves and models are handed over while
the members are saved and evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mcdropout.core.config import Params, to_dict
from mcdropout.core.io import check_output, staged_dir
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import Dataset, load_dataset
from mcdropout.inference.evaluation import evaluate_model, fit_noise
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member, MemberOutcome
from mcdropout.study.publishing import NOWHERE, Publisher, RunIds
from mcdropout.training.train import FitResult, fit_dataset

__all__ = ["Group", "MemberOutcome", "evaluate_members", "run_single", "save_members", "train_group", "train_groups"]


def save_members(data: Dataset, fit: FitResult, params: Params, out_dir: Path) -> list[MemberOutcome]:
    """Fit each member's observation noise on val and save its checkpoint (not yet evaluated)."""
    outcomes = []
    mc, task, schema = params.mc, data.task, data.schema
    for i, (member, model) in enumerate(zip(fit.members, fit.models)):
        splits = data.repeat(member.split).splits
        meta = CheckpointMeta(
            task=task.name, seed=member.seed, dataset=schema.name, features=list(schema.features),
            target=schema.target, classes=None if schema.classes is None else list(schema.classes), head=data.head,
            method=member.method, l2=member.l2, noise_std=fit_noise(model, task, splits["val"], mc.samples, mc.seed),
            mc_samples=mc.samples, train=to_dict(params.train), accelerator=fit.accelerator,
            fit_seconds=fit.seconds, fit_members=fit.stack_size,
            history=torch.from_numpy(fit.history[:, :, i].copy()), p=member.p, split=member.split,
        )
        if member.dropout == "concrete":
            meta.learned_p = model.learned_p  # per hidden layer, at the end of training
            meta.p_history = torch.from_numpy(fit.p_history[:, :, i].copy())  # [epochs, layers]
        if member.early_stopping:
            meta.stop_epoch, meta.best_epoch = int(fit.stop_epoch[i]), int(fit.best_epoch[i])
        path = save_checkpoint(out_dir / f"{member.name}.pt", model, meta)
        outcomes.append(MemberOutcome(member, model, path, meta, {}))
    return outcomes


def evaluate_members(data: Dataset, params: Params, outcomes: list[MemberOutcome]) -> None:
    """Each saved member's metrics both ways (dropout off, MC) on every split, into its ``evaluation``."""
    mc = params.mc
    for o in outcomes:
        o.evaluation = evaluate_model(o.model, data.task, data.repeat(o.member.split).splits, mc.samples, mc.seed,
                                      o.meta.noise_std)


def _fit(params: Params, dataset: str, members: list[Member], label: str, progress: bool,
         groups: list[tuple[list[Member], str | None]],
         publisher: Publisher) -> tuple[Dataset, FitResult, list[RunIds]] | None:
    """``params`` already resolved for the dataset (:meth:`~mcdropout.core.config.Params.for_dataset`). The runs of
    ``groups`` (members, group name) are opened while the members train (the tracking helper is idle then); a
    failed training ends them as failed."""
    data = load_dataset(dataset, params.data.dir, params.model.head)
    runs = publisher.start_runs(params, dataset, groups)
    try:
        fit = fit_dataset(data, members, params, progress, label=label, global_seed=params.train.seed)
    except BaseException:
        publisher.end_failed(params, runs())
        raise
    if fit is None:
        return None  # a non-zero DDP rank: rank 0 saves and logs
    return data, fit, runs()


def run_single(params: Params, dataset: str, progress: bool = True,
               publisher: Publisher = NOWHERE) -> MemberOutcome | None:
    """Train one (p, seed) member from ``params.train``, evaluate it, save it under ``models/<dataset>/``."""
    params = params.for_dataset(dataset)
    if params.model.dropout == "concrete":
        member = Member(params.model.concrete.init_p, params.train.seed, dropout="concrete")
    else:
        member = Member(params.train.p, params.train.seed)
    check_output(Paths.of(params).single_dir(dataset) / f"{member.name}.pt")  # before training, not after
    done = _fit(params, dataset, [member], f"{dataset} {member.name}", progress, [([member], None)], publisher)
    if done is None:
        return None
    data, fit, (runs,) = done
    publisher.fit_done(params, data.task, runs, fit)
    outcomes = save_members(data, fit, params, Paths.of(params).single_dir(dataset))
    _publish(params, data, outcomes, runs, True, publisher, whole_folder=False)
    return outcomes[0]


@dataclass
class Group:
    """Members trained in one stack with others, but saved in a folder of their own and logged as MLflow group
    ``name`` (``"sweep"``, ``"compare"``, ``"ensemble"``); ``evaluate``: evaluate each member both ways."""
    name: str
    members: list[Member]
    folder: Path
    evaluate: bool


def train_groups(params: Params, dataset: str, groups: list[Group], progress: bool = True,
                 publisher: Publisher = NOWHERE) -> list[tuple[FitResult, list[MemberOutcome]]] | None:
    """Train the members of all ``groups`` as one stacked model (one fit, however many folders); save each
    group in its folder and log it. ``None`` on the non-zero ranks of a DDP run (rank 0 saves)."""
    params = params.for_dataset(dataset)
    for group in groups:
        check_output(group.folder, folder=True)  # before training, not after
    members = [m for g in groups for m in g.members]
    label = " + ".join(g.name for g in groups) + f" {dataset} ({len(members)} members)"
    done = _fit(params, dataset, members, label, progress, [(g.members, g.name) for g in groups], publisher)
    if done is None:
        return None
    data, fit, all_runs = done
    parts, first = [], 0
    for group in groups:
        parts.append(fit.part(slice(first, first + len(group.members))))
        first += len(group.members)
    for runs, part in zip(all_runs, parts):  # published while the members are saved and evaluated
        publisher.fit_done(params, data.task, runs, part)
    results = []
    for i, (group, runs, part) in enumerate(zip(groups, all_runs, parts)):
        try:
            with staged_dir(group.folder, owns=("*.pt", "runs.json")) as staging:  # checkpoints, their runs
                outcomes = save_members(data, part, params, staging)
        except BaseException:
            publisher.end_failed(params, all_runs[i:])
            raise
        for o in outcomes:
            o.checkpoint = group.folder / o.checkpoint.name
        _publish(params, data, outcomes, runs, group.evaluate, publisher, whole_folder=True)
        results.append((part, outcomes))
    return results


def train_group(params: Params, dataset: str, members: list[Member], folder: Path, group: str, evaluate: bool,
                progress: bool = True, publisher: Publisher = NOWHERE) -> tuple[FitResult, list[MemberOutcome]] | None:
    """:func:`train_groups` of one group."""
    done = train_groups(params, dataset, [Group(group, members, folder, evaluate)], progress, publisher)
    return None if done is None else done[0]


def _publish(params: Params, data: Dataset, outcomes: list[MemberOutcome], runs: RunIds, evaluate: bool,
             publisher: Publisher, whole_folder: bool) -> None:
    """Saved members to the publisher: first as saved (their models, while they are evaluated here when
    ``evaluate``), then as evaluated (final metrics and checkpoints). The publisher gets the outcomes without their
    networks (it has the saved checkpoints); ``whole_folder``: the members are all their folder holds (a group's
    folder), not some of it (single runs)."""
    def light() -> list[MemberOutcome]:
        return [MemberOutcome(o.member, None, o.checkpoint, o.meta, o.evaluation) for o in outcomes]

    publisher.members_saved(params, light(), runs, data.splits["val"].x[:5], whole_folder)
    if evaluate:
        evaluate_members(data, params, outcomes)
    publisher.members_evaluated(params, light(), runs)
