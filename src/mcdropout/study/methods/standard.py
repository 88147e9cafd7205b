"""Standard inference: the sweep's selected member with dropout off. Its uncertainty is the constant noise fitted
on val (regression: nothing to rank points by) or the softmax/sigmoid output (classification)."""

from mcdropout.inference.evaluation import predict
from mcdropout.nn.members import Member
from mcdropout.study.methods.base import Context, Method, load_member, member_seconds

NAME = "standard"


def build(ctx: Context) -> Method:
    model, meta = load_member(ctx.paths.sweep_dir(ctx.dataset) / f"{Member(ctx.best_p, ctx.seed).name}.pt",
                              f"sweep --dataset {ctx.dataset}")
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "standard", 1, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=not ctx.task.fits_noise, label="standard (dropout off)")

