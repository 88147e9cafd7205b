"""Standard inference: the sweep's selected member with dropout off. Its uncertainty is the constant noise fitted
on val (regression: nothing to rank points by) or the softmax/sigmoid output (classification)."""

from mcdropout.inference.evaluation import predict
from mcdropout.study.methods.base import Context, Method, member_seconds, selected_member

NAME = "standard"


def build(ctx: Context) -> Method:
    model, meta = selected_member(ctx)
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "standard", 1, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=not ctx.task.fits_noise, label="standard (dropout off)")

