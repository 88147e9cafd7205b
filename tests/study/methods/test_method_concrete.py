"""mcdropout.study.methods.concrete: the comparison's Concrete member of the repeat (learned rates), ``mc.samples``
passes with dropout on; left out where the comparison trained none."""

import numpy as np
import pytest
from test_method_base import CONCRETE, checkpoint, ctx, fresh, prediction_type, x_test  # noqa: F401 - ctx: a fixture

from mcdropout.inference.evaluation import predict
from mcdropout.study.methods import concrete
from mcdropout.study.methods.base import member_seconds


def test_what_the_report_shows(ctx):  # noqa: F811
    method = concrete.build(fresh(ctx))
    model, meta = checkpoint(ctx, "compare", CONCRETE)
    assert concrete.NAME == method.name == "concrete"
    assert method.label == "Concrete dropout (MC)" and "model.concrete" in method.selected_by
    assert method.config == {"learned_p": [round(float(v), 4) for v in model.learned_p], "init_p": 0.1,
                             "length_scale": 0.01}
    assert len(method.config["learned_p"]) == 2 and all(0 < p < 1 for p in method.config["learned_p"])
    assert method.epistemic is True and method.has_uncertainty is True and method.single_member is None
    assert method.train_seconds == pytest.approx(member_seconds(meta))


def test_predict_is_mc_samples_passes_at_the_learned_rates(ctx):  # noqa: F811
    method = concrete.build(fresh(ctx))
    model, meta = checkpoint(ctx, "compare", CONCRETE)
    x = x_test(ctx)
    pred = method.predict(x)
    assert isinstance(pred, prediction_type(ctx)) and pred.samples.shape[:2] == (20, len(x))
    np.testing.assert_array_equal(pred.samples, predict(model, x, ctx.task, "mc", 20, 0, meta.noise_std).samples)
    assert not np.array_equal(pred.samples[0], pred.samples[1])
    np.testing.assert_array_equal(method.predict(x).samples, pred.samples)
    if ctx.task.fits_noise:
        assert pred.noise_std == meta.noise_std["mc"]


def test_found_by_its_checkpoint_alone(ctx):  # noqa: F811
    assert concrete.build(fresh(ctx, compare=None)).name == "concrete"  # compare.json is not read
    assert concrete.build(fresh(ctx, seed=1)) is None  # no Concrete member for repeat 1
