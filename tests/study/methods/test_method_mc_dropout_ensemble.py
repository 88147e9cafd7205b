"""mcdropout.study.methods.mc_dropout_ensemble: networks at MC dropout's p, each sampled with dropout on,
``ceil(mc.samples / members)`` passes per member; left out without compare.json."""

import numpy as np
import pytest
from test_method_base import MC_ENSEMBLE, checkpoint, ctx, fresh, prediction_type, x_test  # noqa: F401 - a fixture

from mcdropout.inference.evaluation import raw_samples
from mcdropout.study.methods import mc_dropout_ensemble
from mcdropout.study.methods.base import member_seconds


def test_what_the_report_shows(ctx):  # noqa: F811
    method = mc_dropout_ensemble.build(fresh(ctx))
    assert mc_dropout_ensemble.NAME == method.name == "mc_dropout_ensemble"
    assert method.label == "MC-dropout ensemble" and method.selected_by == "the test's MC rule"
    assert method.config == {"p": 0.3, "members": 3, "samples_per_member": 7}  # ceil(20 / 3)
    assert method.epistemic is True and method.has_uncertainty is True
    expected = sum(member_seconds(checkpoint(ctx, "ensemble", m)[1]) for m in MC_ENSEMBLE)
    assert method.train_seconds == pytest.approx(expected)


@pytest.mark.parametrize("samples, members, per_member", [(20, 3, 7), (21, 3, 7), (22, 3, 8), (20, 2, 10),
                                                          (1, 3, 1), (5, 1, 5)])
def test_samples_per_member_is_the_ceiling_of_mc_samples_over_members(ctx, samples, members, per_member):  # noqa: F811
    entry = {"selected_by": "s", "config": {"p": 0.3}, "members": {"0": [m.name for m in MC_ENSEMBLE[:members]]}}
    changed = fresh(ctx, params=ctx.params.override(**{"mc.samples": samples}),
                    compare={"ensembles": {"mc_dropout_ensemble": entry}})
    method = mc_dropout_ensemble.build(changed)
    assert method.config == {"p": 0.3, "members": members, "samples_per_member": per_member}
    x = x_test(ctx)[:4]
    assert method.predict(x).samples.shape[:2] == (members * per_member, 4)  # at least mc.samples in all
    assert method.single_member(x).samples.shape[:2] == (members * per_member, 4)


def test_predict_pools_each_members_mc_passes(ctx):  # noqa: F811
    method = mc_dropout_ensemble.build(fresh(ctx))
    x = x_test(ctx)
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx)) and pred.samples.shape[:2] == (21, len(x))
    for j, m in enumerate(MC_ENSEMBLE):  # member j: 7 passes seeded mc.seed + j
        model, _ = checkpoint(ctx, "ensemble", m)
        np.testing.assert_array_equal(pred.samples[7 * j:7 * (j + 1)], raw_samples(model, x, ctx.task, "mc", 7, j))
    np.testing.assert_array_equal(method.predict(x).samples, pred.samples)


def test_single_member_is_the_first_network_with_all_the_passes(ctx):  # noqa: F811
    method = mc_dropout_ensemble.build(fresh(ctx))
    x = x_test(ctx)
    single = method.single_member(x)
    model, _ = checkpoint(ctx, "ensemble", MC_ENSEMBLE[0])
    np.testing.assert_array_equal(single.samples, raw_samples(model, x, ctx.task, "mc", 21, 0))
    assert single.samples.shape == method.predict(x).samples.shape  # as many passes as the whole ensemble


@pytest.mark.parametrize("change", [{"compare": None}, {"compare": {"ensembles": {"deep_ensemble": {}}}},
                                    {"seed": 1}])
def test_none_without_the_comparisons_ensemble(ctx, change):  # noqa: F811
    assert mc_dropout_ensemble.build(fresh(ctx, **change)) is None
