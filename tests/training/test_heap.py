"""The heap trimmer: at most one trim per interval, and nothing where the C library has no malloc_trim."""

import sys

import pytest

from mcdropout.training.heap import HeapTrimmer, _malloc_trim


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_trims_once_an_interval_has_passed_and_not_before():
    clock, calls = Clock(), []
    trimmer = HeapTrimmer(every=1.0, clock=clock, trim=lambda pad: calls.append(pad) or 1)
    for now in (0.2, 0.5, 0.99):  # within the first second: no trim
        clock.now = now
        trimmer()
    assert calls == []
    clock.now = 1.0
    trimmer()
    assert calls == [0] and trimmer.trims == 1
    clock.now = 1.5
    trimmer()
    assert trimmer.trims == 1  # half a second since the last trim
    clock.now = 2.1
    trimmer()
    assert trimmer.trims == 2


def test_without_malloc_trim_it_does_nothing():
    trimmer = HeapTrimmer(every=0.0, trim=None)
    trimmer.trim = None
    trimmer()
    assert trimmer.trims == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibcs_malloc_trim_is_found_and_runs():
    trim = _malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)  # 1: memory was released, 0: none could be
