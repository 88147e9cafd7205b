"""A deep ensemble: ``trust.ensemble_size`` networks without dropout of the best non-dropout setting (an L2 weight
decay or early stopping, chosen by validation NLL), trained by `mcdropout compare`. Their outputs are treated like
MC samples: a mixture with noise fitted on val (regression), mean probabilities (classification)."""

from mcdropout.study.methods.base import Context, Method, ensemble, ensemble_method

NAME = "deep_ensemble"


def build(ctx: Context) -> Method | None:
    found = ensemble(ctx, NAME)
    if found is None:
        return None
    members, entry = found
    return ensemble_method(ctx, NAME, "deep ensemble", members, entry, "standard", 1)
