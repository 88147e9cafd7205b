"""mcdropout.study.methods.deep_ensemble: the comparison's networks without dropout, one pass each with dropout off,
pooled as samples; left out without compare.json."""

import numpy as np
import pytest
from test_method_base import DEEP, checkpoint, ctx, fresh, prediction_type, x_test  # noqa: F401 - ctx: a fixture

from mcdropout.inference.evaluation import raw_samples
from mcdropout.study.methods import deep_ensemble
from mcdropout.study.methods.base import member_seconds


def test_what_the_report_shows(ctx):  # noqa: F811
    method = deep_ensemble.build(fresh(ctx))
    assert deep_ensemble.NAME == method.name == "deep_ensemble"
    assert method.label == "deep ensemble" and method.selected_by == "the test's deep rule"  # compare.json's rule
    assert method.config == {"method": "l2", "l2": 1e-3, "members": 3}  # no samples_per_member: one pass each
    assert method.epistemic is True and method.has_uncertainty is True
    assert method.train_seconds == pytest.approx(sum(member_seconds(checkpoint(ctx, "ensemble", m)[1]) for m in DEEP))


def test_predict_pools_one_standard_pass_per_member(ctx):  # noqa: F811
    method = deep_ensemble.build(fresh(ctx))
    x = x_test(ctx)
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx)) and pred.samples.shape[:2] == (3, len(x))
    for j, m in enumerate(DEEP):
        model, _ = checkpoint(ctx, "ensemble", m)
        np.testing.assert_array_equal(pred.samples[j], raw_samples(model, x, ctx.task, "standard", 1, 0)[0])
    np.testing.assert_array_equal(method.predict(x).samples, pred.samples)


def test_single_member_is_the_first_network_alone(ctx):  # noqa: F811
    method = deep_ensemble.build(fresh(ctx))
    x = x_test(ctx)
    single = method.single_member(x)
    assert isinstance(single, prediction_type(ctx)) and single.samples.shape[:2] == (1, len(x))  # dropout off: 1
    np.testing.assert_array_equal(single.samples[0], method.predict(x).samples[0])
    if ctx.task.fits_noise:  # its own noise, fitted on val
        val = ctx.data.splits["val"]
        model, _ = checkpoint(ctx, "ensemble", DEEP[0])
        own = ctx.task.fit_noise(raw_samples(model, val.x, ctx.task, "standard", 1, 0), val.y.astype(np.float64))
        assert single.noise_std == pytest.approx(own)


@pytest.mark.parametrize("change", [{"compare": None}, {"compare": {"ensembles": {}}}, {"seed": 1}])
def test_none_without_the_comparisons_ensemble(ctx, change):  # noqa: F811
    assert deep_ensemble.build(fresh(ctx, **change)) is None
