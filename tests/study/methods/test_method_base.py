"""mcdropout.study.methods.base: what a method is, the registry, and the helpers the methods build on (the selected
p, the sweep's and the comparison's checkpoints read once per context, ensembles pooled as samples).

Also the tiny trained study the method modules' tests share (``ctx``, imported by each ``test_method_*.py``): the
sweep's members at p = 0 and 0.3 (seed 0), both ensembles of 3 networks and the Concrete member, trained in one
fit of a few epochs, and a Context for repeat 0 with ``best_p_by_inference`` {standard: 0, mc: 0.3}."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import DataError, load_dataset, write_dataset
from mcdropout.inference.evaluation import raw_samples
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.scoring.uncertainty import ClassificationPrediction, RegressionPrediction
from mcdropout.study import methods
from mcdropout.study.experiment import Group, train_groups
from mcdropout.study.methods import base
from mcdropout.study.methods.base import (
    Context,
    Method,
    best_p,
    build_methods,
    ensemble,
    ensemble_method,
    load_member,
    member_seconds,
    register,
    sweep_member,
)

SWEEP = [Member(0.0, 0), Member(0.3, 0)]
DEEP = [Member(0.0, 10_000 + j, l2=1e-3) for j in range(3)]
MC_ENSEMBLE = [Member(0.3, 10_003 + j) for j in range(3)]
CONCRETE = Member(0.1, 0, dropout="concrete")
EPOCHS = 5


def study_params(root) -> Params:
    return Params().override(**{
        "data.dir": str(root / "data"), "train.models_dir": str(root / "models"),
        "data.regression.n_train": 20, "data.regression.n_val": 20, "data.regression.n_test": 30,
        "data.classification.n_train": 40, "data.classification.n_val": 40, "data.classification.n_test": 30,
        "model.hidden": [16, 16], "mc.samples": 20, "trust.ensemble_size": 3, "mlflow.enabled": False,
    }).with_epochs(EPOCHS)


def trained_context(root, dataset: str) -> Context:
    """Everything the five methods need for ``dataset``, trained in one stacked fit (about a second)."""
    params = study_params(root)
    write_dataset(dataset, params)
    paths = Paths.of(params)
    train_groups(params, dataset, [Group("sweep", SWEEP, paths.sweep_dir(dataset), False),
                                   Group("ensemble", DEEP + MC_ENSEMBLE, paths.ensemble_dir(dataset), False),
                                   Group("compare", [CONCRETE], paths.compare_dir(dataset), False)], progress=False)
    metrics = {"best_p": 0.0, "best_p_by_inference": {"standard": 0.0, "mc": 0.3}}
    compare = {"ensembles": {
        "deep_ensemble": {"selected_by": "the test's deep rule", "config": {"method": "l2", "l2": 1e-3},
                          "members": {"0": [m.name for m in DEEP]}},
        "mc_dropout_ensemble": {"selected_by": "the test's MC rule", "config": {"p": 0.3},
                                "members": {"0": [m.name for m in MC_ENSEMBLE]}},
        "size": 3}}
    params = params.for_dataset(dataset)
    data = load_dataset(dataset, params.data.dir)
    return Context(params, dataset, data, data.task, metrics, compare, 0)


@pytest.fixture(scope="module", params=["regression", "classification"])
def ctx(request, tmp_path_factory) -> Context:
    return trained_context(tmp_path_factory.mktemp(request.param), request.param)


def fresh(ctx: Context, **changes) -> Context:
    """The context with its own (empty) cache of loaded checkpoints, and ``changes``."""
    return dataclasses.replace(ctx, loaded={}, **changes)


def checkpoint(ctx: Context, folder: str, member: Member):
    return load_checkpoint(getattr(ctx.paths, f"{folder}_dir")(ctx.dataset) / f"{member.name}.pt")


def x_test(ctx: Context) -> np.ndarray:
    return ctx.data.splits["test"].x


def prediction_type(ctx: Context) -> type:
    return RegressionPrediction if ctx.task.fits_noise else ClassificationPrediction


# --- Method, Context, the registry ---------------------------------------------------------------


def test_method_defaults():
    m = Method("m", lambda x: x, 1.5, has_uncertainty=True)
    assert (m.epistemic, m.label, m.selected_by, m.config, m.single_member) == (True, None, "", {}, None)
    assert Method("n", len, 0.0, False).config is not m.config  # a dict of its own


def test_context_paths_are_the_params_folders(ctx):
    assert ctx.paths == Paths.of(ctx.params)
    assert ctx.paths.sweep_dir(ctx.dataset).is_dir()


def test_the_registry_in_the_order_of_registration():
    assert list(base.REGISTRY) == ["standard", "mc_dropout", "deep_ensemble", "mc_dropout_ensemble", "concrete"]
    assert base.REGISTRY["standard"] is methods.standard.build


def test_register_adds_or_replaces_and_build_methods_skips_none(monkeypatch):
    monkeypatch.setattr(base, "REGISTRY", {})
    seen = []

    def make(name):
        def build(ctx):
            seen.append((name, ctx))
            return None if name == "absent" else Method(name, len, 0.0, True)
        return build

    for name in ("b", "absent", "a"):
        register(name, make(name))
    register("b", make("b2"))  # replaced, in its place
    assert list(base.REGISTRY) == ["b", "absent", "a"]
    built = build_methods("the context")
    assert [m.name for m in built] == ["b2", "a"]  # the method without anything trained left out
    assert seen == [("b2", "the context"), ("absent", "the context"), ("a", "the context")]


def test_every_method_of_a_fully_trained_study(ctx):
    assert [m.name for m in build_methods(fresh(ctx))] == ["standard", "mc_dropout", "deep_ensemble",
                                                          "mc_dropout_ensemble", "concrete"]
    # without compare.json the ensembles are left out; the Concrete member is found by its checkpoint
    assert [m.name for m in build_methods(fresh(ctx, compare=None))] == ["standard", "mc_dropout", "concrete"]


# --- helpers --------------------------------------------------------------------------------------


def test_best_p_by_inference_else_the_sweeps_best_p(ctx):
    assert best_p(ctx, "mc") == 0.3 and best_p(ctx, "standard") == 0.0
    only = fresh(ctx, metrics={"best_p": 0.5})
    assert best_p(only, "mc") == best_p(only, "standard") == 0.5
    partial = fresh(ctx, metrics={"best_p": 0.5, "best_p_by_inference": {"mc": 0.1}})
    assert (best_p(partial, "mc"), best_p(partial, "standard")) == (0.1, 0.5)
    assert isinstance(best_p(fresh(ctx, metrics={"best_p": 1}), "mc"), float)
    with pytest.raises(KeyError):
        best_p(fresh(ctx, metrics={}), "mc")


def test_load_member_names_the_command_for_a_missing_checkpoint(tmp_path):
    with pytest.raises(DataError, match=r"p0_seed0\.pt: missing; run `mcdropout sweep --dataset x` first$"):
        load_member(tmp_path / "p0_seed0.pt", "sweep --dataset x")


def test_sweep_member_read_once_per_context(ctx):
    own = fresh(ctx)
    model, meta = sweep_member(own, 0.3)
    assert (meta.p, meta.seed) == (0.3, 0)
    path = own.paths.sweep_dir(own.dataset) / "p0.3_seed0.pt"
    assert list(own.loaded) == [path]
    assert sweep_member(own, 0.3)[0] is model  # the cached network, not read again
    with pytest.raises(DataError, match=f"run `mcdropout sweep --dataset {ctx.dataset}` first"):
        sweep_member(fresh(ctx, seed=1), 0.3)  # repeat 1 was not trained


def test_ensemble_members_of_the_repeat(ctx):
    found = ensemble(fresh(ctx), "deep_ensemble")
    assert found is not None
    members, entry = found
    assert entry is ctx.compare["ensembles"]["deep_ensemble"]
    assert [(meta.seed, meta.l2, meta.p) for _, meta in members] == [(m.seed, 1e-3, 0.0) for m in DEEP]


@pytest.mark.parametrize("change", [
    {"compare": None},  # no compare.json
    {"compare": {}},
    {"compare": {"ensembles": {"mc_dropout_ensemble": {"members": {"0": []}}}}},  # not this ensemble
    {"compare": {"ensembles": {"deep_ensemble": {}}}},
    {"seed": 1},  # not this repeat
])
def test_ensemble_none_where_the_comparison_trained_none(ctx, change):
    assert ensemble(fresh(ctx, **change), "deep_ensemble") is None


def test_member_seconds_is_its_share_of_the_fit(ctx):
    assert member_seconds(SimpleNamespace(fit_seconds=6.0, fit_members=3)) == 2.0
    assert member_seconds(SimpleNamespace(fit_seconds=6.0, fit_members=0)) == 6.0  # no division by zero
    _, meta = checkpoint(ctx, "sweep", SWEEP[0])
    assert meta.fit_members == 9 and meta.fit_seconds > 0  # the study's one fit: 2 + 6 + 1 members
    assert member_seconds(meta) == pytest.approx(meta.fit_seconds / 9)


@pytest.mark.parametrize("mode, samples", [("mc", 4), ("standard", 1)])
def test_ensemble_method_pools_the_members_samples(ctx, mode, samples):
    members, entry = ensemble(fresh(ctx), "mc_dropout_ensemble" if mode == "mc" else "deep_ensemble")
    method = ensemble_method(ctx, "pool", "a pool", members, entry, mode, samples)
    assert (method.name, method.label, method.selected_by) == ("pool", "a pool", entry["selected_by"])
    assert method.has_uncertainty and method.epistemic
    expected = {**entry["config"], "members": 3} | ({"samples_per_member": samples} if mode == "mc" else {})
    assert method.config == expected
    assert method.train_seconds == pytest.approx(sum(member_seconds(meta) for _, meta in members))
    x, seed = x_test(ctx), ctx.params.mc.seed
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx)) and pred.samples.shape[:2] == (3 * samples, len(x))
    for j, (model, _) in enumerate(members):  # member j's passes, seeded seed + j, one after another
        np.testing.assert_array_equal(pred.samples[j * samples:(j + 1) * samples],
                                      raw_samples(model, x, ctx.task, mode, samples, seed + j))
    single = method.single_member(x)
    np.testing.assert_array_equal(single.samples, raw_samples(members[0][0], x, ctx.task, mode, 3 * samples, seed))
    if ctx.task.fits_noise:  # one noise std for the pool, fitted on val
        val = ctx.data.splits["val"]
        pooled = np.concatenate([raw_samples(m, val.x, ctx.task, mode, samples, seed + j)
                                 for j, (m, _) in enumerate(members)])
        assert pred.noise_std == pytest.approx(ctx.task.fit_noise(pooled, val.y.astype(np.float64)))
