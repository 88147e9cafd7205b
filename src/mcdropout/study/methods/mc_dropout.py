"""MC dropout: the sweep's selected member, dropout on, ``mc.samples`` passes."""

from mcdropout.inference.evaluation import predict
from mcdropout.study.methods.base import Context, Method, member_seconds, selected_member

NAME = "mc_dropout"


def build(ctx: Context) -> Method:
    model, meta = selected_member(ctx)
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "mc", mc.samples, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="MC dropout")

