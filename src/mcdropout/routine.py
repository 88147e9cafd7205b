"""The Lightning routine: trains a :class:`StackedMLP` (one member for a single run).

Kept cheap for tiny models: the data live on the device as tensors and are served by
a plain iterable (no DataLoader workers or collation); validation runs in-process at
the end of each training epoch on the whole val split with dropout off, instead of
Lightning's validation loop; per-member histories accumulate on the device and are
read once at the end, so logging never forces a device sync per step.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from mcdropout.stacked import StackedMLP

HISTORY_KEYS = ("train/loss", "val/loss", "train/metric", "val/metric")


def metric_name(task: str) -> str:
    return "rmse" if task == "regression" else "accuracy"


def member_losses(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean loss ``[M]`` for outputs ``[M, N, 1]`` and targets ``[N]``."""
    out = out[..., 0]
    target = y.expand_as(out)
    if task == "regression":
        return F.mse_loss(out, target, reduction="none").mean(dim=1)
    return F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(dim=1)


def member_metric(task: str, out: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
    if task == "regression":
        return loss.sqrt()
    return ((out[..., 0] > 0).float() == y).float().mean(dim=1)


class TensorBatches:
    """An iterable of ``(x, y)`` batches over device tensors; reshuffled every epoch."""

    def __init__(self, routine: DropoutRoutine, batch_size: int) -> None:
        self.routine = routine
        self.batch_size = batch_size

    def __len__(self) -> int:
        n = len(self.routine.train_y)
        return 1 if self.batch_size <= 0 else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.routine.train_x, self.routine.train_y
        if self.batch_size <= 0 or self.batch_size >= len(y):
            yield x, y
            return
        order = torch.randperm(len(y), device=y.device)
        for idx in order.split(self.batch_size):
            yield x[idx], y[idx]


class DropoutRoutine(pl.LightningModule):
    def __init__(
        self,
        net: StackedMLP,
        task: str,
        train_xy: tuple[torch.Tensor, torch.Tensor],
        val_xy: tuple[torch.Tensor, torch.Tensor],
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 0,
        l2: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.task = task
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.register_buffer("train_x", train_xy[0], persistent=False)
        self.register_buffer("train_y", train_xy[1], persistent=False)
        self.register_buffer("val_x", val_xy[0], persistent=False)
        self.register_buffer("val_y", val_xy[1], persistent=False)
        # Per-member L2 on weight matrices, added to each member's loss (Keras-style
        # kernel regulariser, as in the UCI protocol); None: no such term.
        self.register_buffer("l2", l2, persistent=False)
        self._epoch_sums: list[torch.Tensor] = []
        self.history: list[torch.Tensor] = []  # one [4, M] tensor per epoch, HISTORY_KEYS order

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(self, self.batch_size)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        out = self.net(x)
        losses = member_losses(self.task, out, y)
        metric = member_metric(self.task, out, y, losses)
        n = torch.tensor(float(len(y)), device=y.device)
        self._epoch_sums.append(torch.stack([losses.detach() * n, metric.detach() * n, n.expand_as(losses)]))
        if self.l2 is not None:
            losses = losses + self.l2 * sum(w.pow(2).sum(dim=(1, 2)) for w in self.net.weights)
        return losses.sum()

    def on_train_epoch_end(self) -> None:
        sums = torch.stack(self._epoch_sums).sum(0)
        self._epoch_sums.clear()
        train_loss, train_metric = sums[0] / sums[2], sums[1] / sums[2]
        if self.task == "regression" and self.batch_size > 0:
            train_metric = train_loss.sqrt()  # RMSE of the epoch, not a mean of batch RMSEs
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            out = self.net(self.val_x)
            val_loss = member_losses(self.task, out, self.val_y)
            val_metric = member_metric(self.task, out, self.val_y, val_loss)
        self.net.train(was_training)
        row = torch.stack([train_loss, val_loss, train_metric, val_metric])
        self.history.append(row)
        # Mean over members: what Lightning callbacks (progress, early stopping) see.
        name = metric_name(self.task)
        means = row.mean(dim=1)
        self.log_dict(
            {"train/loss": means[0], "val/loss": means[1], f"train/{name}": means[2], f"val/{name}": means[3]},
            on_epoch=True,
            prog_bar=False,
            logger=False,
        )

    def history_array(self) -> torch.Tensor:
        """``[epochs, 4, M]`` on the CPU (one device sync, at the end)."""
        return torch.stack(self.history).cpu() if self.history else torch.empty(0, 4, self.net.n_members)
