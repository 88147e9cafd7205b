"""Concrete dropout (learned rates): the comparison's Concrete member of the same seed, MC passes; left out where
the comparison trained none."""

from mcdropout.inference.evaluation import predict
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study.methods.base import Context, Method, member_seconds

NAME = "concrete"


def build(ctx: Context) -> Method | None:
    path = ctx.paths.compare_dir(ctx.dataset) / f"{Member(0.0, ctx.seed, dropout='concrete').name}.pt"
    if not path.is_file():
        return None
    model, meta = load_checkpoint(path)
    mc = ctx.params.mc
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "mc", mc.samples, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="Concrete dropout (MC)")

