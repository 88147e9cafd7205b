"""A deep ensemble: ``trust.ensemble_size`` networks without dropout (seeds 0..M-1), trained by `mcdropout compare`
in its batched model. Their outputs are treated like MC samples: a mixture with noise fitted on val (regression),
mean probabilities (classification)."""

import numpy as np

from mcdropout.inference.evaluation import raw_samples
from mcdropout.study.compare import ensemble_members
from mcdropout.study.methods.base import Context, Method, load_member, member_seconds

NAME = "deep_ensemble"


def build(ctx: Context) -> Method:
    task, val = ctx.task, ctx.data.splits["val"]
    members = [load_member(ctx.paths.ensemble_dir(ctx.dataset) / f"{m.name}.pt", f"compare --dataset {ctx.dataset}")
               for m in ensemble_members(ctx.params)]
    models = [model for model, _ in members]

    def samples(x: np.ndarray) -> np.ndarray:
        return np.concatenate([raw_samples(m, x, task, "standard", 1, 0) for m in models])

    noise = task.fit_noise(samples(val.x), val.y.astype(np.float64)) if task.fits_noise else None
    return Method(NAME, lambda x: task.prediction(samples(x), noise),
                  sum(member_seconds(meta) for _, meta in members), has_uncertainty=True, label="deep ensemble")

