"""Training with a ``pytorch_lightning.Trainer``: one member (``mcdropout train``) or many.

:func:`fit_members` is the single engine: a single run is a sweep of one member, so a
sweep member and the single run of the same (p, seed) follow the same code.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.exceptions import MisconfigurationException

from mcdropout.core.config import ConfigError, ModelConfig, Params, TrainConfig
from mcdropout.core.tasks import Task, get_task
from mcdropout.data.datasets import Dataset, Split
from mcdropout.nn.members import Member
from mcdropout.nn.model import MLP, seeded_mlp
from mcdropout.nn.stacked import StackedMLP
from mcdropout.training.routine import DivergedError, DropoutRoutine

# Deterministic cuBLAS needs this set before CUDA initialises; harmless on CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
# Lightning's banners ("GPU available", tips) drown the progress lines; warnings still show.
for _name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@dataclass
class FitResult:
    members: list[Member]
    models: list[MLP]  # trained, on the CPU, in eval mode
    history: np.ndarray  # [epochs, 4, M]: train/loss, val/loss, train/metric, val/metric
    accelerator: str  # what Lightning actually used: "cpu", "cuda", ...
    seconds: float
    p_history: np.ndarray | None = None  # [epochs, layers, M] rates per epoch, when any member is Concrete
    stop_epoch: np.ndarray | None = None  # [M] (0-based; -1: no early stopping), when any member stops early
    best_epoch: np.ndarray | None = None  # [M] epoch whose weights an early-stopping member kept
    stack_size: int = 0  # members in the batched fit that trained these (more than ``members`` for a part of it)

    def part(self, members: slice) -> FitResult:
        """The result of some members of the fit (e.g. those saved in one folder)."""
        def cut(a: np.ndarray | None, axis: int) -> np.ndarray | None:
            return None if a is None else a[(slice(None),) * axis + (members,)]

        return FitResult(self.members[members], self.models[members], cut(self.history, 2), self.accelerator,
                         self.seconds, cut(self.p_history, 2), cut(self.stop_epoch, 0), cut(self.best_epoch, 0),
                         stack_size=self.stack_size)


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    s = int(round(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


class EpochProgress(pl.Callback):
    """Progress over epochs (not steps): a tqdm bar on a terminal, else a line at the start, then every 10% of the
    epochs (and at least every ``every`` seconds) with the elapsed and the estimated remaining time.

    The epochs are the routine's (its ``history``; a Lightning epoch is a block of them, see
    :mod:`mcdropout.training.routine`), reported at the end of each block."""

    def __init__(self, label: str, every: float = 10.0) -> None:
        self.label = label
        self.bar = None
        self.start = self.last = 0.0
        self.every = every
        self.reported = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = self.last = time.perf_counter()
        if trainer.is_global_zero and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=pl_module.epochs, desc=self.label, unit="epoch", mininterval=0.5, leave=False)
        elif trainer.is_global_zero:  # a log file or pipe: say at once that training has begun
            print(f"{self.label}: training {pl_module.epochs} epochs", file=sys.stderr, flush=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer, pl_module, final=len(pl_module.history) == pl_module.epochs)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule, final: bool) -> None:
        epoch, total = len(pl_module.history), pl_module.epochs  # epochs done (their losses are in)
        if not trainer.is_global_zero or epoch <= self.reported:
            return
        tenth = max(1, total // 10)
        done, crossed, self.reported = epoch - self.reported, epoch // tenth > self.reported // tenth, epoch
        if self.bar is not None:
            self.bar.update(done)
            self.bar.set_postfix(loss=f"{pl_module.mean_losses()[0]:.4f}")
            return
        now = time.perf_counter()
        if final or crossed or now - self.last >= self.every:
            self.last = now
            train_loss, val_loss = pl_module.mean_losses()
            split, loss = ("val", val_loss) if pl_module.validate_each_epoch else ("train", train_loss)
            took = now - self.start
            left = took / epoch * max(total - epoch, 0)
            print(f"{self.label}: epoch {epoch}/{total}, mean {split} loss {loss:.4f} ({duration(took)} elapsed, "
                  f"about {duration(left)} left)", file=sys.stderr, flush=True)


def make_trainer(cfg: TrainConfig, epochs: int, label: str, progress: bool = True) -> pl.Trainer:
    """A Trainer with Lightning's per-step overhead stripped for tiny full-batch models."""
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*train_dataloader.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    # Under DDP every rank trains on the whole (tiny) data set and validates on all of it, so the
    # per-rank epoch values Lightning warns about are equal; syncing them would cost a collective per epoch.
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    try:
        return _trainer(cfg, epochs, label, progress)
    # Lightning's words for a bad setting; ImportError: an accelerator's package is missing (tpu without torch_xla)
    except (MisconfigurationException, ValueError, TypeError, ImportError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        key = next((k for k in ("strategy", "devices", "accelerator") if k in text), "accelerator")
        raise ConfigError(f"train.{key} = {getattr(cfg, key)!r} cannot be used on this machine: {text}") from None


def _trainer(cfg: TrainConfig, epochs: int, label: str, progress: bool) -> pl.Trainer:
    return pl.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        max_epochs=epochs,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[EpochProgress(label)] if progress else [],
    )


