"""Many MLPs trained as one: weights stacked along a leading member dimension.

Every member has its own dropout rate, initial weights and masks; a forward pass is a
batched matrix product ``[M, N, in] @ [M, in, out]``. Summing the members' losses keeps
their gradients independent (Adam is element-wise, so the optimiser state is too).
This is how a whole dropout sweep uses one GPU, or both CPU cores, at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from mcdropout.model import MLP

_ACT = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "elu": F.elu}


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

    @property
    def n_members(self) -> int:
        return len(self.p)

    def _dropout(self, h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if not self.training or not bool((p > 0).any()):
            return h
        p = p[:, None, None]
        keep = torch.rand(h.shape, device=h.device, dtype=h.dtype) >= p
        return h * keep / (1 - p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, in]`` shared by all members, or ``[M, N, in]``. Returns ``[M, N, out]``."""
        if x.dim() == 2:
            x = x.expand(self.n_members, *x.shape)
        h = self._dropout(x, self.input_p)
        act = _ACT[self.config["activation"]]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self._dropout(act(h), self.p)
        return h

    def member(self, i: int) -> MLP:
        """Member ``i`` as a plain :class:`MLP` on the CPU."""
        mlp = MLP(**self.member_configs[i])
        with torch.no_grad():
            for lin, w, b in zip(mlp.linears, self.weights, self.biases):
                lin.weight.copy_(w[i].T.cpu())
                lin.bias.copy_(b[i, 0].cpu())
        return mlp
