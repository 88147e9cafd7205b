"""Figures: each function draws on a matplotlib ``Axes`` it is given and returns it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

TRAIN_COLOR, TEST_COLOR = "tab:red", "tab:blue"


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


def classification_map(ax: Axes, x_train, y_train, xx, yy, standard_prob, uncertainty, title: str = "",
                       vmax: float | None = None):
    """MC uncertainty as a background map, the dropout-off decision boundary, training points by class.

    Returns the mappable of the background, for a colour bar.
    """
    mesh = ax.pcolormesh(xx, yy, uncertainty, cmap="viridis", shading="auto", vmin=0, vmax=vmax)
    ax.contour(xx, yy, standard_prob, levels=[0.5], colors="white", linewidths=1.5)
    for cls, color in ((0, "tab:red"), (1, "tab:blue")):
        sel = y_train == cls
        ax.scatter(x_train[sel, 0], x_train[sel, 1], s=8, color=color, edgecolor="white", lw=0.3,
                   label=f"class {cls}")
    ax.set_title(title, fontsize=9)
    return mesh


def _seed_bands(ax: Axes, epochs: np.ndarray, curves: dict[str, np.ndarray], lw: float) -> None:
    """Each ``[seeds, epochs]`` curve as its seed mean with a min-max band over seeds."""
    for i, (label, values) in enumerate(curves.items()):
        color = f"C{i % 10}"
        ax.plot(epochs, values.mean(0), color=color, lw=lw, label=label)
        if len(values) > 1:
            ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.15)


def training_curves(ax: Axes, epochs: np.ndarray, curves: dict[str, np.ndarray], title: str = "") -> Axes:
    """``curves``: label -> ``[seeds, epochs]``; seed mean with a min-max band over seeds."""
    _seed_bands(ax, epochs, curves, lw=1)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    return ax


def against_p(ax: Axes, p: Sequence[float], series: dict[str, tuple[np.ndarray, np.ndarray | None]],
              best_p: float | None = None, ylabel: str = "", title: str = "") -> Axes:
    """Lines against p: label -> (mean, sd or None) with a +-sd band; ``best_p`` marked."""
    p = np.asarray(p)
    for label, (mean, sd) in series.items():
        line = ax.plot(p, mean, marker="o", ms=3, label=label)[0]
        if sd is not None:
            ax.fill_between(p, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
    if best_p is not None:
        ax.axvline(best_p, color="gray", ls=":", lw=1.2, label=f"best p = {best_p:g}")
    ax.set_xlabel("dropout rate p")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def reliability_diagram(ax: Axes, curves: dict[str, dict[str, np.ndarray]], title: str = "") -> Axes:
    """``curves``: label -> metrics.reliability(...) output (per-bin confidence and accuracy)."""
    ax.plot([0.5, 1], [0.5, 1], color="gray", ls="--", lw=1, label="perfect")
    for label, rel in curves.items():
        ok = rel["count"] > 0
        ax.plot(rel["confidence"][ok], rel["accuracy"][ok], marker="o", ms=3, label=label)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
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


def regression_curve(ax: Axes, x_train, y_train, x_test, y_test, x_grid, mean, std=None, title: str = "") -> Axes:
    """One method's fitted curve, with a +-2 std band where it has a predictive spread."""
    ax.scatter(x_test, y_test, s=4, color=TEST_COLOR, alpha=0.35, label="test")
    if std is not None:
        ax.fill_between(x_grid, mean - 2 * std, mean + 2 * std, color="tab:orange", alpha=0.25, label="±2 std")
    ax.plot(x_grid, mean, color="black" if std is None else "tab:orange", lw=1.4, label="prediction")
    ax.scatter(x_train, y_train, s=16, color=TRAIN_COLOR, edgecolor="white", lw=0.5, zorder=3, label="train")
    ax.set_title(title, fontsize=9)
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
