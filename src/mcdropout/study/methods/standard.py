"""Standard inference: the sweep's member at the p chosen by validation NLL with dropout off, dropout off. Its
uncertainty is the constant noise fitted on val (regression: nothing to rank points by) or the softmax/sigmoid
output (classification)."""

from mcdropout.inference.evaluation import predict
from mcdropout.study.methods.base import Context, Method, best_p, member_seconds, sweep_member
from mcdropout.study.selection import CRITERIA

NAME = "standard"


def build(ctx: Context) -> Method:
    p = best_p(ctx, "standard")
    model, meta = sweep_member(ctx, p)
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "standard", 1, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=not ctx.task.fits_noise, label="standard (dropout off)",
                  epistemic=False,
                  selected_by=CRITERIA["standard"], config={"p": p})
