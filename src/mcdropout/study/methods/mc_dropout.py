"""MC dropout: the sweep's selected member, dropout on, ``mc.samples`` passes."""

from mcdropout.inference.evaluation import predict
from mcdropout.nn.members import Member
from mcdropout.study.methods.base import Context, Method, load_member, member_seconds

NAME = "mc_dropout"


def build(ctx: Context) -> Method:
    model, meta = load_member(ctx.paths.sweep_dir(ctx.dataset) / f"{Member(ctx.best_p, ctx.seed).name}.pt",
                              f"sweep --dataset {ctx.dataset}")
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "mc", mc.samples, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="MC dropout")

