"""mcdropout.study.methods.mc_dropout: the sweep's member at the p chosen by MC validation NLL, ``mc.samples`` passes
with dropout on."""

import numpy as np
import pytest
from test_method_base import SWEEP, checkpoint, ctx, fresh, prediction_type, x_test  # noqa: F401 - ctx: a fixture

from mcdropout.inference.evaluation import predict, raw_samples
from mcdropout.study.methods import mc_dropout
from mcdropout.study.methods.base import member_seconds
from mcdropout.study.selection import CRITERIA


def test_what_the_report_shows(ctx):  # noqa: F811
    method = mc_dropout.build(fresh(ctx))
    assert mc_dropout.NAME == method.name == "mc_dropout"
    assert method.label == "MC dropout" and method.selected_by == CRITERIA["mc"]
    assert method.config == {"p": 0.3, "samples": 20}  # best_p_by_inference["mc"] and mc.samples
    assert method.epistemic is True and method.has_uncertainty is True and method.single_member is None
    _, meta = checkpoint(ctx, "sweep", SWEEP[1])
    assert method.train_seconds == pytest.approx(member_seconds(meta))


def test_predict_is_mc_samples_passes_with_dropout_on(ctx):  # noqa: F811
    method = mc_dropout.build(fresh(ctx))
    model, meta = checkpoint(ctx, "sweep", SWEEP[1])
    x = x_test(ctx)
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx)) and pred.samples.shape[:2] == (20, len(x))
    expected = predict(model, x, ctx.task, "mc", 20, ctx.params.mc.seed, meta.noise_std)
    np.testing.assert_array_equal(pred.samples, expected.samples)
    assert not np.array_equal(pred.samples[0], pred.samples[1])  # p = 0.3: the passes differ
    np.testing.assert_array_equal(method.predict(x).samples, pred.samples)  # seeded by mc.seed
    if ctx.task.fits_noise:
        assert pred.noise_std == meta.noise_std["mc"] and (pred.epistemic_std > 0).any()
    else:
        assert (pred.mutual_info > 0).any()


def test_more_samples_and_another_seed(ctx):  # noqa: F811
    params = ctx.params.override(**{"mc.samples": 7, "mc.seed": 3})
    method = mc_dropout.build(fresh(ctx, params=params))
    assert method.config == {"p": 0.3, "samples": 7}
    model, _ = checkpoint(ctx, "sweep", SWEEP[1])
    x = x_test(ctx)
    np.testing.assert_array_equal(method.predict(x).samples, raw_samples(model, x, ctx.task, "mc", 7, 3))


def test_without_best_p_by_inference_the_sweeps_best_p(ctx):  # noqa: F811
    method = mc_dropout.build(fresh(ctx, metrics={"best_p": 0.0}))
    assert method.config["p"] == 0.0
    pred = method.predict(x_test(ctx))
    np.testing.assert_allclose(pred.samples, pred.samples[:1].repeat(20, axis=0), rtol=1e-6)  # p = 0: one network
