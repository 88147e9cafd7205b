"""mcdropout.report.figures: each figure function writes its PNG and returns ``{caption: path}``; what the panels show
(axis labels, titles, legends, the numbers drawn) on untrained checkpoints of a regression (1-D) and a classification
(2-D) sweep. No training."""

import copy
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mcdropout.core.config import MCConfig, Params
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import load_dataset, write_dataset
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp
from mcdropout.report import figures as F
from mcdropout.report.inputs import load_inputs
from mcdropout.study.sweep import evaluate_sweep

MC = MCConfig(samples=4, seed=0)
P = (0.0, 0.5)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    F.plt.close("all")


def _member(name: str, data, member: Member, epochs: int = 6):
    task, schema = data.task, data.schema
    model = seeded_mlp(member.seed, in_dim=len(schema.features), out_dim=task.out_dim, hidden=[8, 8], p=member.p,
                       dropout=member.dropout)
    gen = torch.Generator().manual_seed(member.seed)
    meta = CheckpointMeta(task=task.name, seed=member.seed, dataset=name, features=list(schema.features),
                          classes=None if schema.classes is None else list(schema.classes), method=member.method,
                          l2=member.l2, noise_std={"standard": 0.3, "mc": 0.3} if task.fits_noise else None,
                          mc_samples=4, history=torch.rand(epochs, 4, generator=gen) + 0.1, p=member.p)
    if member.dropout == "concrete":
        meta.learned_p, meta.p_history = model.learned_p, torch.rand(epochs, 2, generator=gen) * 0.5
    return model, meta


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A sweep of P x seeds (0, 1) for regression and classification: data, checkpoints, metrics.json."""
    root = tmp_path_factory.mktemp("figures")
    params = Params().override(**{
        "data.dir": str(root / "data"), "train.models_dir": str(root / "models"), "data.regression.n_test": 40,
        "data.classification.n_train": 40, "data.classification.n_val": 40, "data.classification.n_test": 60,
        "model.hidden": [8, 8], "mc.samples": 4, "sweep.p": list(P), "sweep.seeds": [0, 1], "mlflow.enabled": False,
        "datasets": {"regression": {"source": "synthetic"}, "classification": {"source": "synthetic"}}})
    paths = Paths.of(params, root / "reports")
    for name in ("regression", "classification"):
        write_dataset(name, params)
        data = load_dataset(name, params.data.dir)
        for p in P:
            for seed in (0, 1):
                member = Member(p, seed)
                save_checkpoint(paths.sweep_dir(name) / f"{member.name}.pt", *_member(name, data, member))
        write_json(paths.metrics_json(name), evaluate_sweep(params, name, paths.sweep_dir(name), progress=False))
    return params, paths


@pytest.fixture
def reg(project):
    params, paths = project
    return load_inputs(params, "regression", paths)


@pytest.fixture
def cls(project):
    params, paths = project
    return load_inputs(params, "classification", paths)


@pytest.fixture
def drawn(monkeypatch):
    """The figures ``F.save`` is handed, in order (still saved: a closed figure keeps its axes)."""
    figs = []
    real = F.save

    def save(fig, path):
        figs.append(fig)
        return real(fig, path)

    monkeypatch.setattr(F, "save", save)
    return figs


def _with_selection(inp, **changes):
    """``inp`` with its metrics' selection object changed (a copy: the metrics of the fixture stay)."""
    metrics = copy.deepcopy(inp.metrics)
    if isinstance(metrics["selection"], dict):
        metrics["selection"].update(changes)
    return dataclasses.replace(inp, metrics=metrics)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


# --- each function: one PNG, one caption -------------------------------------------------------


@pytest.mark.parametrize(("dataset", "draw", "png"), [
    ("regression", lambda inp, d: F.fits(inp, MC, d), "fits.png"),
    ("regression", lambda inp, d: F.curves(inp, d), "curves.png"),
    ("regression", lambda inp, d: F.tradeoff(inp, d), "tradeoff.png"),
    ("regression", lambda inp, d: F.calibration(inp, MC, d), "calibration.png"),
    ("classification", lambda inp, d: F.boundaries(inp, MC, d), "boundaries.png"),
    ("classification", lambda inp, d: F.curves(inp, d), "curves.png"),
    ("classification", lambda inp, d: F.tradeoff(inp, d), "tradeoff.png"),
    ("classification", lambda inp, d: F.calibration(inp, MC, d), "reliability.png"),
])
def test_each_figure_writes_its_png_and_returns_a_caption(project, tmp_path, dataset, draw, png):
    params, paths = project
    inp = load_inputs(params, dataset, paths)
    out = draw(inp, tmp_path / "figs")
    assert len(out) == 1
    ((caption, path),) = out.items()
    assert isinstance(caption, str) and len(caption) > 20
    assert path == tmp_path / "figs" / png and _is_png(path)
    assert [p.name for p in (tmp_path / "figs").iterdir()] == [png]  # written in place, no staging file left
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
    assert 300 <= width <= 3000 and 200 <= height <= 3000


