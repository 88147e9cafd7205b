"""Concrete dropout (learned rates): the comparison's Concrete member of the repeat's seed, MC passes; left out
where the comparison trained none."""

from mcdropout.inference.evaluation import predict
from mcdropout.nn.members import Member
from mcdropout.study.methods.base import Context, Method, cached, member_seconds

NAME = "concrete"


def build(ctx: Context) -> Method | None:
    path = ctx.paths.compare_dir(ctx.dataset) / f"{Member(0.0, ctx.seed, dropout='concrete').name}.pt"
    if not path.is_file():
        return None
    model, meta = cached(ctx, path, f"compare --dataset {ctx.dataset}")
    mc, cfg = ctx.params.mc, ctx.params.model.concrete
    return Method(NAME,
                  lambda x: predict(model, x, ctx.task, "mc", mc.samples, mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="Concrete dropout (MC)",
                  selected_by="rates learned by the Concrete dropout objective (no grid); init_p, temperature and "
                              "length_scale as set in model.concrete",
                  config={"learned_p": [round(float(v), 4) for v in model.learned_p], "init_p": cfg.init_p,
                          "length_scale": cfg.length_scale})
