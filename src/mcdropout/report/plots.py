"""Figures: each plotting function draws on a matplotlib ``Axes`` it is given and returns it.

:func:`panel_grid` lays out ``n`` panels so that they fill the grid where they can
(9 -> 3 x 3, 6 -> 2 x 3) and hides any leftover slot; :func:`outer_labels` keeps axis
labels only on the outer panels. Figures use the constrained layout, so titles, tick
labels and legends never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TRAIN_COLOR, TEST_COLOR = "tab:red", "tab:blue"
CLASS_COLORS = (TRAIN_COLOR, TEST_COLOR, "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink")
UNCERTAINTY_CMAP = "viridis"


# --- layout -------------------------------------------------------------------------


def grid_shape(n: int, max_cols: int = 5) -> tuple[int, int]:
    """Rows and columns for ``n`` panels: no taller than wide, fewest empty slots, then squarest."""
    if n < 1:
        raise ValueError(f"need at least one panel, got {n}")
    low = min(math.ceil(math.sqrt(n)), max_cols)
    high = max(low, min(n, max_cols))
    cols = min(range(low, high + 1), key=lambda c: (-(-n // c) * c - n, c))
    return -(-n // cols), cols


def panel_grid(n: int, *, max_cols: int = 5, panel_size: tuple[float, float] = (3.2, 2.6), sharex: bool = True,
               sharey: bool = True) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` visible panels (row by row) in a :func:`grid_shape` grid; leftover slots hidden.

    A panel above a hidden slot keeps its x tick labels (shared axes hide them otherwise).
    """
    rows, cols = grid_shape(n, max_cols)
    fig, grid = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), sharex=sharex,
                             sharey=sharey, squeeze=False, layout="constrained")
    flat = list(grid.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    for slot in range(n, rows * cols):
        if slot - cols >= 0:
            flat[slot - cols].tick_params(labelbottom=True)
    return fig, flat[:n]


def outer_labels(axes: Sequence[Axes]) -> None:
    """Keep x labels only where no visible panel is below, y labels only in the first column."""
    places = {(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in axes}
    for ax in axes:
        spec = ax.get_subplotspec()
        row, col = spec.rowspan.start, spec.colspan.start
        if (row + 1, col) in places:
            ax.set_xlabel("")
        if col > 0:
            ax.set_ylabel("")


def single(size: tuple[float, float] = (4.2, 3.6)) -> tuple[Figure, Axes]:
    """A one-panel figure with the constrained layout."""
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def uncertainty_colorbar(fig: Figure, axes: Sequence[Axes], vmax: float, label: str) -> None:
    """One colour bar for panels drawn by :func:`classification_map` with the same ``vmax``."""
    fig.colorbar(ScalarMappable(Normalize(0, vmax), UNCERTAINTY_CMAP), ax=list(axes), label=label, shrink=0.8)


# --- panels -------------------------------------------------------------------------


def regression_fit(ax: Axes, x_train, y_train, x_test, y_test, x_grid, standard_mean, mc_mean, mc_std,
                   title: str = "") -> Axes:
    """Training points red, test points blue, dropout-off line, MC mean with a +-2 std band."""
    ax.scatter(x_test, y_test, s=4, color=TEST_COLOR, alpha=0.35, label="test")
    ax.fill_between(x_grid, mc_mean - 2 * mc_std, mc_mean + 2 * mc_std, color="tab:orange", alpha=0.25,
                    label="MC ±2 std")
    ax.plot(x_grid, mc_mean, color="tab:orange", lw=1.5, label="MC mean")
    ax.plot(x_grid, standard_mean, color="black", lw=1.2, ls="--", label="dropout off")
    ax.scatter(x_train, y_train, s=16, color=TRAIN_COLOR, edgecolor="white", lw=0.5, zorder=3, label="train")
    ax.set_title(title, fontsize=9)
    return ax


def regression_curve(ax: Axes, x_train, y_train, x_test, y_test, x_grid, mean, std=None, title: str = "") -> Axes:
    """One method's fitted curve, with a +-2 std band where it has a predictive spread."""
    ax.scatter(x_test, y_test, s=4, color=TEST_COLOR, alpha=0.35, label="test")
    if std is not None:
        ax.fill_between(x_grid, mean - 2 * std, mean + 2 * std, color="tab:orange", alpha=0.25, label="±2 std")
    ax.plot(x_grid, mean, color="black" if std is None else "tab:orange", lw=1.4, label="prediction")
    ax.scatter(x_train, y_train, s=16, color=TRAIN_COLOR, edgecolor="white", lw=0.5, zorder=3, label="train")
    ax.set_title(title, fontsize=9)
    return ax


def classification_map(ax: Axes, x_train, y_train, xx, yy, standard_probs, uncertainty, title: str = "",
                       vmax: float | None = None) -> Axes:
    """MC uncertainty as a background map, the dropout-off decision boundaries, training points by class.

    ``standard_probs``: ``[H, W]`` probability of class 1, or ``[H, W, K]`` class probabilities.
    """
    ax.pcolormesh(xx, yy, uncertainty, cmap=UNCERTAINTY_CMAP, shading="auto", vmin=0, vmax=vmax)
    probs = np.asarray(standard_probs)
    if probs.ndim == 3 and probs.shape[-1] == 2:
        probs = probs[..., 1]
    if probs.ndim == 2:
        ax.contour(xx, yy, probs, levels=[0.5], colors="white", linewidths=1.5)
    else:  # K classes: where the predicted label changes
        ax.contour(xx, yy, probs.argmax(-1), levels=np.arange(probs.shape[-1] - 1) + 0.5, colors="white",
                   linewidths=1.5)
    for cls in np.unique(y_train).astype(int):
        sel = y_train == cls
        ax.scatter(x_train[sel, 0], x_train[sel, 1], s=8, color=CLASS_COLORS[cls % len(CLASS_COLORS)],
                   edgecolor="white", lw=0.3, label=f"class {cls}")
    ax.set_title(title, fontsize=9)
    return ax


CURVE_POINTS = 400  # a panel is a few hundred pixels wide: longer curves are drawn in this many bins of epochs


def binned(epochs: np.ndarray, values: np.ndarray, bins: int = CURVE_POINTS) -> tuple[np.ndarray, ...]:
    """``[seeds, epochs]`` as (epoch, seed mean, min, max) in at most ``bins`` bins of consecutive epochs: the mean
    and epoch averaged over a bin, its min and max taken over the bin (the band keeps every extreme)."""
    mean, lo, hi = values.mean(0), values.min(0), values.max(0)
    if len(epochs) <= bins:
        return epochs, mean, lo, hi
    starts = np.linspace(0, len(epochs), bins + 1).astype(int)[:-1]
    sizes = np.diff(np.r_[starts, len(epochs)])
    return (np.add.reduceat(np.asarray(epochs, float), starts) / sizes, np.add.reduceat(mean, starts) / sizes,
            np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts))


def _seed_bands(ax: Axes, epochs: np.ndarray, curves: dict[str, np.ndarray], lw: float) -> None:
    """Each ``[seeds, epochs]`` curve as its seed mean with a min-max band over seeds (:func:`binned`)."""
    for i, (label, values) in enumerate(curves.items()):
        color = f"C{i % 10}"
        x, mean, lo, hi = binned(epochs, values)
        ax.plot(x, mean, color=color, lw=lw, label=label)
        if len(values) > 1:
            ax.fill_between(x, lo, hi, color=color, alpha=0.15)


def training_curves(ax: Axes, epochs: np.ndarray, curves: dict[str, np.ndarray], title: str = "") -> Axes:
    """``curves``: label -> ``[seeds, epochs]``; seed mean with a min-max band over seeds."""
    _seed_bands(ax, epochs, curves, lw=1)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    return ax


def against_p(ax: Axes, p: Sequence[float], series: dict[str, tuple[np.ndarray, np.ndarray | None]],
              best_p: float | None = None, ylabel: str = "", title: str = "") -> Axes:
    """Lines against p: label -> (mean, sd or None) with a +-sd band; ``best_p`` marked; legend below."""
    p = np.asarray(p)
    for label, (mean, sd) in series.items():
        line = ax.plot(p, mean, marker="o", ms=3, label=label)[0]
        if sd is not None:
            ax.fill_between(p, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
    if best_p is not None:
        ax.axvline(best_p, color="gray", ls=":", lw=1.2, label=f"selected p = {best_p:g}")
    ax.set_xlabel("dropout rate p")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return ax


def reliability_diagram(ax: Axes, curves: dict[str, dict[str, np.ndarray]], title: str = "",
                        lowest: float = 0.5) -> Axes:
    """``curves``: label -> metrics.reliability_k(...) output; marker area grows with the bin's count.

    ``lowest``: the lowest possible confidence, 1/K for K classes.
    """
    ax.plot([lowest, 1], [lowest, 1], color="gray", ls="--", lw=1, label="perfect")
    for i, (label, rel) in enumerate(curves.items()):
        ok = rel["count"] > 0
        ax.plot(rel["confidence"][ok], rel["accuracy"][ok], color=f"C{i % 10}", lw=1.2, label=label)
        ax.scatter(rel["confidence"][ok], rel["accuracy"][ok], s=8 + 60 * np.sqrt(rel["count"][ok] /
                   rel["count"].sum()), color=f"C{i % 10}", zorder=3)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def bin_counts(ax: Axes, curves: dict[str, dict[str, np.ndarray]], title: str = "") -> Axes:
    """Test points per confidence bin of each reliability curve, side by side (log scale)."""
    bins = len(next(iter(curves.values()))["count"])
    width = 1 / bins / (len(curves) + 1)
    centers = (np.arange(bins) + 0.5) / bins
    for i, (label, rel) in enumerate(curves.items()):
        ok = rel["count"] > 0
        offset = (i - (len(curves) - 1) / 2) * width
        ax.bar(centers[ok] + offset, rel["count"][ok], width=width, color=f"C{i % 10}", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("confidence")
    ax.set_ylabel("points per bin")
    ax.set_title(title, fontsize=9)
    return ax


def calibration_curve(ax: Axes, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "") -> Axes:
    """Regression: observed fraction below each predicted quantile against the quantile level."""
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="perfect")
    for label, (levels, observed) in curves.items():
        ax.plot(levels, observed, marker="o", ms=3, label=label)
    ax.set_xlabel("predicted quantile level")
    ax.set_ylabel("observed fraction below")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def learned_rates(ax: Axes, epochs: np.ndarray, curves: dict[str, np.ndarray], best_p: float | None = None,
                  title: str = "") -> Axes:
    """``curves``: label -> ``[seeds, epochs]`` learned p; seed mean with a min-max band; the sweep's best p."""
    _seed_bands(ax, epochs, curves, lw=1.2)
    if best_p is not None:
        ax.axhline(best_p, color="gray", ls=":", lw=1.2, label=f"sweep best p = {best_p:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dropout rate p")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def uncertainty_histograms(ax: Axes, edges: np.ndarray, inside: np.ndarray, shifted: np.ndarray | None = None,
                           xlabel: str = "uncertainty", title: str = "") -> Axes:
    """Histograms (as fractions) of an uncertainty on in-distribution points and, if given, on shifted points."""
    for counts, label, color in ((inside, "test (in distribution)", TEST_COLOR), (shifted, "shifted", "tab:orange")):
        if counts is not None and counts.sum() > 0:
            ax.stairs(counts / counts.sum(), edges, fill=True, alpha=0.45, color=color, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of points")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def metric_against_samples(ax: Axes, grid: Sequence[int], mean: np.ndarray, sd: np.ndarray, noise: float,
                           enough: int | None, default: int, title: str = "") -> Axes:
    """A metric against the MC passes T (log scale): the mean over MC seeds with a +-1 sd band, the T = max band
    of +-``noise`` around the last value, where it is first enough (None: nowhere on the grid), and the study's
    default T."""
    grid, mean, sd = (np.asarray(v, dtype=float) for v in (grid, mean, sd))
    ax.fill_between(grid, mean[-1] - noise, mean[-1] + noise, color="0.85", label=f"T = {grid[-1]:g} +- noise")
    ax.fill_between(grid, mean - sd, mean + sd, color=TEST_COLOR, alpha=0.25, lw=0)
    ax.plot(grid, mean, "o-", color=TEST_COLOR, ms=3, label="mean over MC seeds")
    if enough is not None:
        ax.axvline(enough, color="tab:green", ls="--", lw=1, label=f"enough: T = {enough}")
    ax.axvline(default, color="0.3", ls=":", lw=1, label=f"default T = {default}")
    ax.set(xscale="log", xlabel="MC passes T", title=title)
    ax.legend(fontsize=6)
    return ax


def learning_curves(ax: Axes, curves: dict[str, tuple[Sequence[int], np.ndarray, np.ndarray]], ylabel: str,
                    title: str = "") -> Axes:
    """Active learning: per acquisition function, a test metric against the labels, the mean over repeats with a
    +-1 SE band (``curves``: name -> (labels, mean, se)); random dashed and grey, the baseline."""
    for name, (labels, mean, se) in curves.items():
        labels, mean, se = (np.asarray(v, dtype=float) for v in (labels, mean, se))
        style = {"color": "0.4", "ls": "--"} if name == "random" else {"ls": "-"}
        line, = ax.plot(labels, mean, marker="o", ms=2.5, lw=1.2, label=name, **style)
        ax.fill_between(labels, mean - se, mean + se, color=line.get_color(), alpha=0.15, lw=0)
    ax.set(xlabel="labelled points", ylabel=ylabel, title=title)
    ax.legend(fontsize=6)
    return ax
