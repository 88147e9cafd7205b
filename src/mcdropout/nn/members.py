"""Members: what one trained network of a batch stands for, and how the best is chosen.

A sweep, a comparison and a single run all train a list of :class:`Member` objects as
one stacked model. A member's name is its file and run name; its method says which
regulariser it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mcdropout.nn.checkpoint import CheckpointMeta
    from mcdropout.nn.model import MLP


@dataclass(frozen=True)
class Member:
    p: float  # dropout rate of the hidden layers (Concrete: where the learned rates start)
    seed: int  # initial weights depend on this only
    input_p: float | None = None  # None: model.input_p
    l2: float = 0.0  # coefficient of this member's sum of squared weights (not biases) in its loss
    dropout: str = "fixed"  # "concrete": the member's rates are learned
    early_stopping: bool = False  # keep the weights of the best val loss; stop after compare.patience epochs
    split: int = 0  # the repeat whose data it trains on (Dataset.repeat); not in its name: seeds tell repeats apart

    @property
    def name(self) -> str:
        """File and run name: what the member is, then its seed."""
        if self.dropout == "concrete":
            kind = "concrete"
        elif self.early_stopping:
            kind = "early_stopping" if self.p == 0 else f"p{self.p:g}_early_stopping"
        elif self.l2:
            kind = f"l2_{self.l2:g}" if self.p == 0 else f"p{self.p:g}_l2_{self.l2:g}"
        else:
            kind = f"p{self.p:g}"
        return f"{kind}_seed{self.seed}"

    @property
    def method(self) -> str:
        """The regulariser it stands for: dropout, concrete, l2, early_stopping (or a combination), or none."""
        if self.dropout == "concrete":
            return "concrete"
        parts = (["dropout"] if self.p > 0 else []) + (["l2"] if self.l2 else []) + \
            (["early_stopping"] if self.early_stopping else [])
        return "+".join(parts) or "none"


@dataclass
class MemberOutcome:
    """A trained member: its network, saved checkpoint, metadata and evaluation (here, not in
    :mod:`mcdropout.study.experiment`, so that the tracking helper unpickles it without importing Lightning)."""
    member: Member
    model: MLP | None  # None where only the saved checkpoint matters (what is handed to the tracking helper)
    checkpoint: Path
    meta: CheckpointMeta
    evaluation: dict[str, Any]  # evaluate_model's result ({} when not evaluated)


def best_by_seed_mean(runs: Iterable[dict[str, Any]], key: str, loss: Callable[[dict[str, Any]], float]) -> Any:
    """The value of ``runs[i][key]`` whose runs have the lowest mean ``loss`` (over seeds).

    The rule that picks the sweep's ``best_p`` and the comparison's best weight decay;
    ties go to the value seen first. ``None`` when there are no runs.
    """
    groups: dict[Hashable, list[float]] = {}
    for run in runs:
        groups.setdefault(run[key], []).append(loss(run))
    return min(groups, key=lambda v: float(np.mean(groups[v]))) if groups else None


SELECTION = "lowest seed-mean validation loss, standard inference"
