"""The figure helpers: the panel grid, outer labels, and every plotting function returns its Axes."""

import numpy as np
import pytest

from mcdropout.report import plots
from mcdropout.scoring.metrics import reliability

plt = plots.plt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (1, 5)),
                                          (6, (2, 3)), (7, (2, 4)), (8, (2, 4)), (9, (3, 3)), (10, (2, 5)),
                                          (11, (3, 4)), (12, (3, 4)), (30, (6, 5))])
def test_grid_shape_fills_the_grid_when_it_can(n, shape):
    assert plots.grid_shape(n) == shape
    rows, cols = shape
    assert (rows <= cols or cols == 5) and rows * cols >= n


def test_grid_shape_respects_max_cols_and_rejects_zero():
    assert plots.grid_shape(6, max_cols=3) == (2, 3)
    assert plots.grid_shape(5, max_cols=3) == (2, 3)
    assert plots.grid_shape(4, max_cols=1) == (4, 1)
    with pytest.raises(ValueError):
        plots.grid_shape(0)


@pytest.mark.parametrize("n", [1, 6, 7, 9, 11])
def test_panel_grid_shows_exactly_n_panels(n):
    fig, axes = plots.panel_grid(n, panel_size=(2.0, 1.5))
    rows, cols = plots.grid_shape(n)
    assert len(axes) == n and all(ax.get_visible() for ax in axes)
    assert len(fig.axes) == rows * cols
    hidden = [ax for ax in fig.axes if ax not in axes]
    assert len(hidden) == rows * cols - n and not any(ax.get_visible() for ax in hidden)
    w, h = fig.get_size_inches()
    assert (w, h) == pytest.approx((2.0 * cols, 1.5 * rows))
    assert fig.get_layout_engine() is not None  # constrained: titles and labels do not overlap


def test_panel_above_a_hidden_slot_keeps_its_tick_labels():
    fig, axes = plots.panel_grid(7)  # 2 x 4, the last slot hidden
    for ax in axes:
        ax.plot([0, 1], [0, 1])
    fig.canvas.draw()
    above_hidden, above_visible = axes[3], axes[0]
    assert any(t.get_visible() and t.get_text() for t in above_hidden.get_xticklabels())
    assert not any(t.get_visible() and t.get_text() for t in above_visible.get_xticklabels())


def test_outer_labels_keeps_bottom_and_left_labels_only():
    fig, axes = plots.panel_grid(7)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
    plots.outer_labels(axes)
    assert [ax.get_xlabel() for ax in axes] == ["", "", "", "epoch", "epoch", "epoch", "epoch"]
    assert [ax.get_ylabel() for ax in axes] == ["loss", "", "", "", "loss", "", ""]


def test_grid_titles_do_not_overlap_the_row_above():
    fig, axes = plots.panel_grid(9, panel_size=(2.4, 1.8))
    epochs = np.arange(1, 51)
    for i, ax in enumerate(axes):
        plots.training_curves(ax, epochs, {"train loss": np.ones((2, 50)) * (i + 1)}, title=f"p = {i / 10:g}")
    plots.outer_labels(axes)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in axes]
    boxes += [ax.xaxis.get_tightbbox(renderer) for ax in axes]
    boxes = [b for b in boxes if b is not None and b.width > 0]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


def _curve_data():
    x = np.linspace(-1, 1, 20)
    return x, np.sin(x), x, np.cos(x), np.linspace(-2, 2, 50)


def test_every_plot_function_returns_its_axes():
    rng = np.random.default_rng(0)
    x_tr, y_tr, x_te, y_te, grid = _curve_data()
    mean, std = np.sin(grid), np.full_like(grid, 0.1)
    epochs = np.arange(1, 11)
    seeds = rng.uniform(0.1, 1, size=(3, 10))
    xx, yy = np.meshgrid(np.linspace(-1, 1, 10), np.linspace(-1, 1, 10))
    prob = 1 / (1 + np.exp(-xx))
    y_bin = rng.integers(0, 2, 100)
    rel = {"a": reliability(y_bin.astype(float), rng.uniform(size=100))}
    calls = [
        lambda ax: plots.regression_fit(ax, x_tr, y_tr, x_te, y_te, grid, mean, mean, std, title="fit"),
        lambda ax: plots.regression_curve(ax, x_tr, y_tr, x_te, y_te, grid, mean, std, title="curve"),
        lambda ax: plots.regression_curve(ax, x_tr, y_tr, x_te, y_te, grid, mean, None),
        lambda ax: plots.classification_map(ax, rng.normal(size=(30, 2)), rng.integers(0, 2, 30), xx, yy, prob,
                                            prob * (1 - prob), vmax=0.25),
        lambda ax: plots.training_curves(ax, epochs, {"train loss": seeds}),
        lambda ax: plots.against_p(ax, [0, 0.5, 0.9], {"a": (np.ones(3), np.full(3, 0.1)), "b": (np.ones(3), None)},
                                   best_p=0.5, ylabel="RMSE"),
        lambda ax: plots.reliability_diagram(ax, rel),
        lambda ax: plots.bin_counts(ax, rel),
        lambda ax: plots.calibration_curve(ax, {"a": (np.linspace(0.05, 0.95, 5), np.linspace(0, 1, 5))}),
        lambda ax: plots.learned_rates(ax, epochs, {"layer 1": seeds}, best_p=0.5),
    ]
    for call in calls:
        fig, ax = plots.single()
        assert call(ax) is ax
        assert ax.has_data()
        plt.close(fig)


