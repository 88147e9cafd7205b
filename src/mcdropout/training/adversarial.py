"""Adversarial training by the fast gradient sign method (Goodfellow et al. 2015), as Lakshminarayanan et al.
(2017) use it for deep ensembles: each mini-batch adds the loss at ``x' = x + eps * sign(grad_x loss)``, a point
nearby where the member's loss rises fastest, to the loss at ``x`` (``eps``: 1% of each input's range there).

Members are independent: each member's perturbation follows the gradient of its own loss on its own rows.
"""

from __future__ import annotations

import torch
from torch import nn

from mcdropout.core.tasks import Task


def fgsm(net: nn.Module, task: Task, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The perturbed inputs ``[M, b, in]`` of a batch: ``x`` (``[b, in]`` shared by all members, or ``[M, b, in]``)
    moved by ``eps`` (``[M, in]``: per member and input) in the sign of the gradient of each member's loss
    (``task.member_losses`` of ``net(x)`` against ``y``). Nothing of ``net``'s gradients is touched."""
    members = eps.shape[0]
    x = (x.expand(members, *x.shape) if x.dim() == 2 else x).detach().requires_grad_()
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(task.member_losses(net(x), y).sum(), x)
    return (x + eps[:, None, :] * grad.sign()).detach()


def input_ranges(x: torch.Tensor) -> torch.Tensor:
    """``[in]``: each column's range (max - min) over the rows ``x`` ``[N, in]``."""
    return x.max(dim=0).values - x.min(dim=0).values
