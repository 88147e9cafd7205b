"""Two ways to predict with one trained model: dropout off, and Monte Carlo dropout.

``predict_mc`` works for any ``nn.Module`` with dropout layers: only the dropout layers
are switched to train mode (BatchNorm and friends stay in eval mode), T passes are run
and stacked into ``[T, N, out]``.

The fast path takes any module that ``torch.fx`` can trace (an ``nn.Sequential`` like our
:class:`~mcdropout.nn.model.MLP`, a residual network, ...; :mod:`mcdropout.inference.plan` finds the
dropout sites, and keeps the trace for the next call) and gives the same distribution as
T full passes:

* the nodes that no dropout reaches (the deterministic prefix) run once on the N points;
* the rest runs on blocks of t samples x n points (``[t * n, ...]`` rows): on the CPU
  blocks whose widest activation is ``BLOCK_BYTES`` (they stay in cache), on a GPU blocks
  of ``chunk`` rows (fewer launches; 2^20 by default there, a quarter of that elsewhere);
* on the CPU, masks are 16-bit uniform integers from numpy's SFC64 generator
  (:mod:`mcdropout.nn.masks`: seeded from torch's CPU generator, so ``torch.manual_seed`` and
  ``seed`` govern them; drop rate within 2^-17 of p), about a quarter of the time of
  ``F.dropout``'s 32-bit mt19937 float per element;
* the compare writes a 0/1 float mask that multiplies the activations in place where they
  are a temporary, and the 1 / (1 - p) scale is folded into the weight of the ``nn.Linear``
  that reads the dropout's output (elsewhere it is one more multiply).
  On CUDA, ``F.dropout`` (one fused kernel drawing Philox uniforms) is used as it is, out of
  place (its in-place form is not the fused kernel).

Measured with ``benchmarks/mc_sampling.py`` (N = 10,000, T = 100), speed-up over the naive
loop on 2 pinned cores of an Intel Xeon, two runs: seed MLP 7.0-7.3x, UCI network with input
dropout 5.0-5.6x, residual network 5.2-5.7x (peers 0.64-1.10x). Tried there and dropped: drawing half of the
bits on a second thread (numpy releases the GIL) was not consistently faster; blocks of 1 to
8 MiB had no consistent winner, so 2 MiB stays.

Models the tracer cannot take (data-dependent control flow, random calls outside dropout
layers, more than one input, ...) fall back to the loop: one full pass per sample.

Memory is bounded by ``chunk``: at most that many rows (samples x points) are in flight.

On an H100 (N = 10,000, T = 100, one process, side by side), speed-up over the naive loop with
``F.dropout`` in place and 2^18-row blocks against out of place and 2^20-row blocks: seed MLP
4.0x -> 6.8x, UCI network 8.2x -> 14.4x, residual network 2.3x -> 3.3x.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from mcdropout.inference.plan import DROPOUT_TYPES, Dropout, Plan, build_plan, is_dropout
from mcdropout.nn.masks import Bits, keep_mask, threshold

__all__ = ["DEFAULT_CHUNK", "DROPOUT_TYPES", "GPU_CHUNK", "default_chunk", "has_dropout", "is_dropout", "keep_mask",
           "model_device", "predict_mc", "predict_mc_blocks", "predict_standard"]

# Rows (samples x points) in flight at most: the memory bound (128 MiB of a 128-wide float32
# activation). The fast path's blocks on the CPU are smaller (BLOCK_BYTES); on a GPU the default
# is GPU_CHUNK (fewer, larger launches: measured 10-30% faster than 2^18 on an H100).
DEFAULT_CHUNK = 1 << 18
GPU_CHUNK = 1 << 20
# Bytes of a block's widest activation on the fast path: blocks that stay in the CPU cache
# (measured on 2 cores: 4096 rows of the 128-wide MLP, 8-16k rows of the 50-wide UCI network).
BLOCK_BYTES = 2 << 20
METHODS = ("auto", "fast", "loop")


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def has_dropout(model: nn.Module) -> bool:
    return any(is_dropout(m) for m in model.modules())


@contextmanager
def _mode(model: nn.Module, dropout_on: bool) -> Iterator[None]:
    """Eval mode everywhere, dropout layers in train mode if ``dropout_on``; restore after."""
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    if dropout_on:
        for m in model.modules():
            if is_dropout(m):
                m.train()
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def default_chunk(device: torch.device) -> int:
    return GPU_CHUNK if device.type == "cuda" else DEFAULT_CHUNK


def predict_standard(model: nn.Module, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Dropout off (weights as trained, no rescaling needed: inverted dropout). ``[N, out]``."""
    device = model_device(model)
    chunk = chunk or default_chunk(device)
    with _mode(model, dropout_on=False), torch.no_grad():
        return torch.cat([model(xb.to(device)) for xb in x.split(chunk)])


def _cpu_dropout(bits: Bits) -> Dropout:
    """The fast path's dropout on the CPU (see :data:`mcdropout.inference.plan.Dropout`)."""

    def dropout(x: torch.Tensor, p: float, scale: float, owned: bool, t: int) -> torch.Tensor:
        shape = (t * x.shape[0], *x.shape[1:])
        if threshold(p) >= 2**15:
            return x.new_zeros(shape)
        mask = bits.keep(torch.empty(shape, dtype=x.dtype), p)
        if t > 1:  # x: n rows shared by the t samples
            out = mask.view(t, *x.shape).mul_(x).view(shape)
        elif owned:
            out = x.mul_(mask)
        else:
            out = mask.mul_(x)
        return out.mul_(scale) if scale != 1.0 else out

    return dropout