def test_reliability_markers_grow_with_the_bin_count():
    counts = np.array([0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5, 5, 80])
    rel = {"m": {"confidence": np.linspace(0, 1, 15), "accuracy": np.linspace(0, 1, 15), "count": counts}}
    fig, ax = plots.single()
    plots.reliability_diagram(ax, rel)
    sizes = ax.collections[-1].get_sizes()
    assert len(sizes) == 8 and sizes[-1] > sizes[0]  # empty bins are left out
    plots.bin_counts(ax, rel)
    assert len(ax.patches) == 8


def test_classification_map_draws_boundaries_for_k_classes():
    xx, yy = np.meshgrid(np.linspace(-1, 1, 30), np.linspace(-1, 1, 30))
    logits = np.stack([xx, yy, -xx - yy], axis=-1)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    x = np.random.default_rng(0).uniform(-1, 1, size=(30, 2))
    y = np.arange(30) % 3
    fig, ax = plots.single()
    assert plots.classification_map(ax, x, y, xx, yy, probs, probs.max(-1), vmax=1.0) is ax
    assert len(ax.collections) >= 1 + 3  # the map, the boundaries, one scatter per class
    labels = [c.get_label() for c in ax.collections if c.get_label().startswith("class")]
    assert labels == ["class 0", "class 1", "class 2"]


def test_uncertainty_colorbar_spans_the_panels():
    fig, axes = plots.panel_grid(4)
    plots.uncertainty_colorbar(fig, axes, 0.5, "MI")
    assert len(fig.axes) == 5 and fig.axes[-1].get_ylabel() == "MI"


def test_long_curves_are_binned_keeping_mean_and_extremes():
    from mcdropout.report.plots import binned

    values = np.arange(2 * 10, dtype=float).reshape(2, 10)  # seeds 0..9 and 10..19
    values[1, 3] = 100.0
    x, mean, lo, hi = binned(np.arange(1, 11), values, bins=4)  # bins of 2, 3, 2, 3 epochs (starts 0, 2, 5, 7)
    assert x.tolist() == [1.5, 4.0, 6.5, 9.0]
    seed_mean = values.mean(0)
    assert np.allclose(mean, [seed_mean[0:2].mean(), seed_mean[2:5].mean(), seed_mean[5:7].mean(),
                              seed_mean[7:].mean()])
    assert lo.tolist() == [0.0, 2.0, 5.0, 7.0] and hi.tolist() == [11.0, 100.0, 16.0, 19.0]
    short = binned(np.arange(3), values[:, :3], bins=4)
    assert np.array_equal(short[1], values[:, :3].mean(0))


def test_a_saved_figure_has_its_size_and_is_drawn(tmp_path):
    """What the report embeds: the PNG is figsize x 110 dpi, and the curve and band are on it (not a blank canvas)."""
    from PIL import Image

    from mcdropout.report.figures import save

    x_tr, y_tr, x_te, y_te, grid = _curve_data()
    fig, ax = plots.single()
    plots.regression_curve(ax, x_tr, y_tr, x_te, y_te, grid, np.sin(grid), np.full_like(grid, 0.2), title="curve")
    w, h = fig.get_size_inches()
    path = save(fig, tmp_path / "curve.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (round(w * 110), round(h * 110))
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    ink = np.abs(rgb - 255).sum(-1) > 60
    assert 0.03 < ink.mean() < 0.8
    assert len(np.unique(rgb[ink], axis=0)) > 20  # the points, the line, the band, text: many colours
    # a blank figure of the same size fails the same check
    blank, _ = plots.single()
    with Image.open(save(blank, tmp_path / "blank.png")) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert (np.abs(rgb - 255).sum(-1) > 60).mean() < ink.mean() / 2
