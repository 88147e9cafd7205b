"""The report's figures, drawn with :mod:`mcdropout.report.plots` and saved atomically as PNGs.

Which figures a task gets follows its data: 1-D inputs get fitted curves (one per p, and
one per regulariser), 2-D inputs get decision maps; Gaussian predictions get a quantile
calibration curve, class probabilities a reliability diagram with its bin counts.
Each function returns ``{caption: png path}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcdropout.core.config import MCConfig
from mcdropout.core.io import write_with
from mcdropout.inference.evaluation import predict
from mcdropout.report import plots
from mcdropout.report.findings import LABELS
from mcdropout.report.inputs import Checkpoint, TaskInputs
from mcdropout.scoring.metrics import norm_cdf, reliability_k
from mcdropout.scoring.uncertainty import ClassificationPrediction

plt = plots.plt
Figures = dict[str, Path]


def save(fig, path: Path) -> Path:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def fit_grid(x_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """400 inputs over the training range widened by a quarter each side, and which lie inside it."""
    lo, hi = x_range
    grid = np.linspace(lo - 0.25 * (hi - lo), hi + 0.25 * (hi - lo), 400, dtype=np.float32)
    return grid, (grid >= lo) & (grid <= hi)


def _predict(checkpoint: Checkpoint, x: np.ndarray, inp: TaskInputs, mode: str, mc: MCConfig):
    model, meta = checkpoint
    return predict(model, x, inp.task, mode, mc.samples, mc.seed, meta.noise_std)


def epistemic_inside_outside(inp: TaskInputs, mc: MCConfig) -> tuple[float, float] | None:
    """1-D inputs: mean MC epistemic std of ``best_p`` inside and outside the training range."""
    if inp.input_dim != 1 or inp.best_p not in inp.members:
        return None
    grid, inside = fit_grid(inp.x_range)
    std = _predict(inp.members[inp.best_p], grid[:, None], inp, "mc", mc).epistemic_std
    return float(std[inside].mean()), float(std[~inside].mean())


# --- the sweep ------------------------------------------------------------------------


def fits(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    """1-D inputs: the fit of each p, dropout off and MC mean with its band."""
    grid, _ = fit_grid(inp.x_range)
    train, test = inp.splits["train"], inp.splits["test"]
    fig, axes = plots.panel_grid(len(inp.members))
    for ax, (p, member) in zip(axes, inp.members.items()):
        standard = _predict(member, grid[:, None], inp, "standard", mc)
        sampled = _predict(member, grid[:, None], inp, "mc", mc)
        plots.regression_fit(ax, train.x[:, 0], train.y, test.x[:, 0], test.y, grid, standard.mean, sampled.mean,
                             sampled.std, title=f"p = {p:g}")
    axes[0].legend(fontsize=6, loc="upper left")
    caption = "Fits per p: train (red), test (blue), dropout off (dashed), MC mean ± 2 std"
    return {caption: save(fig, fig_dir / "fits.png")}


GRID = 80  # points per side of the 2-D maps


def boundaries(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    """2-D inputs: the dropout-off decision boundaries of each p over its MC mutual information."""
    train = inp.splits["train"]
    x, pad = train.x, 0.5
    # 80 x 80 points: a smooth map in a panel of this size, at less than half of 120 x 120's T MC passes each
    xx, yy = np.meshgrid(np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, GRID),
                         np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, GRID))
    pts = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    maps = {p: (_predict(m, pts, inp, "standard", mc).probs.reshape(*xx.shape, -1),
                _predict(m, pts, inp, "mc", mc).mutual_info.reshape(xx.shape)) for p, m in inp.members.items()}
    vmax = max(float(mi.max()) for _, mi in maps.values()) or 1e-3
    fig, axes = plots.panel_grid(len(maps))
    for ax, (p, (prob, mi)) in zip(axes, maps.items()):
        plots.classification_map(ax, x, train.y, xx, yy, prob, mi, title=f"p = {p:g}", vmax=vmax)
        ax.set(xlabel=inp.metrics.get("features", ["x1", "x2"])[0], ylabel=inp.metrics.get("features", ["x1", "x2"])[1])
    plots.outer_labels(axes)
    axes[0].legend(fontsize=6, loc="lower left", title="training points", title_fontsize=6)
    plots.uncertainty_colorbar(fig, axes, vmax, "MC mutual information (nats)")
    caption = "Decision boundary (dropout off, white) over the MC mutual information, per p"
    return {caption: save(fig, fig_dir / "boundaries.png")}


def curves(inp: TaskInputs, fig_dir: Path) -> Figures:
    """Train and val loss per p over epochs: seed mean with a min-max band."""
    fig, axes = plots.panel_grid(len(inp.histories), panel_size=(3.2, 2.4))
    for ax, (p, h) in zip(axes, inp.histories.items()):
        epochs = np.arange(1, h.shape[1] + 1)
        plots.training_curves(ax, epochs, {"train loss": h[:, :, 0], "val loss": h[:, :, 1]}, title=f"p = {p:g}")
        ax.set_ylabel(f"loss ({inp.task.loss_label})")
    plots.outer_labels(axes)
    axes[0].legend(fontsize=6)
    caption = "Training curves per p (train loss with dropout on, val loss with dropout off)"
    return {caption: save(fig, fig_dir / "curves.png")}


def tradeoff(inp: TaskInputs, fig_dir: Path) -> Figures:
    """The main error against p (train, test, both ways, the gap), and NLL and uncertainty metric against p."""
    task, rows = inp.task, inp.rows
    key, unc = task.metric, task.uncertainty_metric

    def col(name: str) -> np.ndarray:
        return np.array([task.error(r[name]) if name.endswith(key) else r[name] for r in rows])

    def sd(name: str) -> np.ndarray | None:
        return np.array([r[name + "_sd"] for r in rows]) if name + "_sd" in rows[0] else None

    p_values = [r["p"] for r in rows]
    fig, (ax1, ax2, ax3, ax4) = plt.subplots(1, 4, figsize=(17, 4.4), layout="constrained")
    series = {}
    for mode, name in (("standard", "dropout off"), ("mc", "MC")):
        for split in ("train", "test"):
            series[f"{split} ({name})"] = (col(f"{mode}_{split}_{key}"), sd(f"{mode}_{split}_{key}"))
    series["gap test - train (dropout off)"] = (col(f"standard_test_{key}") - col(f"standard_train_{key}"), None)
    plots.against_p(ax1, p_values, series, inp.best_p, ylabel=task.metric_label, title="Generalisation against p")
    if inp.data_noise is not None:
        ax1.axhline(inp.data_noise, color="k", ls="--", lw=1, label=f"noise sd {inp.data_noise:g}")
        ax1.legend(fontsize=7, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    plots.against_p(ax2, p_values, {"MC": (col("mc_test_nll"), None), "dropout off": (col("standard_test_nll"), None)},
                    inp.best_p, ylabel="test NLL (nats)", title="Test NLL against p")
    plots.against_p(ax3, p_values, {"MC": (col(f"mc_test_{unc}"), None),
                                    "dropout off": (col(f"standard_test_{unc}"), None)},
                    inp.best_p, ylabel=f"test {LABELS[unc]}", title=f"Test {LABELS[unc]} against p")
    if unc == "coverage_95":
        ax3.axhline(0.95, color="k", ls="--", lw=1)
    sel = inp.metrics.get("selection")
    if isinstance(sel, dict):
        mean = np.array([c["mean"] for c in sel["curve"]])
        se = np.array([c["se"] or 0.0 for c in sel["curve"]])
        crit = {f"val NLL ({'MC' if sel['inference'] == 'mc' else 'dropout off'}), ± SE": (mean, se)}
        plots.against_p(ax4, [c["p"] for c in sel["curve"]], crit, inp.best_p, ylabel="validation NLL (nats)",
                        title="Selection criterion against p" + (" (optimum at the grid's edge)"
                                                                 if sel["at_grid_edge"] else ""))
    else:
        ax4.set_axis_off()
    caption = ("Against p: train and test error (seed mean ± sd; dashed: the data's noise sd where known), test NLL, "
               f"test {LABELS[unc]}" + (" (dashed: the 0.95 target)" if unc == "coverage_95" else "") +
               ", and the validation criterion that selected p (± SE); "
               "the selected p marked")
    return {caption: save(fig, fig_dir / "tradeoff.png")}


def calibration(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    """p = 0 against best p on the test split, both ways: a reliability diagram with bin counts for class
    probabilities, the fraction of targets below each predicted quantile for Gaussian predictions."""
    test = inp.splits["test"]
    chosen = [p for p in dict.fromkeys([0.0, inp.best_p]) if p in inp.members]
    preds = {f"p = {p:g} ({mode})": _predict(inp.members[p], test.x, inp, mode, mc)
             for p in chosen for mode in ("standard", "mc")}
    if all(isinstance(pred, ClassificationPrediction) for pred in preds.values()):
        rel = {label: reliability_k(test.y, pred.probs) for label, pred in preds.items()}
        fig, (ax, counts) = plt.subplots(2, 1, figsize=(4.6, 5.0), sharex=True, height_ratios=[3, 1.3],
                                         layout="constrained")
        lowest = 1 / next(iter(preds.values())).probs.shape[1]
        plots.reliability_diagram(ax, rel, title="Reliability (test)", lowest=lowest)
        ax.set_xlabel("")
        plots.bin_counts(counts, rel)
        caption = "Reliability diagram, p = 0 against the selected p (marker size and bars: test points per bin)"
        return {caption: save(fig, fig_dir / "reliability.png")}
    levels = np.linspace(0.05, 0.95, 19)
    fig, ax = plots.single()
    observed = {}
    for label, pred in preds.items():
        pit = norm_cdf((test.y - pred.mean) / pred.std)
        observed[label] = (levels, np.array([np.mean(pit <= q) for q in levels]))
    plots.calibration_curve(ax, observed, title="Calibration (test)")
    return {"Calibration curve, p = 0 against the selected p": save(fig, fig_dir / "calibration.png")}


def sweep_figures(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    """The model of each p (fitted curves for 1-D inputs, decision maps for 2-D), training curves, the
    trade-off against p, and calibration."""
    per_p = {1: fits, 2: boundaries}.get(inp.input_dim)
    return {**(per_p(inp, mc, fig_dir) if per_p else {}), **curves(inp, fig_dir), **tradeoff(inp, fig_dir),
            **calibration(inp, mc, fig_dir)}


# --- the comparison -----------------------------------------------------------------


def learned_p(inp: TaskInputs, fig_dir: Path) -> Figures:
    """The Concrete members' rate per layer over epochs against the sweep's best p."""
    concrete = [meta for _, meta in inp.compare_checkpoints if meta.method == "concrete"]
    if not concrete:
        return {}
    ph = np.stack([meta.p_history.numpy() for meta in concrete])  # [seeds, epochs, layers]
    fig, ax = plots.single((5.5, 3.4))
    plots.learned_rates(ax, np.arange(1, ph.shape[1] + 1), {f"layer {j + 1}": ph[:, :, j] for j in range(ph.shape[2])},
                        inp.best_p, title=f"{inp.name}: Concrete dropout rates while training")
    caption = "Learned dropout rate per layer over epochs (seed mean, min-max band) against the sweep's best p"
    return {caption: save(fig, fig_dir / "learned_p.png")}


def _regulariser_panels(inp: TaskInputs, seed: int) -> dict[str, tuple[Checkpoint, bool]]:
    """Title -> (member, drawn with MC dropout) for the best of each regulariser of ``seed``."""
    compare, best_p = inp.compare, inp.best_p
    named = {meta.method + (f"_{meta.l2:g}" if meta.l2 else ""): (model, meta)
             for model, meta in inp.compare_checkpoints if meta.seed == seed}
    panels = {}
    if 0.0 in inp.members:
        panels["no regularisation (p = 0)"] = (inp.members[0.0], False)
    panels[f"dropout, best p = {best_p:g} (MC)"] = (inp.members[best_p], best_p > 0)
    if "concrete" in named:
        panels["Concrete dropout (MC)"] = (named["concrete"], True)
    dropout_l2_p = next((meta.p for _, meta in inp.compare_checkpoints if meta.method == "dropout+l2"), None)

    def with_l2(kind: str, lam: float, p: float | None):  # λ = 0 is the sweep's member of the same p
        return inp.members.get(p) if lam == 0 else named.get(f"{kind}_{lam:g}")

    if compare.get("best_l2") is not None and with_l2("l2", compare["best_l2"], 0.0) is not None:
        panels[f"L2 λ = {compare['best_l2']:g}, no dropout"] = (with_l2("l2", compare["best_l2"], 0.0), False)
    if "early_stopping" in named:
        panels["early stopping, no dropout"] = (named["early_stopping"], False)
    both = None if compare.get("best_dropout_l2") is None else \
        with_l2("dropout+l2", compare["best_dropout_l2"], dropout_l2_p)
    if both is not None:
        panels[f"p = {both[1].p:g} + L2 λ = {compare['best_dropout_l2']:g} (MC)"] = (both, True)
    return panels


def regularisers(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    """1-D inputs: the fitted curve of the best of each regulariser, one seed."""
    seed = min(meta.seed for _, meta in inp.compare_checkpoints)
    panels = _regulariser_panels(inp, seed)
    grid, _ = fit_grid(inp.x_range)
    train, test = inp.splits["train"], inp.splits["test"]
    fig, axes = plots.panel_grid(len(panels), max_cols=3, panel_size=(3.2, 2.8))
    for ax, (title, (member, stochastic)) in zip(axes, panels.items()):
        pred = _predict(member, grid[:, None], inp, "mc" if stochastic else "standard", mc)
        plots.regression_curve(ax, train.x[:, 0], train.y, test.x[:, 0], test.y, grid, pred.mean,
                               pred.epistemic_std if stochastic else None, title=title)
    axes[0].legend(fontsize=6, loc="upper left")
    caption = (f"The best of each regulariser, seed {seed}: train (red), test (blue); dropout methods show the MC "
               f"mean ± 2 epistemic std")
    return {caption: save(fig, fig_dir / "regularisers.png")}


def comparison_figures(inp: TaskInputs, mc: MCConfig, fig_dir: Path) -> Figures:
    if inp.compare is None:
        return {}
    per_method = regularisers(inp, mc, fig_dir) if inp.input_dim == 1 and inp.compare_checkpoints else {}
    return {**learned_p(inp, fig_dir), **per_method}
