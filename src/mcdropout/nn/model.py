"""The dropout MLP: a plain ``nn.Sequential`` so any PyTorch code can use it.

input -> [Standardize] -> [Dropout(input_p)] -> {Linear(h), activation, Dropout(p)} per hidden layer
      -> Linear(out) -> [Unstandardize]   (head="heteroscedastic": -> Linear(2) -> GaussianOutput)

The input dropout layer is only present when ``input_p > 0`` (the UCI protocol uses it).
The two affine layers are present when the model was trained on standardised data: they
hold the training statistics, so the saved model takes raw inputs and predicts in the
target's own units (and ``predict_mc`` runs the first one once, as a deterministic prefix).
With ``dropout="concrete"`` the hidden dropout layers are
:class:`~mcdropout.nn.concrete.ConcreteDropout` layers that start at ``p`` and learn their rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mcdropout.core.config import DROPOUT_KINDS, HEADS
from mcdropout.core.tasks import MIN_VARIANCE
from mcdropout.nn.concrete import ConcreteDropout

# Keyed by the names config.ACTIVATIONS accepts (a test checks they agree).
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


class Affine(nn.Module):
    """``(x - shift) / scale`` (``inverse=False``) or ``x * scale + shift``; the statistics are buffers."""

    def __init__(self, shift: Sequence[float], scale: Sequence[float], inverse: bool = False) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(list(shift), dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(list(scale), dtype=torch.float32))
        self.inverse = inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift if self.inverse else (x - self.shift) / self.scale


class GaussianOutput(nn.Module):
    """The heteroscedastic head's last layer: raw outputs ``[..., 2]`` (mean, ``s``) to the mean and the variance in
    the target's units, ``[mu * scale + shift, (softplus(s) + 1e-6) * scale^2]``. Training reads the raw outputs (its
    loss is :class:`~mcdropout.core.tasks.HeteroscedasticRegression`'s, in trained units); a saved model predicts
    both columns in the target's units, as the homoscedastic one's :class:`Affine` does for its mean."""

    def __init__(self, shift: Sequence[float] = (0.0,), scale: Sequence[float] = (1.0,)) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(list(shift), dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(list(scale), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x[..., :1] * self.scale + self.shift
        variance = (nn.functional.softplus(x[..., 1:]) + MIN_VARIANCE) * self.scale**2
        return torch.cat([mean, variance], dim=-1)


class MLP(nn.Sequential):
    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (128, 128),
        p: float = 0.0,
        activation: str = "relu",
        input_p: float = 0.0,
        dropout: str = "fixed",
        temperature: float = 0.1,
        head: str = "homoscedastic",
        x_mean: Sequence[float] | None = None,
        x_std: Sequence[float] | None = None,
        y_mean: Sequence[float] | None = None,
        y_std: Sequence[float] | None = None,
    ) -> None:
        if dropout not in DROPOUT_KINDS:
            raise ValueError(f"dropout must be one of {', '.join(DROPOUT_KINDS)}, got {dropout!r}")
        if head not in HEADS or (head == "heteroscedastic" and out_dim != 2):
            raise ValueError(f"head must be one of {', '.join(HEADS)} (heteroscedastic: out_dim 2), got {head!r} "
                             f"with out_dim {out_dim}")
        layers: list[nn.Module] = []
        if x_mean is not None:
            layers.append(Affine(x_mean, x_std))
        if input_p > 0:
            layers.append(nn.Dropout(input_p))
        width = in_dim
        for h in hidden:
            drop = nn.Dropout(p) if dropout == "fixed" else ConcreteDropout(p, temperature)
            layers += [nn.Linear(width, h), ACTIVATIONS[activation](), drop]
            width = h
        layers.append(nn.Linear(width, out_dim))
        if head == "heteroscedastic":
            layers.append(GaussianOutput(*((y_mean, y_std) if y_mean is not None else ())))
        elif y_mean is not None:
            layers.append(Affine(y_mean, y_std, inverse=True))
        super().__init__(*layers)
        self.config = {
            "in_dim": in_dim,
            "out_dim": out_dim,
            "hidden": list(hidden),
            "p": float(p),
            "activation": activation,
            "input_p": float(input_p),
        }
        if dropout == "concrete":  # fixed-rate configs stay as they were (older checkpoints load)
            self.config.update(dropout="concrete", temperature=float(temperature))
        if head == "heteroscedastic":
            self.config["head"] = head
        stats = {"x_mean": x_mean, "x_std": x_std, "y_mean": y_mean, "y_std": y_std}
        self.config.update({k: [float(v) for v in vals] for k, vals in stats.items() if vals is not None})

    @property
    def learned_p(self) -> list[float]:
        """The current rate of each Concrete dropout layer (empty for fixed dropout)."""
        return [float(m.p.detach()) for m in self if isinstance(m, ConcreteDropout)]

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


def seeded_mlp(seed: int, **config) -> MLP:
    """Build an MLP whose initial weights depend only on ``seed`` (global RNG untouched).

    Sweep members that share a seed share their initial weights, so differences
    between dropout rates are not confounded with differences in initialisation.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(**config)
