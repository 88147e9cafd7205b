"""Handing freed heap memory back to the system during a long CPU training (glibc's ``malloc_trim``).

A batched model's steps allocate and free the same few megabyte-sized tensors (masks, activations, gradients of
M members x B rows) over and over. glibc serves them from its heap once its mmap threshold has risen to their
size, and the heap's free pages, scattered between live blocks, are not returned: the process's resident memory
grows with the steps though nothing is kept (the UCI MC dropout grid of power-plant, 240 members for 4,000
epochs, peaked at 8 GB). ``malloc_trim(0)`` returns those pages. It runs at most once every ``every`` seconds
(the pages it returns are faulted in again when reused): ``benchmarks/train_memory.py --rows 640 --splits 20``, 240
members for 2,700 epochs, peaked at 720 MB trimmed against 1,704 MB untrimmed (and still growing), in 132.6 s against
136.0 s. Elsewhere (no glibc, e.g. macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable

TRIM_EVERY_S = 5.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the symbols already loaded (no library search: every routine builds a trimmer)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # no glibc (macOS, musl), or no dlopen of the process (Windows)
        return None


class HeapTrimmer:
    """Call it after each epoch: it trims the heap when ``every`` seconds have passed since it last did."""

    def __init__(self, every: float = TRIM_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 trim: Callable[[int], int] | None = None) -> None:
        self.every, self.clock = every, clock
        self.trim = trim if trim is not None else _malloc_trim()
        self.last = clock()
        self.trims = 0

    def __call__(self) -> None:
        if self.trim is None or self.clock() - self.last < self.every:
            return
        self.trim(0)
        self.trims += 1
        self.last = self.clock()
