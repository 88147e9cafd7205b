"""The Lightning routine: trains a :class:`StackedMLP` (one member for a single run).

Kept cheap for tiny models: the data live on the device as tensors and are served by a plain iterable (no DataLoader
workers or collation); one Lightning step is a block of up to ``EPOCHS_PER_STEP`` epochs of mini-batches, each with
its own optimiser step (manual optimisation: Lightning's per-step hooks and per-epoch loop cost more than a tiny
model's step; a Lightning "epoch" is such a block); validation runs in-process at the end of each of our epochs on
the whole val split with dropout off, instead of Lightning's validation loop; per-member histories accumulate on the
device and are read once at the end, so logging never forces a device sync per step.

Members may train on data of their own (``data_of``): the train and val tensors then hold one stacked data set per
index, ``[G, N, in]`` (padded to the largest, with the true row counts in ``train_rows`` / ``val_rows``), and member
``m`` sees only data set ``data_of[m]``, in mini-batches of its own shuffle (see
:class:`~mcdropout.training.batches.TensorBatches`). The UCI benchmark trains the grids of all its splits this way.

Two per-member extras, both vectorised over the stack:

* Concrete dropout members minimise twice the mean negative log-likelihood (the
  authors' convention, which their regulariser's 2/N assumes) plus the Concrete
  regulariser. For regression that needs an observation noise: each such member learns
  a homoscedastic log-variance ``s`` and its data term is ``mse / exp(s) + s``.
* Early-stopping members keep the weights of their lowest validation loss and stop
  (their kept weights freeze) after ``patience`` epochs without a lower one; see
  :func:`early_stopping`. The others in the stack train on for the full budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from mcdropout.core.tasks import Task
from mcdropout.nn.concrete import add_weight_term_gradient, rate_term_gradient
from mcdropout.nn.stacked import StackedMLP
from mcdropout.training.adversarial import fgsm
from mcdropout.training.batches import TensorBatches
from mcdropout.training.heap import HeapTrimmer
from mcdropout.training.optim import FusedAdamStep


def early_stopping(val_losses: Sequence[float], patience: int) -> tuple[int, int]:
    """``(best_epoch, stop_epoch)`` (0-based) of the early-stopping rule.

    The best epoch is the first with the lowest validation loss seen so far; the member
    stops at the first epoch that is ``patience`` epochs past its best without a strictly
    lower loss (or at the last epoch), and keeps the weights of its best epoch.
    """
    best, best_epoch = float("inf"), 0
    for epoch, loss in enumerate(val_losses):
        if loss < best:
            best, best_epoch = loss, epoch
        if epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, len(val_losses) - 1


class DivergedError(ValueError):
    """Training produced a non-finite loss (e.g. a learning rate far too large); ``member``: its index."""

    def __init__(self, message: str, member: int = 0) -> None:
        super().__init__(message)
        self.member = member


CHECK_EVERY = 50  # epochs between checks for a non-finite loss (each check waits for the device)


EPOCHS_PER_STEP = 10  # epochs in one Lightning step: Lightning's own loop costs ~2 ms a step


class _Blocks:
    """Lightning's data: one item per Lightning epoch, the number of our epochs its step trains (a block of up to
    :data:`EPOCHS_PER_STEP`; the last block takes what is left)."""

    def __init__(self, routine: DropoutRoutine) -> None:
        self.routine = routine

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[int]:
        r = self.routine
        yield min(r.epochs_per_step, r.epochs - len(r.history))


class DropoutRoutine(pl.LightningModule):
    def __init__(
        self,
        net: StackedMLP,
        task: Task,
        train_xy: tuple[torch.Tensor, torch.Tensor],
        val_xy: tuple[torch.Tensor, torch.Tensor],
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 0,
        l2: torch.Tensor | None = None,
        early_stop: torch.Tensor | None = None,
        patience: int = 0,
        length_scale: float = 0.01,
        data_of: torch.Tensor | None = None,
        train_rows: torch.Tensor | None = None,
        val_rows: torch.Tensor | None = None,
        epochs: int = 1,
        epochs_per_step: int | None = None,
        validate: bool = True,
        adversarial_eps: torch.Tensor | None = None,
    ) -> None:
        """``data_of`` ``[M]`` (long): each member's data set, for per-member data; then ``train_xy`` and
        ``val_xy`` are ``([G, N, in], [G, N])`` stacks and ``train_rows`` / ``val_rows`` ``[G]`` their true row
        counts (default: all ``N``). ``validate=False``: no validation pass at the end of each epoch (the
        history's val columns hold NaN), for callers that read no curves, e.g. the UCI protocol, which chooses
        on MC log-likelihood after training (the pass was 7-10% of its epochs); early stopping needs it.
        ``adversarial_eps`` ``[M, in]``: each member adds its loss at inputs moved by that much (``fgsm``)."""
        super().__init__()
        self.net = net
        self.task = task
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs, self.epochs_per_step = epochs, max(1, epochs_per_step or EPOCHS_PER_STEP)
        self.register_buffer("train_x", train_xy[0], persistent=False)
        self.register_buffer("train_y", train_xy[1], persistent=False)
        self.register_buffer("val_x", val_xy[0], persistent=False)
        self.register_buffer("val_y", val_xy[1], persistent=False)
        self.register_buffer("data_of", data_of, persistent=False)
        self.register_buffer("adversarial_eps", adversarial_eps, persistent=False)
        if data_of is not None:
            rows = [torch.full((len(d[1]),), d[1].shape[-1]) if r is None else r.long()
                    for d, r in ((train_xy, train_rows), (val_xy, val_rows))]
            if any(int(r.min()) < 1 or int(r.max()) > d[1].shape[-1] for d, r in zip((train_xy, val_xy), rows)):
                raise ValueError("per-member data: every data set needs 1 to N rows")
            self.register_buffer("train_rows", rows[0], persistent=False)
            self.register_buffer("val_rows", rows[1], persistent=False)
            self.val_counts = sorted(set(rows[1][data_of.cpu()].tolist()))  # one val pass per distinct count
        # Per-member L2 on weight matrices, l2 * ||W||^2 in each member's objective (Keras-style kernel
        # regulariser, as in the UCI protocol; its gradient is added after the backward pass); None: no such term.
        self.register_buffer("l2", l2, persistent=False)
        self.register_buffer("two_l2", None if l2 is None else 2 * l2[:, None, None], persistent=False)
        if l2 is not None and bool((l2[net.concrete] > 0).any()):
            raise ValueError("Concrete dropout members take no L2 term (their regulariser holds the weights' term)")
        self._epoch_sums: list[tuple[torch.Tensor, torch.Tensor | None, int]] = []  # a batch's losses, metrics, rows
        self.history: list[torch.Tensor] = []  # [4, M] per epoch: train/val loss, train/val metric
        self.length_scale = length_scale
        self.p_history: list[torch.Tensor] = []  # one [layers, M] tensor per epoch (Concrete members)
        # Concrete regression members: learned log observation-noise variance.
        m = net.n_members
        self.log_noise_var = nn.Parameter(torch.zeros(m)) if net.has_concrete and task.fits_noise else None
        self.patience = patience
        self.validate_each_epoch = validate
        if early_stop is not None and not validate:
            raise ValueError("early stopping needs a validation pass every epoch (validate=True)")
        self.register_buffer("early_stop", early_stop, persistent=False)
        if early_stop is not None:
            self.register_buffer("best_val", torch.full((m,), float("inf")), persistent=False)
            self.register_buffer("best_epoch", torch.zeros(m, dtype=torch.long), persistent=False)
            self.register_buffer("stop_epoch", torch.full((m,), -1, dtype=torch.long), persistent=False)
        self.best_state: list[torch.Tensor] = []
        self.automatic_optimization = False  # see training_step
        self.plain_steps = False
        self._fused_step: FusedAdamStep | None = None
        self._trim_heap = HeapTrimmer()  # CPU: freed memory back to the system now and then (training.heap)

    def on_train_start(self) -> None:
        # One process on one device in full precision: plain backward passes and optimiser steps, without
        # Lightning's hooks around each (a tenth of a small model's step); other strategies (DDP syncs
        # gradients in Lightning's backward) and precisions go through Lightning.
        from pytorch_lightning.plugins.precision import Precision
        from pytorch_lightning.strategies import SingleDeviceStrategy

        strategy = self.trainer.strategy
        self.plain_steps = type(strategy) is SingleDeviceStrategy and type(strategy.precision_plugin) is Precision
        if self.early_stop is not None:  # on the training device by now
            self.best_state = [t.detach().clone() for t in self._member_tensors()]

    def train_dataloader(self) -> Iterable[int]:
        return _Blocks(self)

    @property
    def lightning_epochs(self) -> int:
        """``Trainer(max_epochs=...)``: blocks of :data:`EPOCHS_PER_STEP` epochs (see :meth:`training_step`)."""
        return -(-self.epochs // self.epochs_per_step)

    def member_rows(self, split: str) -> torch.Tensor:
        """``[M]`` (long): the number of ``split`` rows each member trains or validates on (per-member data)."""
        return getattr(self, f"{split}_rows")[self.data_of]

    @property
    def n_train(self) -> torch.Tensor | int:
        """Training rows: one count, or ``[M]`` per member (the Concrete regulariser's N)."""
        return len(self.train_y) if self.data_of is None else self.member_rows("train").float()

    def _member_tensors(self) -> list[torch.Tensor]:
        return [*self.net.weights, *self.net.biases]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        rates = [self.net.p_logit] if self.net.has_concrete else []
        if self.log_noise_var is not None:
            rates.append(self.log_noise_var)
        weights = [t for t in self.net.parameters() if all(t is not r for r in rates)]
        groups = [{"params": weights, "weight_decay": self.weight_decay}]
        if rates:  # learned rates and noise: no weight decay
            groups.append({"params": rates, "weight_decay": 0.0})
        # Fused: one kernel per tensor instead of a dozen (a third of a tiny model's step went to Adam's ops);
        # the same update up to float rounding. Elsewhere (e.g. MPS), the for-each implementation.
        fused = all(t.device.type in ("cpu", "cuda") for t in self.net.parameters())
        return torch.optim.Adam(groups, lr=self.lr, fused=fused, foreach=None if fused else True)

    def concrete_objective(self, losses: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """The data term of the Concrete objective of ``members`` (``losses``: theirs): 2 x NLL, or for regression
        the Gaussian NLL with the learned noise. The regulariser's gradient (weights and rates) is added after the
        backward pass in closed form (:meth:`_add_concrete_regulariser_gradient`): through autograd and slices of
        the stacks it took half of a comparison's step."""
        if self.log_noise_var is None:
            return 2 * losses
        s = self.log_noise_var[members]
        return losses * torch.exp(-s) + s

    @torch.no_grad()
    def _add_concrete_regulariser_gradient(self) -> None:
        """The gradient of the Concrete regulariser (:func:`~mcdropout.nn.concrete.concrete_regulariser`, every
        layer) of the members whose loss is their Concrete objective (:meth:`batch_loss`): in the weights
        (:func:`~mcdropout.nn.concrete.add_weight_term_gradient`) and in the rates' logits
        (:func:`~mcdropout.nn.concrete.rate_term_gradient`)."""
        net, ls = self.net, self.length_scale
        members = slice(None, net.leading_concrete)  # the members batch_loss gave the objective (None: all)
        n = self.n_train
        if isinstance(n, torch.Tensor):
            n = n[members]
        through = net.concrete[members].to(net.p_logit.dtype)  # 0 where the objective is not a member's loss
        # the learned rates of every member (a fixed member's p may be 0, where the rate term's log is not finite;
        # its term is multiplied by 0 anyway)
        rates = torch.sigmoid(net.p_logit.detach()[:, members])
        if net.p_logit.grad is None:
            net.p_logit.grad = torch.zeros_like(net.p_logit)
        for i, w in enumerate(net.weights):
            p = net.input_p[members] if i == 0 else rates[i - 1]  # the input rate is fixed: no rate term
            w_m = w[members]
            add_weight_term_gradient(w.grad[members], p, w_m, n, ls, through)
            if i > 0:
                net.p_logit.grad[i - 1, members].add_(
                    rate_term_gradient(p, w_m.pow(2).sum(dim=(-2, -1)), w.shape[1], n, ls, through))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch  # a number of epochs; their batches are drawn from tensors already on the device

    def training_step(self, epochs: int, batch_idx: int) -> None:
        """``epochs`` epochs (one Lightning step, a block: Lightning's loop runs once per block, not per epoch):
        an optimiser step per mini-batch, then the epoch's validation and bookkeeping (:meth:`end_epoch`)."""
        plain = self.plain_steps
        opt = self.optimizers(use_pl_optimizer=not plain)
        if plain and FusedAdamStep.applies(opt):
            if self._fused_step is None or self._fused_step.opt is not opt:
                self._fused_step = FusedAdamStep(opt)
            step = self._fused_step
        else:
            step = opt.step
        for _ in range(epochs):
            for batch in TensorBatches(self, self.batch_size):
                loss = self.batch_loss(batch)
                opt.zero_grad()
                if plain:
                    loss.backward()
                else:
                    self.manual_backward(loss)
                if self.net.has_concrete:
                    self._add_concrete_regulariser_gradient()
                if self.l2 is not None:
                    self._add_l2_gradient()
                step()
            self.end_epoch()
            self._trim_heap()

    @torch.no_grad()
    def _add_l2_gradient(self) -> None:
        """The gradient of each member's L2 term ``l2 * ||W||^2`` (weight matrices), ``2 l2 W``, added in closed
        form: the same sum as through autograd (doubling is exact), without its six ops per matrix."""
        for w in self.net.weights:
            w.grad.addcmul_(w, self.two_l2)

    def batch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The sum over members of their objectives on one mini-batch (and its losses added to the epoch's)."""
        x, y = batch
        out = self.net(x)
        losses = self.task.member_losses(out, y)
        metric = None if self.task.metric_from_loss else self.task.member_metric(out, y, losses).detach()
        self._epoch_sums.append((losses.detach(), metric, y.shape[-1]))  # the clean loss, as the history shows
        if (eps := self.adversarial_eps) is not None:
            losses = losses + self.task.member_losses(self.net(fgsm(self.net, self.task, x, y, eps)), y)
        if self.net.has_concrete:
            k = self.net.leading_concrete
            if k is not None:  # the Concrete objective of those k members alone
                losses = torch.cat([self.concrete_objective(losses[:k], slice(None, k)), losses[k:]])
            else:
                losses = torch.where(self.net.concrete, self.concrete_objective(losses), losses)
        return losses.sum()  # the L2 terms' gradients are added after the backward pass (_add_l2_gradient)

    def end_epoch(self) -> None:
        """The epoch's train and val losses and metrics into the history; divergence check, learned rates,
        early stopping."""
        losses, metrics, rows = zip(*self._epoch_sums)
        self._epoch_sums.clear()
        if len(rows) == 1:
            train_loss, mean_metric = losses[0], metrics[0]
        else:  # means weighted by the batches' rows
            n = torch.tensor(rows, dtype=losses[0].dtype, device=losses[0].device)[:, None]
            total = float(sum(rows))
            train_loss = (torch.stack(losses) * n).sum(0) / total
            mean_metric = None if metrics[0] is None else (torch.stack(metrics) * n).sum(0) / total
        train_metric = self.task.epoch_metric(train_loss, mean_metric)
        if self.validate_each_epoch:
            was_training = self.net.training
            self.net.eval()
            with torch.no_grad():
                val_loss, val_metric = self.validate()
            self.net.train(was_training)
        else:
            val_loss = val_metric = torch.full_like(train_loss, float("nan"))
        row = torch.stack([train_loss, val_loss, train_metric, val_metric])
        self.history.append(row)
        epoch = len(self.history) - 1
        if epoch % CHECK_EVERY == 0 or epoch + 1 == self.epochs:
            self._check_finite(train_loss, val_loss, epoch)
        if self.net.has_concrete:
            self.p_history.append(self.net.rates().detach())
        if self.early_stop is not None:
            self._early_stopping_step(val_loss, len(self.history) - 1)
        # No self.log: Lightning's result collection cost a third of an epoch of a tiny model; the
        # progress callback reads the history (``mean_losses``) instead.

    def validate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``[M]`` val losses and metrics of the current weights (in the net's current mode)."""
        if self.data_of is None:
            out = self.net(self.val_x)
            loss = self.task.member_losses(out, self.val_y)
            return loss, self.task.member_metric(out, self.val_y, loss)
        rows = self.member_rows("val")
        loss = metric = torch.zeros(len(rows), device=rows.device)
        for n in self.val_counts:
            x, y = self.val_x[self.data_of, :n], self.val_y[self.data_of, :n]
            out = self.net(x)
            these = self.task.member_losses(out, y)
            loss = torch.where(rows == n, these, loss)
            metric = torch.where(rows == n, self.task.member_metric(out, y, these), metric)
        return loss, metric

    def mean_losses(self) -> tuple[float, float]:
        """Train and val loss of the last epoch, mean over members (progress output; waits for the device; the
        val loss is NaN without per-epoch validation)."""
        means = self.history[-1].mean(dim=1)
        return float(means[0]), float(means[1])

    def _check_finite(self, train_loss: torch.Tensor, val_loss: torch.Tensor, epoch: int) -> None:
        bad = ~torch.isfinite(train_loss)
        if self.validate_each_epoch:
            bad |= ~torch.isfinite(val_loss)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise DivergedError(f"training diverged (non-finite loss) for member {first} of {len(bad)} by epoch "
                                f"{epoch + 1}; lower the learning rate (train.lr = {self.lr:g})", first)

    def _early_stopping_step(self, val_loss: torch.Tensor, epoch: int) -> None:
        """The rule of :func:`early_stopping`, for all members at once."""
        active = self.early_stop & ~self.stopped
        on_cpu = active.device.type == "cpu"  # on the CPU, skip what changes nothing (no device sync on a GPU)
        if on_cpu and not bool(active.any()):
            return  # every early-stopping member has stopped
        better = active & (val_loss < self.best_val)
        self.best_val = torch.where(better, val_loss, self.best_val)
        self.best_epoch = torch.where(better, torch.full_like(self.best_epoch, epoch), self.best_epoch)
        if not on_cpu or bool(better.any()):
            with torch.no_grad():
                for kept, current in zip(self.best_state, self._member_tensors()):
                    kept[better] = current.detach()[better]
        stop = active & (epoch - self.best_epoch >= self.patience)
        self.stop_epoch = torch.where(stop, torch.full_like(self.stop_epoch, epoch), self.stop_epoch)

    @property
    def stopped(self) -> torch.Tensor:
        return self.stop_epoch >= 0

    def on_train_end(self) -> None:
        """Early-stopping members get back the weights of their best epoch."""
        if self.early_stop is None:
            return
        with torch.no_grad():
            for kept, current in zip(self.best_state, self._member_tensors()):
                current[self.early_stop] = kept[self.early_stop]
        last = torch.full_like(self.stop_epoch, len(self.history) - 1)
        self.stop_epoch = torch.where(self.early_stop & ~self.stopped, last, self.stop_epoch)

    def history_array(self) -> torch.Tensor:
        """``[epochs, 4, M]`` on the CPU (one device sync, at the end)."""
        return torch.stack(self.history).cpu() if self.history else torch.empty(0, 4, self.net.n_members)

    def p_history_array(self) -> torch.Tensor | None:
        """``[epochs, layers, M]`` rates per epoch on the CPU, or None without Concrete members."""
        return torch.stack(self.p_history).cpu() if self.p_history else None