def _torch_dropout(x: torch.Tensor, p: float, scale: float, owned: bool, t: int) -> torch.Tensor:
    """The fast path's dropout elsewhere: ``F.dropout``, which applies the 1 / (1 - p) scale itself.

    Never in place: on CUDA only the out-of-place call is PyTorch's fused kernel (one read, one
    write and a byte mask); ``dropout_`` draws a float mask, rescales it and multiplies, about twice
    the memory traffic. The t samples read the n shared rows through a broadcast view (no copy).
    """
    if t > 1:
        return F.dropout(x.expand(t, *x.shape), p, training=True).reshape(t * x.shape[0], *x.shape[1:])
    return F.dropout(x, p, training=True)


def _dropout_for(plan: Plan, device: torch.device) -> tuple[Dropout, dict | None]:
    """The fast path's dropout on ``device``, and the Linear weights that absorb its scale (None: none do)."""
    return (_cpu_dropout(Bits()), plan.weights()) if device.type == "cpu" else (_torch_dropout, None)


def predict_mc(
    model: nn.Module,
    x: torch.Tensor,
    samples: int = 100,
    seed: int | None = None,
    chunk: int | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """``samples`` stochastic passes with dropout on, as ``[T, N, out]`` on the model's device.

    ``method``: ``"auto"`` (fast path where the model allows it), ``"fast"`` or ``"loop"``
    (one full pass per sample through the model's own dropout layers). ``chunk``: rows in flight at
    most (default :func:`default_chunk` of the model's device).
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    device = model_device(model)
    chunk = chunk or default_chunk(device)
    x = x.to(device)
    with _mode(model, dropout_on=True), torch.no_grad(), _seeded(seed, device):
        plan = build_plan(model) if method != "loop" else None
        out = _predict_fast(plan, x, samples, chunk, device) if plan is not None else None
        if out is None and method == "fast":
            raise ValueError("the fast path needs a model that torch.fx can trace, with one input and one output, "
                             "whose random calls are dropout layers (see mcdropout.inference.plan)")
        return out if out is not None else _predict_loop(model, x, samples, chunk)


def predict_mc_blocks(model: nn.Module, x: torch.Tensor, samples: int, block: int, seed: int | None = None,
                      chunk: int | None = None, method: str = "auto") -> Iterator[torch.Tensor]:
    """:func:`predict_mc` in blocks of at most ``block`` samples ``[t, N, out]``, one seeded stream: what a
    caller keeps of each block (running moments) bounds the memory, whatever T. With ``block >= samples`` the
    one block is ``predict_mc(model, x, samples, seed)``."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    device = model_device(model)
    with _seeded(seed, device):
        for start in range(0, samples, block):
            yield predict_mc(model, x, min(block, samples - start), chunk=chunk, method=method)


def _blocks(samples: int, points: int, rows: int) -> Iterator[tuple[int, int, int, int]]:
    """``(first sample, samples, first point, end point)`` of blocks of at most ``rows`` rows (at least one)."""
    if points <= rows:
        per = max(1, rows // max(points, 1))
        for s in range(0, samples, per):
            yield s, min(per, samples - s), 0, points
    else:
        for s in range(samples):
            for start in range(0, points, rows):
                yield s, 1, start, min(start + rows, points)


def block_rows(plan: Plan, det: dict, x: torch.Tensor, chunk: int | None = None) -> int:
    """Rows per block of the fast path: ``chunk``, and on the CPU at most ``BLOCK_BYTES`` of the widest activation."""
    chunk = chunk or default_chunk(x.device)
    if x.device.type != "cpu":
        return chunk  # launches cost more than cache misses: as few blocks as memory allows
    return max(1, min(chunk, BLOCK_BYTES // (x.element_size() * plan.width(det))))


def _predict_fast(plan: Plan, x: torch.Tensor, samples: int, chunk: int, device: torch.device) -> torch.Tensor | None:
    """The fast path (module docstring); None where the model turns out not to fit it."""
    det = plan.run_prefix(x)
    if not plan.stochastic_output:  # no dropout reaches the output: every sample is the same
        out = det[plan.output]
        return out.expand(samples, *out.shape).clone() if isinstance(out, torch.Tensor) else None
    n = x.shape[0]
    if plan.check(det, n) is not None:
        return None
    dropout, weights = _dropout_for(plan, device)
    result = None
    for s, t, start, stop in _blocks(samples, n, block_rows(plan, det, x, chunk)):
        out = plan.run_block(plan.rows(det, start, stop), t, dropout, weights)
        if not isinstance(out, torch.Tensor) or not out.dim() or out.shape[0] != t * (stop - start):
            return None
        if result is None:
            result = out.new_empty((samples, n, *out.shape[1:]))
        result[s:s + t, start:stop] = out.view(t, stop - start, *out.shape[1:])
    return result


def _predict_loop(model: nn.Module, x: torch.Tensor, samples: int, chunk: int) -> torch.Tensor:
    return torch.stack([torch.cat([model(xb) for xb in x.split(chunk)]) for _ in range(samples)])
