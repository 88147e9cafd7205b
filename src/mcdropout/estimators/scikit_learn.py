"""scikit-learn estimators over mcdropout's engine: :class:`MCDropoutRegressor` and :class:`MCDropoutClassifier`.

The door for users of scikit-learn pipelines, cross-validation and MAPIE. ``fit(X, y)`` trains the study's MLP
(Linear, activation, Dropout(p), ..., output) with Lightning, as ``mcdropout train`` does, on the rows it is given:
``val_fraction`` of them (a seeded shuffle) are set aside for what the study fits on validation (the regression's
observation noise), the caller's own held-out rows are never seen. Prediction is MC dropout with ``samples``
passes (the fast path):

* ``MCDropoutRegressor.predict(X)``: the MC mean; ``predict(X, return_std=True)``: ``(mean, std)``, the predictive
  std (noise and epistemic parts), which MAPIE's ``StdConformityScore`` reads for adaptive conformal intervals.
* ``MCDropoutClassifier.predict_proba(X)``: the MC mean class probabilities; ``predict(X)``: the most probable
  class label.

Hyper-parameters are constructor arguments (``get_params``/``set_params``/``sklearn.base.clone`` work); they are
checked when ``fit`` runs, with the same rules and messages as params.yaml. Same ``random_state``, same model
and same predictions. docs/estimators.md lists what scikit-learn's ``check_estimator`` reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class _MCDropout(BaseEstimator):
    """What both estimators share: the hyper-parameters, the split, the training."""

    def __init__(self, p: float = 0.2, hidden: tuple[int, ...] = (128, 128), activation: str = "relu",
                 epochs: int = 300, lr: float = 3e-3, batch_size: int = 0, samples: int = 100,
                 val_fraction: float = 0.2, standardize: bool = True, random_state: int = 0,
                 accelerator: str = "auto", progress: bool = False) -> None:
        self.p = p
        self.hidden = hidden
        self.activation = activation
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.samples = samples
        self.val_fraction = val_fraction
        self.standardize = standardize
        self.random_state = random_state
        self.accelerator = accelerator
        self.progress = progress

    def _params(self):
        """The hyper-parameters as the study's validated params (one ConfigError, a ValueError, naming a bad one)."""
        from mcdropout.core.config import Params

        hidden = [self.hidden] if isinstance(self.hidden, int) else list(self.hidden)
        return Params().override(**{
            "model.hidden": hidden, "model.activation": self.activation, "train.p": self.p,
            "train.epochs": self.epochs, "train.lr": self.lr, "train.batch_size": self.batch_size,
            "train.seed": self.random_state, "train.accelerator": self.accelerator, "mc.samples": self.samples,
            "mc.seed": self.random_state, "mlflow.enabled": False,
        })

    def _train(self, x: np.ndarray, y: np.ndarray, task: Any) -> dict:
        """Train one member on the rows not set aside; returns the two splits it saw."""
        from mcdropout.data.datasets import Split
        from mcdropout.nn.members import Member
        from mcdropout.training.train import fit_members

        params = self._params()
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        n = len(y)
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(f"n_samples = {n}: too few rows to set {self.val_fraction:g} of them aside for "
                             f"validation and train on the rest")
        order = np.random.default_rng(self.random_state).permutation(n)
        val, train = order[:n_val], order[n_val:]
        splits = {"train": Split(x[train], y[train]), "val": Split(x[val], y[val])}
        fit = fit_members(task, splits, [Member(self.p, self.random_state)], params, progress=self.progress,
                          label=type(self).__name__, global_seed=self.random_state, standardize=self.standardize)
        self.model_ = fit.models[0]
        return splits

    def _sampled(self, X: Any):
        """MC dropout's prediction object for ``X`` (the task's: means and stds, or probabilities)."""
        from mcdropout.inference.evaluation import predict

        check_is_fitted(self, "model_")
        x = validate_data(self, X, dtype=np.float32, reset=False)
        return predict(self.model_, x, self.task_, "mc", self.samples, self.random_state, self.noise_)


class MCDropoutRegressor(RegressorMixin, _MCDropout):
    """An MLP with dropout whose predictions are MC dropout's: ``predict(X, return_std=True)`` -> mean, std."""

    def fit(self, X: Any, y: Any) -> MCDropoutRegressor:
        from mcdropout.core.tasks import get_task
        from mcdropout.inference.evaluation import fit_noise

        x, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        self.task_ = get_task("regression")
        splits = self._train(x, np.asarray(y, dtype=np.float32), self.task_)
        self.noise_ = fit_noise(self.model_, self.task_, splits["val"], self.samples, self.random_state)
        return self

    def predict(self, X: Any, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        sampled = self._sampled(X)
        return (sampled.mean, sampled.std) if return_std else sampled.mean


class MCDropoutClassifier(ClassifierMixin, _MCDropout):
    """An MLP with dropout whose class probabilities are MC dropout's mean over ``samples`` passes."""

    def fit(self, X: Any, y: Any) -> MCDropoutClassifier:
        from sklearn.utils.multiclass import check_classification_targets

        from mcdropout.core.tasks import task_for

        x, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the training labels have one class only ({self.classes_[0]!r}); need at least 2")
        self.task_ = task_for(tuple(str(c) for c in self.classes_))
        self.noise_ = None
        self._train(x, index.astype(np.float32), self.task_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._sampled(X).probs

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(1)]


# What scikit-learn's check_estimator reports and why (docs/estimators.md; tests/test_estimators.py runs it).
EXPECTED_FAILED_CHECKS = {
    "check_methods_sample_order_invariance": "MC dropout draws one mask per row of the batch in order: a row's "
                                             "prediction is a Monte Carlo estimate that depends on its position",
    "check_methods_subset_invariance": "the same: a row's masks depend on the rows predicted with it",
}


__all__ = ["MCDropoutClassifier", "MCDropoutRegressor"]