def model_kwargs(model: ModelConfig, in_dim: int, task: Task) -> dict:
    """The MLP's arguments: the model section's shape, the task's outputs and head (the task's, not
    ``model.head``: a classifier has none, and the task was made from ``model.head`` where it applies)."""
    kwargs = {"in_dim": in_dim, "out_dim": task.out_dim, "hidden": model.hidden, "activation": model.activation,
              "input_p": model.input_p}
    return kwargs | ({"head": task.head} if task.head == "heteroscedastic" else {})


def standardizer(train: Split, task: Task) -> dict[str, list[float]]:
    """Training statistics of the inputs (and of a regression target); a constant column keeps scale 1."""
    x_std = train.x.std(0)
    stats = {"x_mean": train.x.mean(0).tolist(), "x_std": np.where(x_std > 0, x_std, 1.0).tolist()}
    if task.continuous:  # a regression target
        y_std = float(train.y.std())
        stats.update(y_mean=[float(train.y.mean())], y_std=[y_std if y_std > 0 else 1.0])
    return stats


def _tensors(split: Split, stats: dict[str, list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = torch.from_numpy(split.x).float(), torch.from_numpy(split.y).float()
    if "x_mean" in stats:
        x = (x - torch.tensor(stats["x_mean"])) / torch.tensor(stats["x_std"])
    if "y_mean" in stats:
        y = (y - stats["y_mean"][0]) / stats["y_std"][0]
    return x, y


def memory_needed(kwargs: dict, n_members: int, n_rows: int) -> int:
    """Bytes to train ``n_members`` MLPs of ``model_kwargs`` on ``n_rows`` rows, roughly: the weights five times
    (initial models, the stacked copy, gradients, two Adam moments) and the activations of a full batch."""
    widths = [kwargs["in_dim"], *kwargs["hidden"], kwargs["out_dim"]]
    weights = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    activations = n_rows * sum(widths)
    return 4 * n_members * (5 * weights + 4 * activations)


def _check_memory(kwargs: dict, n_members: int, n_rows: int) -> None:
    """A one-line error instead of an allocator's traceback (or the OOM killer) for a network too large."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return  # unknown on this platform
    need = memory_needed(kwargs, n_members, n_rows)
    if need > ram:
        raise ConfigError(f"model.hidden = {list(kwargs['hidden'])}: {n_members} member(s) need about "
                          f"{need / 2**30:,.0f} GiB to train, more than this machine's {ram / 2**30:,.0f} GiB; "
                          f"use smaller layers (or fewer members)")


def fit_members(
    task: Task | str,
    splits: dict[str, Split],
    members: list[Member],
    params: Params,
    progress: bool = True,
    label: str | None = None,
    global_seed: int | None = None,
    standardize: bool = False,
) -> FitResult | None:
    """Train all ``members`` together as one stacked model with one Trainer.

    Initial weights depend on each member's seed only; dropout masks come from the
    global RNG seeded with ``global_seed`` (default: the first member's seed). With
    ``standardize`` the members train on standardised data and the returned models hold
    the statistics (raw inputs in, target units out). Returns ``None`` on the non-zero
    ranks of a multi-process (DDP) run.
    """
    task = get_task(task)
    stats = standardizer(splits["train"], task) if standardize else {}
    kwargs = {**model_kwargs(params.model, splits["train"].x.shape[1], task), **stats}
    batch = min(params.train.batch_size or len(splits["train"].x), len(splits["train"].x))
    _check_memory(kwargs, len(members), max(batch, len(splits["val"].x)))
    return _fit(task, kwargs, members, params, progress, label, global_seed,
                _tensors(splits["train"], stats), _tensors(splits["val"], stats))


def fit_dataset(data: Dataset, members: list[Member], params: Params, progress: bool = True, label: str | None = None,
                global_seed: int | None = None) -> FitResult | None:
    """:func:`fit_members` with each member on the data of its repeat (``member.split``, see
    :meth:`~mcdropout.data.datasets.Dataset.repeat`): one shared data set where every member sees the same rows,
    else each split standardised by its own training statistics (held by its members' models)."""
    task, standardize = data.task, data.schema.standardize
    repeats = sorted({m.split for m in members})
    datasets = {i: data.repeat(i) for i in repeats}
    if len({id(d) for d in datasets.values()}) == 1:
        return fit_members(task, datasets[repeats[0]].splits, members, params, progress, label, global_seed,
                           standardize)
    index = {i: k for k, i in enumerate(repeats)}
    stats = [standardizer(datasets[i].splits["train"], task) if standardize else {} for i in repeats]
    parts = [{k: Split(*(t.numpy() for t in _tensors(datasets[i].splits[k], st))) for k in ("train", "val")}
             for i, st in zip(repeats, stats)]
    return fit_members_on(task, parts, [index[m.split] for m in members], members, params, progress, label,
                          global_seed, member_stats=[stats[index[m.split]] for m in members])


def fit_members_on(
    task: Task | str,
    data: Sequence[dict[str, Split]],
    data_of: Sequence[int],
    members: list[Member],
    params: Params,
    progress: bool = True,
    label: str | None = None,
    global_seed: int | None = None,
    validate: bool = True,
    member_stats: Sequence[dict[str, list[float]]] | None = None,
    start: Sequence[MLP] | None = None,
    adversarial_eps: torch.Tensor | None = None,
) -> FitResult | None:
    """:func:`fit_members` with data of each member's own: member ``i`` trains on ``data[data_of[i]]["train"]``
    (mini-batches of its own shuffle of those rows) and validates on ``data[data_of[i]]["val"]``; the data sets
    may differ in rows (see :class:`~mcdropout.training.batches.TensorBatches`) but not in columns. No standardisation:
    the data come as the members should see them (``member_stats``: the standardisation each member's model
    holds, when the data were standardised). ``validate=False``: no validation pass each epoch (the
    history's val columns are NaN; see :class:`~mcdropout.training.routine.DropoutRoutine`). ``start``: a network
    per member to go on from (a warm start; their weights are copied, not changed), instead of its seed's.
    ``adversarial_eps`` ``[M, in]``: adversarial training (:mod:`~mcdropout.training.adversarial`), member ``i``'s
    inputs moved by up to ``adversarial_eps[i]``."""
    task = get_task(task)
    if len(data_of) != len(members) or not all(0 <= d < len(data) for d in data_of):
        raise ValueError(f"data_of: one index into the {len(data)} data sets per member ({len(members)})")
    if len({d[k].x.shape[1] for d in data for k in ("train", "val")}) != 1:
        raise ValueError("per-member data sets must have the same columns")
    kwargs = model_kwargs(params.model, data[0]["train"].x.shape[1], task)
    longest = {k: max(len(d[k].y) for d in data) for k in ("train", "val")}
    batch = min(params.train.batch_size or longest["train"], longest["train"])
    _check_memory(kwargs, len(members), max(batch, longest["val"]))

    def stack(key: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = longest[key]
        x = torch.zeros(len(data), n, kwargs["in_dim"])
        y = torch.zeros(len(data), n)
        for i, d in enumerate(data):
            xi, yi = _tensors(d[key], {})
            x[i, :len(yi)], y[i, :len(yi)] = xi, yi
        return x, y, torch.tensor([len(d[key].y) for d in data])

    (tx, ty, tn), (vx, vy, vn) = stack("train"), stack("val")
    return _fit(task, kwargs, members, params, progress, label, global_seed, (tx, ty), (vx, vy),
                validate=validate, member_stats=member_stats, start=start, data_of=torch.tensor(list(data_of)),
                train_rows=tn, val_rows=vn, adversarial_eps=adversarial_eps)


@contextmanager
def _uninitialised_memory_left_alone() -> Iterator[None]:
    """Deterministic algorithms (``Trainer(deterministic=True)``) without torch's debugging aid of filling every
    new tensor with NaN: that fill was a fifth of a small model's step, and no op here reads memory it did not
    write, so the results are the same."""
    import torch.utils.deterministic

    before = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = before


def _seeded_member(m: Member, kwargs: dict, params: Params, stats: dict) -> MLP:
    """Member ``m``'s network with its seed's initial weights (its rate, input rate and kind of dropout)."""
    extra = {"dropout": "concrete", "temperature": params.model.concrete.temperature} if m.dropout == "concrete" else {}
    input_p = kwargs["input_p"] if m.input_p is None else m.input_p
    return seeded_mlp(m.seed, p=m.p, **{**kwargs, **stats, "input_p": input_p, **extra})


def _fit(task: Task, kwargs: dict, members: list[Member], params: Params, progress: bool, label: str | None,
         global_seed: int | None, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
         validate: bool = True, member_stats: Sequence[dict] | None = None, start: Sequence[MLP] | None = None,
         **data: torch.Tensor) -> FitResult | None:
    if start is None:
        initial = [_seeded_member(m, kwargs, params, member_stats[i] if member_stats else {})
                   for i, m in enumerate(members)]
    elif len(start) != len(members):
        raise ValueError(f"start: one network per member ({len(members)}), got {len(start)}")
    else:  # a warm start: copies, so that the caller's networks stay as they are
        initial = [copy.deepcopy(net).train() for net in start]
    net = StackedMLP(initial)
    cfg = params.train
    l2 = torch.tensor([m.l2 for m in members]) if any(m.l2 for m in members) else None
    early = torch.tensor([m.early_stopping for m in members]) if any(m.early_stopping for m in members) else None
    routine = DropoutRoutine(
        net, task, train, val, lr=cfg.lr, weight_decay=cfg.weight_decay, batch_size=cfg.batch_size, l2=l2,
        early_stop=early, patience=params.compare.patience, length_scale=params.model.concrete.length_scale,
        epochs=cfg.epochs, validate=validate, **data,
    )
    pl.seed_everything(members[0].seed if global_seed is None else global_seed, verbose=False)
    label = label or f"{task.name} ({len(members)} member{'s' if len(members) != 1 else ''})"
    trainer = make_trainer(cfg, routine.lightning_epochs, label, progress)
    began = time.perf_counter()
    try:
        with _uninitialised_memory_left_alone():
            trainer.fit(routine)
    except DivergedError as exc:
        name = members[exc.member].name
        raise DivergedError(str(exc).replace(f"member {exc.member} of {len(members)}", f"member {name}"),
                            exc.member) from None
    seconds = time.perf_counter() - began
    if not trainer.is_global_zero:
        return None  # under DDP every rank runs this code; only rank 0 keeps and saves results
    models = [net.member(i).eval() for i in range(len(members))]
    history = routine.history_array().numpy()
    p_history = routine.p_history_array()
    result = FitResult(members, models, history, trainer.strategy.root_device.type, seconds,
                       p_history=None if p_history is None else p_history.numpy(), stack_size=len(members))
    if early is not None:
        result.stop_epoch = routine.stop_epoch.cpu().numpy()
        result.best_epoch = np.where(early.numpy(), routine.best_epoch.cpu().numpy(), -1)
    return result

