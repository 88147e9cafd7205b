"""Dropout masks from cheap random bits, for MC sampling and for training alike.

On the CPU a mask entry is a 16-bit uniform integer, four to a 64-bit word of numpy's SFC64
generator, compared with ``round(p * 2^16)``: an element-wise Bernoulli mask whose drop
rate is exactly ``round(p * 2^16) / 2^16``, within 2^-17 of p. ``torch.rand`` draws a
32-bit mt19937 float per element; SFC64 gives 64-bit words about twice as fast, so a mask
costs about a quarter of the random bits' time (a third of a small model's training step
went to ``torch.rand``). Each call seeds a fresh SFC64 from torch's CPU generator, so
``torch.manual_seed`` (and Lightning's ``seed_everything``) governs the masks.

On a GPU, masks come from ``torch.rand`` on the device (Philox, no host round trip).
"""

from __future__ import annotations

import math

import numpy as np
import torch


class Bits:
    """Uniform 16-bit integers, four to a 64-bit word of numpy's SFC64, seeded from torch's CPU generator."""

    def __init__(self) -> None:
        entropy = torch.randint(0, 2**62, (2,), dtype=torch.int64).tolist()
        self._generator = np.random.SFC64(np.random.SeedSequence(entropy))

    def int16(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A new ``int16`` tensor of ``shape``, each entry uniform on [-2^15, 2^15)."""
        n = math.prod(shape)
        words = self._generator.random_raw(-(-n // 4))
        return torch.from_numpy(words.view(np.int16)[:n]).view(shape)

    def keep(self, out: torch.Tensor, p: float) -> torch.Tensor:
        """Fill ``out`` (new, contiguous) with a 0/1 keep mask, Bernoulli(1 - p) to within 2^-17, in its dtype."""
        return torch.ge(self.int16(tuple(out.shape)), threshold(p), out=out)


def threshold(p: float) -> int:
    """Signed 16-bit uniforms ``u`` satisfy ``P(u >= threshold) = 1 - round(p 2^16) / 2^16`` (32768: drop all)."""
    return int(round(min(max(p, 0.0), 1.0) * 2**16)) - 2**15


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Boolean mask, each entry True (kept) with probability ``1 - p`` (on the CPU: to within 2^-17)."""
    if device.type != "cpu":
        return torch.rand(shape, device=device) >= p
    if threshold(p) >= 2**15:
        return torch.zeros(shape, dtype=torch.bool)
    return Bits().keep(torch.empty(shape, dtype=torch.bool), p)


def member_levels(p: torch.Tensor) -> torch.Tensor:
    """``[M]`` int16 thresholds of :func:`member_mask` (:func:`threshold` of each rate in [0, 1): below 2^15)."""
    return torch.tensor([min(threshold(float(q)), 2**15 - 1) for q in p], dtype=torch.int16, device=p.device)


def member_mask(shape: tuple[int, ...], p: torch.Tensor, levels: torch.Tensor, scale: torch.Tensor,
                bits: Bits | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """Inverted-dropout masks of stacked members: ``[M, ...]`` holding ``scale[m] = 1 / (1 - p[m])`` where member
    ``m`` keeps an entry (probability ``1 - p[m]``) and 0 where it drops it. ``p``, ``levels``
    (:func:`member_levels`) and ``scale``: ``[M]`` or already shaped ``[M, 1, ...]``, on the mask's device,
    computed once per model (a tiny model's step is mostly per-op overhead). Multiplying the activations by the
    mask is the whole dropout (one multiply, forward and backward). ``out``: a contiguous tensor of ``shape`` to
    write the mask into."""
    view = (len(p),) + (1,) * (len(shape) - 1)
    if p.device.type != "cpu":
        keep = torch.rand(shape, device=p.device, dtype=scale.dtype) >= p.view(view)
        return keep * scale.view(view) if out is None else torch.mul(keep, scale.view(view), out=out)
    # The compare writes 0/1 in the mask's dtype and the scale multiplies in place: the same values as
    # torch.where(keep, scale, 0) or a bool mask times the scale, in a tenth and a sixth of their time
    # (a bool operand of a float multiply is first copied to float on the CPU).
    keep = torch.empty(shape, dtype=scale.dtype) if out is None else out
    torch.ge((bits or Bits()).int16(shape), levels.to(torch.int16).view(view), out=keep)
    return keep.mul_(scale.view(view))
