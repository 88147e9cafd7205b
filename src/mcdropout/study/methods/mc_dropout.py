"""MC dropout: the sweep's member at the p chosen by MC validation NLL, dropout on, ``mc.samples`` passes."""

from mcdropout.inference.evaluation import predict
from mcdropout.study.methods.base import Context, Method, best_p, member_seconds, sweep_member
from mcdropout.study.selection import CRITERIA

NAME = "mc_dropout"


def build(ctx: Context) -> Method:
    p = best_p(ctx, "mc")
    model, meta = sweep_member(ctx, p)
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "mc", mc.samples, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="MC dropout",
                  selected_by=CRITERIA["mc"], config={"p": p, "samples": mc.samples})
