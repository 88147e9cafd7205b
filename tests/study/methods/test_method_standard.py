"""mcdropout.study.methods.standard: the sweep's member at the p chosen with dropout off, one pass with dropout off;
no model uncertainty of its own (regression: a constant noise, nothing to rank points by)."""

import numpy as np
import pytest
import torch
from test_method_base import SWEEP, checkpoint, ctx, fresh, prediction_type, x_test  # noqa: F401 - ctx: a fixture

from mcdropout.data.datasets import DataError
from mcdropout.inference.evaluation import raw_samples
from mcdropout.study.methods import standard
from mcdropout.study.methods.base import member_seconds
from mcdropout.study.selection import CRITERIA


def test_what_the_report_shows(ctx):  # noqa: F811
    method = standard.build(fresh(ctx))
    assert standard.NAME == method.name == "standard"
    assert method.label == "standard (dropout off)" and method.selected_by == CRITERIA["standard"]
    assert method.config == {"p": 0.0}  # best_p_by_inference["standard"], not the MC choice (0.3)
    assert method.epistemic is False and method.single_member is None
    assert method.has_uncertainty is (ctx.task.name == "classification")  # the softmax ranks points; a noise does not
    _, meta = checkpoint(ctx, "sweep", SWEEP[0])
    assert method.train_seconds == pytest.approx(member_seconds(meta))


def test_predict_is_one_pass_with_dropout_off(ctx):  # noqa: F811
    method = standard.build(fresh(ctx))
    model, meta = checkpoint(ctx, "sweep", SWEEP[0])
    x = x_test(ctx)
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx))
    assert pred.samples.shape[:2] == (1, len(x))
    np.testing.assert_array_equal(pred.samples, raw_samples(model, x, ctx.task, "standard", 1, 0))
    if ctx.task.fits_noise:
        assert pred.noise_std == meta.noise_std["standard"] and (pred.epistemic_std == 0).all()
        with torch.no_grad():
            np.testing.assert_allclose(pred.mean, model.eval()(torch.from_numpy(x))[:, 0].numpy(), rtol=1e-6)
    else:
        assert pred.probs.shape == (len(x), 2) and np.allclose(pred.mutual_info, 0)
    np.testing.assert_array_equal(method.predict(x).samples, pred.samples)  # no randomness


def test_the_p_chosen_with_dropout_off(ctx):  # noqa: F811
    chosen = fresh(ctx, metrics={"best_p": 0.0, "best_p_by_inference": {"standard": 0.3, "mc": 0.0}})
    method = standard.build(chosen)
    assert method.config == {"p": 0.3}
    model, _ = checkpoint(ctx, "sweep", SWEEP[1])
    x = x_test(ctx)
    np.testing.assert_array_equal(method.predict(x).samples, raw_samples(model, x, ctx.task, "standard", 1, 0))
    assert standard.build(fresh(ctx, metrics={"best_p": 0.3})).config == {"p": 0.3}  # an older metrics.json


def test_a_missing_sweep_member_names_the_command(ctx):  # noqa: F811
    with pytest.raises(DataError, match=f"p0_seed7.pt: missing; run `mcdropout sweep --dataset {ctx.dataset}`"):
        standard.build(fresh(ctx, seed=7))