def test_save_writes_a_png_and_closes_the_figure(tmp_path):
    fig, ax = F.plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert F.save(fig, tmp_path / "sub" / "a.png") == tmp_path / "sub" / "a.png"
    assert _is_png(tmp_path / "sub" / "a.png")
    assert fig.number not in F.plt.get_fignums()


def test_fit_grid_widens_the_training_range_by_a_quarter_each_side():
    grid, inside = F.fit_grid((-4.0, 4.0))
    assert grid.dtype == np.float32 and grid.shape == inside.shape == (400,)
    assert (grid[0], grid[-1]) == (-6.0, 6.0)
    np.testing.assert_array_equal(inside, (grid >= -4) & (grid <= 4))
    # step 12/399: -6 + 12 i/399 lies in [-4, 4] for i = 67 ... 332
    assert int(inside.sum()) == 266 and inside[67] and not inside[66] and inside[332] and not inside[333]


# --- the trade-off against p ---------------------------------------------------------------------


@pytest.mark.parametrize("edge", [False, True])
def test_tradeoff_has_four_labelled_panels_and_flags_the_grid_edge_only_there(reg, tmp_path, drawn, edge):
    inp = _with_selection(reg, at_grid_edge=edge)
    ((caption, _),) = F.tradeoff(inp, tmp_path).items()
    (fig,) = drawn
    assert len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes] == ["RMSE", "test NLL (nats)", "test 95% coverage",
                                                    "validation NLL (nats)"]
    assert all(ax.get_xlabel() == "dropout rate p" for ax in fig.axes)
    title = "Selection criterion against p" + (" (optimum at the grid's edge)" if edge else "")
    assert [ax.get_title() for ax in fig.axes] == ["Generalisation against p", "Test NLL against p",
                                                   "Test 95% coverage against p", title]
    best = f"selected p = {inp.best_p:g}"
    assert all(best in _legend_texts(ax) for ax in fig.axes)
    assert "(dashed: the 0.95 target)" in caption and caption.endswith("the selected p marked")


def test_tradeoff_draws_the_numbers_of_the_rows(reg, tmp_path, drawn):
    F.tradeoff(reg, tmp_path)
    ax1, ax2, ax3, ax4 = drawn[0].axes
    lines = {line.get_label(): line for ax in (ax1,) for line in ax.get_lines()}
    rows = reg.rows
    np.testing.assert_allclose(lines["train (dropout off)"].get_ydata(), [r["standard_train_rmse"] for r in rows])
    np.testing.assert_allclose(lines["test (MC)"].get_ydata(), [r["mc_test_rmse"] for r in rows])
    np.testing.assert_allclose(lines["gap test - train (dropout off)"].get_ydata(),
                               [r["standard_test_rmse"] - r["standard_train_rmse"] for r in rows])
    np.testing.assert_allclose(lines["train (dropout off)"].get_xdata(), P)
    noise = [line for line in ax1.get_lines() if line.get_label() == "noise sd 0.3"]
    assert len(noise) == 1 and list(noise[0].get_ydata()) == [0.3, 0.3]  # the data's known noise, dashed
    assert any(list(line.get_ydata()) == [0.95, 0.95] for line in ax3.get_lines())  # the coverage target
    curve = reg.metrics["selection"]["curve"]
    (crit,) = [line for line in ax4.get_lines() if line.get_label().startswith("val NLL (MC)")]
    np.testing.assert_allclose(crit.get_ydata(), [c["mean"] for c in curve])


