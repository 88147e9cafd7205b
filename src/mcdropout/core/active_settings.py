"""The ``active:`` block of ``params.yaml``: one active-learning experiment per dataset named there
(``mcdropout active``, the stage ``active@<name>``; :mod:`mcdropout.study.active`)."""

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from mcdropout.core.constraints import Count, Positive, Rate, Samples, Switch, grid_of, list_of, one_of
from mcdropout.core.section import Section

ACQUISITION = ("random", "max_entropy", "variation_ratios", "mean_std", "bald", "batchbald", "max_variance")


class ActiveConfig(Section):
    """``mcdropout active`` and the ``active@<name>`` stage of a dataset named under ``active:``: pool-based active
    learning with MC dropout (:mod:`mcdropout.study.active`)."""

    # acquisition functions (None: every one the task has: classification random, max_entropy, variation_ratios,
    # mean_std, bald, batchbald; regression random, max_variance, bald)
    functions: list_of(one_of(ACQUISITION), f"names among {', '.join(ACQUISITION)}") | None = None
    initial: Count = 20  # labelled pool points to start from (balanced over the classes)
    batch: Count = 10  # points labelled per round
    budget: Count = 100  # labels at most
    repeats: Count = 3  # initial set, weights and (real data) the split
    samples: Samples = 20  # MC passes T that score the pool and the test set
    epochs: Count = 100  # training epochs per round
    p: Rate = 0.5  # dropout rate of the members
    warm_start: Switch = False  # each round goes on from the last round's weights (default: from scratch)
    targets: grid_of(Positive, "numbers > 0") = (0.1, 0.05)  # test errors (error rate; regression: RMSE) to reach

    @model_validator(mode="after")
    def _budget(self) -> "ActiveConfig":
        if self.budget < self.initial:
            raise PydanticCustomError("spec", "budget ({budget}) must be at least initial ({initial})",
                                      {"budget": self.budget, "initial": self.initial})
        return self


DEFAULT_ACTIVE = {  # a short version of each experiment, within the default study's time; more: raise the budget
    "digits": ActiveConfig(budget=50, targets=(0.2, 0.1, 0.05)),
    "regression": ActiveConfig(initial=4, batch=2, budget=14, epochs=300, targets=(0.45, 0.35)),
}
