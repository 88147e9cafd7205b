"""Concrete dropout (Gal, Hron & Kendall, NeurIPS 2017): a dropout layer that learns its rate.

The Bernoulli mask is relaxed to a Concrete (Gumbel-sigmoid) one so that p gets a
gradient during training:

    z = sigmoid((log p - log(1 - p) + log u - log(1 - u)) / t),  u ~ U(0, 1),  t = 0.1
    y = x * (1 - z) / (1 - p)

(z is the relaxed *drop* indicator, as in the authors' code). At prediction time:

* dropout off (``eval()``): identity, the expected mask with inverted scaling;
* MC dropout (train mode under ``torch.no_grad()``, as ``predict_mc`` runs it): exact
  Bernoulli(1 - p) masks with the learned p, like ``nn.Dropout``.

Regulariser of one layer with weights W fed by this layer's K-wide input, N training
points and length-scale l (paper, eq. 3 and the authors' code):

    l^2 / N * ||W||^2 / (1 - p)  +  2 / N * K * (p log p + (1 - p) log(1 - p))

The second term is -2K/N times the entropy of Bernoulli(p): minimising it favours
p = 0.5 unless the data say otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

EPS = 1e-7


class ConcreteDropout(nn.Module):
    is_mc_dropout = True  # predict_mc puts it in train mode, like nn.Dropout

    def __init__(self, init_p: float = 0.1, temperature: float = 0.1) -> None:
        super().__init__()
        if not 0 < init_p < 1:
            raise ValueError(f"init_p must be in (0, 1), got {init_p}")
        self.p_logit = nn.Parameter(torch.tensor(math.log(init_p) - math.log(1 - init_p)))
        self.temperature = temperature

    @property
    def p(self) -> torch.Tensor:
        return torch.sigmoid(self.p_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        p = self.p
        if not torch.is_grad_enabled():  # MC prediction: exact Bernoulli masks
            keep = torch.rand_like(x) >= p
            return x * keep / (1 - p)
        drop = relaxed_drop(p, torch.rand_like(x), self.temperature)
        return x * (1 - drop) / (1 - p)


def relaxed_drop(p: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """The relaxed drop indicator z for uniforms ``u`` (module docstring); differentiable in ``p``."""
    return torch.sigmoid((torch.log(p + EPS) - torch.log(1 - p + EPS) + torch.log(u + EPS) - torch.log(1 - u + EPS))
                         / temperature)


def relaxed_keep(p: torch.Tensor, u: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The relaxed keep mask ``(1 - z) / (1 - p)`` for uniforms ``u``, and its derivative in the rate's logit
    ``a`` (``p = sigmoid(a)``), element by element:

        d mask / d a = p * (mask - c * z * (1 - z)),  c = (1 / (p + EPS) + 1 / (1 - p + EPS)) / t

    (from ``dz/dp = c z (1 - z)`` and ``dp/da = p (1 - p)``), so that the rates' gradient can be summed in closed
    form (see :class:`mcdropout.nn.stacked.StackedMLP`) instead of by autograd through a dozen ops a layer."""
    z = relaxed_drop(p, u, temperature)
    kept = 1 - z
    mask = kept / (1 - p)
    c = (1 / (p + EPS) + 1 / (1 - p + EPS)) / temperature
    return mask, p * (mask - c * (z * kept))


def weight_term(p: torch.Tensor, weight: torch.Tensor, n_train: int, length_scale: float) -> torch.Tensor:
    """``l^2 / N * ||W||^2 / (1 - p)``; the sum of squares runs over the last two dimensions."""
    return length_scale**2 / n_train * weight.pow(2).sum(dim=(-2, -1)) / (1 - p)


def add_weight_term_gradient(grad: torch.Tensor, p: torch.Tensor, weight: torch.Tensor, n_train,
                              length_scale: float, upstream: torch.Tensor) -> torch.Tensor:
    """Add the gradient of :func:`weight_term` in ``weight`` (``[M, in, out]``; ``p`` and ``upstream`` ``[M]``:
    the gradient reaching each member's term), ``upstream / (1 - p) * l^2 / N * 2W``, to ``grad`` in place (one op
    over the weights: a tiny model's step is mostly per-op overhead)."""
    coef = upstream / (1 - p) * (length_scale**2 / n_train)
    return grad.addcmul_(weight, coef[:, None, None], value=2.0)


def rate_term_gradient(p: torch.Tensor, weight_sq: torch.Tensor, input_dim: int, n_train, length_scale: float,
                       upstream: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`concrete_regulariser` in the rate's logit ``a`` (``p = sigmoid(a)``, all ``[M]``;
    ``weight_sq``: ``||W||^2`` per member; ``upstream``: the gradient reaching each member's term):

        (l^2 / N * ||W||^2 / (1 - p)^2 + 2 K / N * log(p / (1 - p))) * p (1 - p)"""
    keep = 1 - p
    slope = (length_scale**2 / n_train * weight_sq / keep**2
             + 2.0 / n_train * input_dim * (torch.log(p) - torch.log(keep)))
    return upstream * slope * (p * keep)


def concrete_regulariser(p: torch.Tensor, weight: torch.Tensor, input_dim: int, n_train: int,
                         length_scale: float) -> torch.Tensor:
    """The paper's per-layer regulariser (see the module docstring).

    ``weight``: one layer's matrix, or a stack ``[M, in, out]`` with ``p`` of shape ``[M]``
    (one value per member); the sum of squares runs over the last two dimensions.
    """
    dropout_term = 2.0 / n_train * input_dim * (p * torch.log(p) + (1 - p) * torch.log(1 - p))
    return weight_term(p, weight, n_train, length_scale) + dropout_term