def test_tradeoff_without_a_selection_object_hides_the_last_panel(reg, tmp_path, drawn):
    metrics = {**reg.metrics, "selection": "lowest val loss"}  # a metrics.json from before selection objects
    F.tradeoff(dataclasses.replace(reg, metrics=metrics), tmp_path)
    ax4 = drawn[0].axes[3]
    assert not ax4.axison and ax4.get_title() == "" and ax4.get_ylabel() == ""


def test_classification_tradeoff_shows_error_rates_and_ece(cls, tmp_path, drawn):
    ((caption, _),) = F.tradeoff(cls, tmp_path).items()
    ax1, _, ax3, _ = drawn[0].axes
    assert (ax1.get_ylabel(), ax3.get_ylabel(), ax3.get_title()) == ("error rate", "test ECE", "Test ECE against p")
    lines = {line.get_label(): line for line in ax1.get_lines()}
    np.testing.assert_allclose(lines["test (dropout off)"].get_ydata(),
                               [1 - r["standard_test_accuracy"] for r in cls.rows])  # errors, not accuracies
    assert not any(line.get_label().startswith("noise sd") for line in ax1.get_lines())  # no known noise
    assert not any(list(line.get_ydata()) == [0.95, 0.95] for line in ax3.get_lines())
    assert "0.95 target" not in caption


# --- the model of each p -------------------------------------------------------------------------


def test_boundaries_panels_have_axis_labels_a_legend_and_one_colour_bar(cls, tmp_path, drawn):
    ((caption, _),) = F.boundaries(cls, MC, tmp_path).items()
    fig = drawn[0]
    panels = [ax for ax in fig.axes if ax.get_title().startswith("p = ")]
    assert [ax.get_title() for ax in panels] == ["p = 0", "p = 0.5"]
    features = cls.metrics["features"]
    assert features == ["x1", "x2"]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("x1", "x2"), ("x1", "")]  # outer labels
    legend = panels[0].get_legend()
    assert legend.get_title().get_text() == "training points"
    assert _legend_texts(panels[0]) == ["class 0", "class 1"]
    (bar,) = [ax for ax in fig.axes if ax not in panels]
    assert bar.get_ylabel() == "MC mutual information (nats)"
    assert "Decision boundary" in caption


def test_boundaries_label_the_axes_with_the_datasets_feature_names(cls, tmp_path, drawn):
    metrics = {**cls.metrics, "features": ["petal length", "petal width"]}
    F.boundaries(dataclasses.replace(cls, metrics=metrics), MC, tmp_path)
    first = drawn[0].axes[0]
    assert (first.get_xlabel(), first.get_ylabel()) == ("petal length", "petal width")


