"""What every method of the UCI benchmark does alike with a split: standardise it on its own training rows,
and say how far the run has come."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from mcdropout.data.datasets import Split
from mcdropout.training.train import duration

Norm = tuple[np.ndarray, np.ndarray, float, float]  # input means and stds, target mean and std


def norm_of(x: np.ndarray, y: np.ndarray) -> Norm:
    """Training statistics of the inputs and the target (a std of 0 becomes 1)."""
    std = x.std(0)
    return x.mean(0), np.where(std == 0, 1.0, std), float(y.mean()), float(y.std() or 1.0)


def standardised(x: np.ndarray, y: np.ndarray, norm: Norm) -> Split:
    xm, xs, ym, ys = norm
    return Split(((x - xm) / xs).astype(np.float32), ((y - ym) / ys).astype(np.float32))


def inputs(x: np.ndarray, norm: Norm) -> torch.Tensor:
    """Raw inputs as the network sees them (float32, standardised)."""
    return torch.from_numpy(((x - norm[0]) / norm[1]).astype(np.float32))


def sayer(progress: bool, name: str, start: float) -> Callable[[str], None]:
    """A function that prints a stage of the run with its elapsed time to stderr (when ``progress``)."""
    def say(text: str) -> None:
        if progress:
            print(f"{name}: {text} ({duration(time.perf_counter() - start)} elapsed)", file=sys.stderr, flush=True)
    return say
