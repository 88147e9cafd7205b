"""Many MLPs trained as one: weights stacked along a leading member dimension.

Every member has its own dropout rate, initial weights and masks; a forward pass is a
batched matrix product ``[M, N, in] @ [M, in, out]``. Summing the members' losses keeps
their gradients independent (Adam is element-wise, so the optimiser state is too).
This is how a whole dropout sweep uses one GPU, or both CPU cores, at once.

Dropout at fixed rates multiplies the activations by a mask (per layer and pass) whose entries are 0 or
``1 / (1 - p_m)`` (:func:`mcdropout.nn.masks.member_mask`: on the CPU 16-bit SFC64 uniforms, drop rate
within 2^-17 of p; a pass's masks come from one generator seeded from torch's, so the global seed
governs them).

Members built with Concrete dropout (``MLP(dropout="concrete")``) learn one rate per
hidden layer, held in ``p_logit`` ``[layers, M]`` (unused entries for fixed members get
no gradient): they train with the relaxed mask next to the fixed-rate members.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mcdropout.nn.concrete import ConcreteDropout, relaxed_drop, relaxed_keep
from mcdropout.nn.masks import Bits, member_levels, member_mask
from mcdropout.nn.model import ACTIVATIONS, MLP


class StackedMLP(nn.Module):
    def __init__(self, mlps: Sequence[MLP]) -> None:
        super().__init__()
        first = mlps[0].config
        keys = ("in_dim", "out_dim", "hidden", "activation")
        if any(m.config[k] != first[k] for m in mlps for k in keys):
            raise ValueError("stacked members must share in_dim, out_dim, hidden sizes and activation")
        self.config = {k: first[k] for k in keys}
        n_layers = len(mlps[0].linears)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m.linears[i].weight.detach().T for m in mlps]).contiguous())
            for i in range(n_layers)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m.linears[i].bias.detach()[None, :] for m in mlps]).contiguous())
            for i in range(n_layers)
        )
        self.member_configs = [dict(m.config) for m in mlps]  # exact Python floats for checkpoints
        self.register_buffer("p", torch.tensor([m.config["p"] for m in mlps], dtype=torch.float32))
        self.register_buffer("input_p", torch.tensor([m.config["input_p"] for m in mlps], dtype=torch.float32))
        concrete = [m.config.get("dropout") == "concrete" for m in mlps]
        # what the masks of the fixed rates need, computed once (see masks.member_mask)
        self.dropping = {}  # rates -> whether any member drops at those rates (no device sync per pass)
        for name in ("p", "input_p"):
            rate = getattr(self, name)
            self.dropping[name] = bool((rate > 0).any())
            # int32 here (DDP's buffer broadcast has no int16), int16 where compared
            self.register_buffer(f"{name}_levels", member_levels(rate).int(), persistent=False)
            self.register_buffer(f"{name}_scale", 1.0 / (1.0 - rate), persistent=False)
        self._mask_parts: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # see _mask
        self.register_buffer("concrete", torch.tensor(concrete, dtype=torch.bool))
        self.has_concrete = any(concrete)
        # Concrete members listed first (as `compare` does): the relaxed mask is computed for them alone.
        k = sum(concrete)
        self.leading_concrete = k if concrete == [True] * k + [False] * (len(concrete) - k) else None
        n_hidden = n_layers - 1
        logits = torch.zeros(n_hidden, len(mlps))
        for i, m in enumerate(mlps):
            for j, layer in enumerate(x for x in m if isinstance(x, ConcreteDropout)):
                logits[j, i] = layer.p_logit.detach()
        if self.has_concrete:
            self.p_logit = nn.Parameter(logits)
        else:  # a buffer: DDP rejects parameters that never get a gradient
            self.register_buffer("p_logit", logits)
        self.act = ACTIVATIONS[first["activation"]]()
        self.temperature = next((m.config["temperature"] for m in mlps if "temperature" in m.config), 0.1)

    @property
    def n_members(self) -> int:
        return len(self.p)

    def _dropout(self, h: torch.Tensor, rates: str, bits: Bits, members: slice = slice(None)) -> torch.Tensor:
        """Inverted dropout of ``members`` at their fixed rates ``rates`` (``"p"``, ``"input_p"``)."""
        if not self.training or not self.dropping[rates]:
            return h
        return h * self._mask(tuple(h.shape), rates, bits, members, h.dtype)

    def _mask(self, shape: tuple[int, ...], rates: str, bits: Bits, members: slice, dtype: torch.dtype,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """The inverted-dropout mask of ``members`` at their fixed rates (:func:`~mcdropout.nn.masks.member_mask`).

        The rates, thresholds and scales of ``members``, sliced, cast and shaped for the mask, are kept from the
        first pass (per device and dtype: the rates are fixed): five ops fewer a mask, a tenth of a small
        model's forward pass."""
        key = (rates, members.start, members.stop, len(shape), dtype, self.p.device)
        parts = self._mask_parts.get(key)
        if parts is None:
            view = (-1,) + (1,) * (len(shape) - 1)
            levels = getattr(self, f"{rates}_levels")[members].to(torch.int16)
            parts = (getattr(self, rates)[members].view(view), levels.view(view),
                     getattr(self, f"{rates}_scale")[members].to(dtype).view(view))
            self._mask_parts[key] = parts
        return member_mask(shape, *parts, bits, out=out)

    def rates(self) -> torch.Tensor:
        """``[layers, M]``: each member's rate at each hidden dropout layer (learned or fixed)."""
        return torch.where(self.concrete, torch.sigmoid(self.p_logit), self.p)

    def layer_p(self, j: int) -> torch.Tensor:
        """``[M]``: each member's rate at hidden dropout layer ``j`` (learned or fixed)."""
        return self.rates()[j]

    def _hidden_dropout(self, h: torch.Tensor, j: int, bits: Bits) -> torch.Tensor:
        if not self.has_concrete:
            return self._dropout(h, "p", bits)
        if not self.training:
            return h
        if (k := self.leading_concrete) is not None and torch.is_grad_enabled():
            # the k Concrete members' relaxed masks and the others' fixed-rate masks in one buffer, the rates'
            # gradient summed in closed form (_ConcreteHeadMul; autograd through the relaxed masks' ops, and
            # through slices and joins of the stacks, was about half of a comparison's step)
            u = torch.rand((k, *h.shape[1:]), device=h.device, dtype=h.dtype)
            mask = torch.empty(h.shape, device=h.device, dtype=h.dtype)
            with torch.no_grad():
                mask[:k], slope = relaxed_keep(torch.sigmoid(self.p_logit[j, :k])[:, None, None], u,
                                               self.temperature)
            if self.dropping["p"]:  # the others' masks written in place after the head's rows
                self._mask(tuple(mask[k:].shape), "p", bits, slice(k, None), h.dtype, out=mask[k:])
            else:
                mask[k:] = 1.0
            return _ConcreteHeadMul.apply(h, mask, self.p_logit, j, slope)
        p = self.layer_p(j)[:, None, None]
        u = torch.rand(h.shape, device=h.device, dtype=h.dtype)
        if not torch.is_grad_enabled():
            drop = (u < p).to(h.dtype)  # exact Bernoulli(p) drop indicator
        else:  # Concrete members: the relaxed indicator, differentiable in p
            drop = torch.where(self.concrete[:, None, None], relaxed_drop(p, u, self.temperature),
                               (u < p).to(h.dtype))
        return h * (1 - drop) / (1 - p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, in]`` shared by all members, or ``[M, N, in]``. Returns ``[M, N, out]``."""
        if x.dim() == 2:
            x = x.expand(self.n_members, *x.shape)
        bits = Bits() if self.training and x.device.type == "cpu" else None  # this pass's masks (CPU)
        h = self._dropout(x, "input_p", bits)
        last = len(self.weights) - 1
        narrow = (x.device.type == "cpu" and self.config["out_dim"] <= NARROW_OUTPUTS
                  and not torch.is_autocast_enabled("cpu"))  # _NarrowLinear's backward has no autocast of its own
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if i < last:
                h = self._hidden_dropout(self.act(torch.baddbmm(b, h, w)), i, bits)
            else:
                h = _NarrowLinear.apply(h, w, b) if narrow else torch.baddbmm(b, h, w)
        return h

    def member(self, i: int) -> MLP:
        """Member ``i`` as a plain :class:`MLP` on the CPU."""
        mlp = MLP(**self.member_configs[i])
        with torch.no_grad():
            for lin, w, b in zip(mlp.linears, self.weights, self.biases):
                lin.weight.copy_(w[i].T.cpu())
                lin.bias.copy_(b[i, 0].cpu())
            for j, layer in enumerate(x for x in mlp if isinstance(x, ConcreteDropout)):
                layer.p_logit.copy_(self.p_logit[j, i].cpu())
        return mlp


NARROW_OUTPUTS = 16  # on the CPU, an output layer this narrow or narrower is computed by _NarrowLinear


class _NarrowLinear(torch.autograd.Function):
    """``torch.baddbmm(b, h, w)`` for a narrow output layer on the CPU (``w``: ``[M, in, out]``, ``out`` a few
    columns), each product in the orientation that MKL's batched GEMM is fast at.

    With ``out`` this small, ``[M, N, in] @ [M, in, out]`` and the weights' gradient ``h^T @ g`` ran at a fraction
    of the speed of the same products transposed, ``(w^T @ h^T)^T`` and ``(g^T @ h)^T``; for one output the
    inputs' gradient ``g @ w^T`` is an outer product, a broadcast multiply. The layer's forward and backward
    take 1.1-4x less time so (``benchmarks/output_layer.py``: 27 members x 200 rows x 1 output 2484 -> 831 us; a
    whole two-moons sweep fit 1.06-1.12x). Output and gradients are the same to float rounding (their sums run
    in another order)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, w)
        return torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        h, w = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad
        w_t = w.transpose(1, 2)
        grad_h = (grad * w_t if w.shape[2] == 1 else torch.bmm(grad, w_t)) if need_h else None
        grad_w = torch.bmm(grad.transpose(1, 2), h).transpose(1, 2) if need_w else None
        return grad_h, grad_w, grad.sum(1, keepdim=True) if need_b else None


class _ConcreteHeadMul(torch.autograd.Function):
    """``h * mask``, the first ``k`` rows of ``mask`` being the Concrete members' relaxed keep masks at hidden layer
    ``j`` and ``slope`` their derivatives in the rates' logits (:func:`~mcdropout.nn.concrete.relaxed_keep`); the
    other rows hold fixed-rate masks. The gradient in ``p_logit`` is autograd's chain rule summed in closed form:
    ``sum(grad * h * slope)`` over each member's rows and units (the same value to float rounding)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, mask: torch.Tensor, p_logit: torch.Tensor, j: int,
                slope: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, mask, slope)
        ctx.j, ctx.rates_shape = j, p_logit.shape
        return h * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, torch.Tensor, None, None]:
        h, mask, slope = ctx.saved_tensors
        k = len(slope)
        rates_grad = torch.zeros(ctx.rates_shape, device=grad.device, dtype=grad.dtype)
        rates_grad[ctx.j, :k] = (grad[:k] * h[:k] * slope).sum(dim=(1, 2))
        return grad * mask, None, rates_grad, None, None