def test_fits_one_panel_per_p_with_a_legend(reg, tmp_path, drawn):
    F.fits(reg, MC, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["p = 0", "p = 0.5"]
    assert sorted(_legend_texts(axes[0])) == sorted(["test", "MC ±2 std", "MC mean", "dropout off", "train"])
    # drawn over the widened grid: the fitted lines span -6 to 6
    mc_mean = next(line for line in axes[0].get_lines() if line.get_label() == "MC mean")
    assert (mc_mean.get_xdata()[0], mc_mean.get_xdata()[-1]) == (-6.0, 6.0)


@pytest.mark.parametrize(("dataset", "ylabel"), [("regression", "loss (MSE, standardised)"),
                                                 ("classification", "loss (cross-entropy)")])
def test_curves_label_the_loss_of_the_task(project, tmp_path, drawn, dataset, ylabel):
    params, paths = project
    inp = load_inputs(params, dataset, paths)
    F.curves(inp, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["p = 0", "p = 0.5"]
    assert [ax.get_ylabel() for ax in axes] == [ylabel, ""]  # y label in the first column only
    assert all(ax.get_xlabel() == "epoch" and ax.get_yscale() == "log" for ax in axes)
    assert _legend_texts(axes[0]) == ["train loss", "val loss"]
    # the seed mean of the histories' train loss (column 0) over epochs 1..6
    train = next(line for line in axes[0].get_lines() if line.get_label() == "train loss")
    np.testing.assert_allclose(train.get_ydata(), inp.histories[0.0][:, :, 0].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 7))


def test_regression_calibration_compares_p0_with_the_selected_p(reg, tmp_path, drawn):
    inp = dataclasses.replace(reg, metrics={**reg.metrics, "best_p": 0.5})
    ((caption, path),) = F.calibration(inp, MC, tmp_path).items()
    assert path.name == "calibration.png" and caption == "Calibration curve, p = 0 against the selected p"
    (ax,) = drawn[0].axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted quantile level", "observed fraction below")
    curves = {line.get_label(): line for line in ax.get_lines() if line.get_label() != "perfect"}
    assert list(curves) == ["p = 0 (standard)", "p = 0 (mc)", "p = 0.5 (standard)", "p = 0.5 (mc)"]
    for line in curves.values():  # fractions below ever higher quantiles: in [0, 1] and never falling
        observed = np.asarray(line.get_ydata())
        assert len(observed) == 19 and np.all((observed >= 0) & (observed <= 1)) and np.all(np.diff(observed) >= 0)
    # best p = 0: one p, drawn once each way
    F.calibration(dataclasses.replace(reg, metrics={**reg.metrics, "best_p": 0.0}), MC, tmp_path)
    labels = [line.get_label() for line in drawn[1].axes[0].get_lines()]
    assert labels == ["perfect", "p = 0 (standard)", "p = 0 (mc)"]


def test_classification_calibration_is_a_reliability_diagram_with_bin_counts(cls, tmp_path, drawn):
    ((caption, path),) = F.calibration(cls, MC, tmp_path).items()
    assert path.name == "reliability.png" and "bin counts" not in caption and "test points per bin" in caption
    diagram, counts = drawn[0].axes
    assert (diagram.get_ylabel(), counts.get_xlabel(), counts.get_ylabel()) == (
        "accuracy", "confidence", "points per bin")
    assert diagram.get_xlabel() == ""  # shared with the counts below
    # the perfect line starts at the lowest confidence of two classes
    perfect = next(line for line in diagram.get_lines() if line.get_label() == "perfect")
    assert list(perfect.get_xdata()) == [0.5, 1]


def test_epistemic_inside_outside(reg, cls):
    # p = 0 has no dropout: no spread anywhere
    assert F.epistemic_inside_outside(dataclasses.replace(reg, metrics={**reg.metrics, "best_p": 0.0}), MC) == (
        0.0, 0.0)
    inside, outside = F.epistemic_inside_outside(dataclasses.replace(reg, metrics={**reg.metrics, "best_p": 0.5}), MC)
    assert inside > 0 and outside > 0
    assert F.epistemic_inside_outside(cls, MC) is None  # 2-D inputs: no training range on a line
    assert F.epistemic_inside_outside(dataclasses.replace(reg, metrics={**reg.metrics, "best_p": 0.3}), MC) is None


def _stubs(monkeypatch, *names):
    """Each named figure function replaced by one returning ``{name: <name>.png}`` (what the composition is made of;
    the drawings are tested above)."""
    calls = []
    for name in names:
        def stub(inp, *args, name=name):
            calls.append(name)
            return {name: Path(f"{name}.png")}

        monkeypatch.setattr(F, name, stub)
    return calls


@pytest.mark.parametrize(("dim", "first"), [(1, ["fits"]), (2, ["boundaries"]), (3, [])])
def test_sweep_figures_follow_the_inputs(monkeypatch, dim, first):
    calls = _stubs(monkeypatch, "fits", "boundaries", "curves", "tradeoff", "calibration")
    inp = SimpleNamespace(input_dim=dim)
    out = F.sweep_figures(inp, MC, Path("figs"))
    assert list(out) == [*first, "curves", "tradeoff", "calibration"] == calls  # in this order, each once


# --- the comparison ----------------------------------------------------------------------------


def _with_comparison(inp, seeds=(0, 1), best_l2=1e-4):
    data = SimpleNamespace(task=inp.task, schema=SimpleNamespace(features=inp.metrics["features"],
                                                                 classes=inp.metrics.get("classes")))
    members = [Member(0.1, s, dropout="concrete") for s in seeds] + [Member(0.0, s, l2=1e-4) for s in seeds]
    members += [Member(0.0, s, early_stopping=True) for s in seeds] + [Member(0.5, s, l2=1e-4) for s in seeds]
    checkpoints = [_member(inp.name, data, m) for m in members]
    return dataclasses.replace(inp, compare={"best_l2": best_l2, "best_dropout_l2": best_l2},
                               compare_checkpoints=checkpoints)


def test_learned_p_draws_each_layer_against_the_sweeps_best_p(reg, tmp_path, drawn):
    assert F.learned_p(reg, tmp_path) == {}  # no Concrete members
    inp = _with_comparison(reg)
    ((caption, path),) = F.learned_p(inp, tmp_path).items()
    assert path == tmp_path / "learned_p.png" and _is_png(path) and "Learned dropout rate" in caption
    (ax,) = drawn[0].axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_ylim()) == ("epoch", "dropout rate p", (0.0, 1.0))
    assert _legend_texts(ax) == ["layer 1", "layer 2", f"sweep best p = {inp.best_p:g}"]
    concrete = [meta.p_history.numpy() for _, meta in inp.compare_checkpoints if meta.method == "concrete"]
    layer1 = next(line for line in ax.get_lines() if line.get_label() == "layer 1")
    np.testing.assert_allclose(layer1.get_ydata(), np.mean([h[:, 0] for h in concrete], axis=0), rtol=1e-6)


