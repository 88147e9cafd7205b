"""An ensemble of MC-dropout networks: ``trust.ensemble_size`` networks at MC dropout's selected p, each sampled
with dropout on; the same number of passes as MC dropout in all (``mc.samples`` spread over the members)."""

from mcdropout.study.methods.base import Context, Method, ensemble, ensemble_method

NAME = "mc_dropout_ensemble"


def build(ctx: Context) -> Method | None:
    found = ensemble(ctx, NAME)
    if found is None:
        return None
    members, entry = found
    per_member = -(-ctx.params.mc.samples // len(members))
    return ensemble_method(ctx, NAME, "MC-dropout ensemble", members, entry, "mc", per_member)