def test_regularisers_one_panel_per_regulariser_of_the_first_seed(reg, tmp_path, drawn):
    inp = _with_comparison(reg, seeds=(1, 2))
    ((caption, path),) = F.regularisers(inp, MC, tmp_path).items()
    assert path.name == "regularisers.png" and caption.startswith("The best of each regulariser, seed 1:")
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_visible()]
    assert titles == ["no regularisation (p = 0)", f"dropout, best p = {inp.best_p:g} (MC)", "Concrete dropout (MC)",
                      "L2 λ = 0.0001, no dropout", "early stopping, no dropout", "p = 0.5 + L2 λ = 0.0001 (MC)"]


def test_regulariser_panels_when_lambda_zero_is_chosen():
    """compare.json's L2 grids start at λ = 0, the sweep's members of the same p (no checkpoint of the comparison's
    own): the figure of the best of each regulariser draws the sweep's member there."""
    def member(method, l2=0.0, p=0.0):
        return f"{method} p={p:g} λ={l2:g}", SimpleNamespace(method=method, l2=l2, p=p, seed=0)

    sweep = {0.0: member("dropout"), 0.5: member("dropout", p=0.5)}
    comparison = [member("concrete"), member("l2", 1e-4), member("early_stopping"), member("dropout+l2", 1e-4, 0.5)]
    inp = SimpleNamespace(compare={"best_l2": 0.0, "best_dropout_l2": 0.0}, best_p=0.5, members=sweep,
                          compare_checkpoints=comparison)
    panels = F._regulariser_panels(inp, 0)
    assert panels["L2 λ = 0, no dropout"] == (sweep[0.0], False)
    assert panels["p = 0.5 + L2 λ = 0 (MC)"] == (sweep[0.5], True)
    inp.compare = {"best_l2": 1e-4, "best_dropout_l2": 1e-4}  # a weight decay of the grid: the comparison's members
    panels = F._regulariser_panels(inp, 0)
    assert panels["L2 λ = 0.0001, no dropout"] == (comparison[1], False)
    assert panels["p = 0.5 + L2 λ = 0.0001 (MC)"] == (comparison[3], True)
    assert panels["Concrete dropout (MC)"] == (comparison[0], True)
    assert panels["early stopping, no dropout"] == (comparison[2], False)
    assert panels["dropout, best p = 0.5 (MC)"] == (sweep[0.5], True)
    inp.compare = {"best_l2": None, "best_dropout_l2": None}  # no L2 grids: no L2 panels
    assert not any("L2" in title for title in F._regulariser_panels(inp, 0))


def test_comparison_figures_follow_the_inputs(monkeypatch):
    calls = _stubs(monkeypatch, "learned_p", "regularisers")
    one_d = SimpleNamespace(compare={}, compare_checkpoints=["a member"], input_dim=1)
    assert list(F.comparison_figures(one_d, MC, Path("figs"))) == ["learned_p", "regularisers"]
    # 2-D inputs have no fitted curves; no comparison checkpoints nothing to draw them from
    assert list(F.comparison_figures(SimpleNamespace(**{**vars(one_d), "input_dim": 2}), MC, Path("f"))) == [
        "learned_p"]
    assert list(F.comparison_figures(SimpleNamespace(**{**vars(one_d), "compare_checkpoints": []}), MC, Path("f"))) \
        == ["learned_p"]
    calls.clear()
    assert F.comparison_figures(SimpleNamespace(**{**vars(one_d), "compare": None}), MC, Path("f")) == {}
    assert calls == []  # no compare.json: nothing drawn
