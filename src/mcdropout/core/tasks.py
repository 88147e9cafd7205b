"""What differs between regression and classification, in one place.

Every other module asks a :class:`Task` instead of comparing task names: the width of
the output layer, the training loss, the link from outputs to predictions, the metrics
and which of them is the main one, the validation loss that picks ``best_p``, the
uncertainty metric shown beside it, and the columns of summaries and tables.

Classification has K classes: with two classes the network has one logit (sigmoid,
binary cross-entropy), as the seed study does; with K > 2 it has K logits (softmax,
cross-entropy). Either way predictions are class probabilities ``[N, K]``, and the
labels are the user's (``classes``, e.g. strings), mapped to indices 0..K-1.

torch is imported inside the methods that compute with it: ``mcdropout data`` (which
infers the task of a table) then starts without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from mcdropout.scoring import metrics as M
from mcdropout.scoring.mc_error import ClassificationMoments, HeteroscedasticMoments, RegressionMoments
from mcdropout.scoring.uncertainty import (
    ClassificationPrediction,
    RegressionPrediction,
    classification_metrics,
    classification_prediction,
    fit_noise_std,
    heteroscedastic_prediction,
    regression_metrics,
    regression_prediction,
)


@dataclass(frozen=True, kw_only=True)
class Task:
    """The common interface; see :class:`Regression` and :class:`Classification`."""

    name: str
    metric: str  # main metric key of an evaluation ("rmse", "accuracy")
    metric_label: str  # the error as a reader sees it ("RMSE", "error rate")
    verdict_metric: str  # the loss the report's fit verdicts compare (continuous: an error rate is too coarse)
    uncertainty_metric: str  # shown beside the error ("coverage_95", "ece")
    loss_name: str  # the validation loss that picks best_p ("mse", "nll")
    summary_keys: tuple[str, ...]  # per-split metrics kept in the per-p summary, main metric first
    count_metrics: tuple[str, ...]  # metrics that are fractions of the points: they move in steps of 1 / N
    fits_noise: bool  # a homoscedastic observation noise is fitted on val (regression with a mean output)
    continuous: bool  # the target is a number (regression, either head): predictions have a mean and a std
    loss_label: str  # the training loss as a figure's axis names it
    plain_uncertainty: str  # what a model without MC dropout offers as uncertainty
    plain_has_uncertainty: bool  # whether that is a per-input uncertainty of the model's own
    # The epoch's metric is a function of its mean loss alone (RMSE): training skips the batches' metrics.
    metric_from_loss: bool = False
    head: str | None = None  # regression: "homoscedastic" or "heteroscedastic" (model.head); classification: None

    @property
    def out_dim(self) -> int:
        return 1

    def member_losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-member mean training loss ``[M]`` for outputs ``[M, N, out]`` and targets ``[N]``."""
        raise NotImplementedError

    def member_metric(self, out: torch.Tensor, y: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """Per-member main metric ``[M]`` of one batch."""
        raise NotImplementedError

    def epoch_metric(self, mean_loss: torch.Tensor, mean_metric: torch.Tensor | None) -> torch.Tensor:
        """The epoch's metric from the point-weighted means of the batches' losses and metrics (None where
        ``metric_from_loss``)."""
        return mean_metric

    def link(self, out: torch.Tensor) -> np.ndarray:
        """Network outputs ``[T, N, out]`` to float64 samples: means (regression) or probabilities."""
        raise NotImplementedError

    def prediction(self, samples: np.ndarray, noise_std: float | None):
        raise NotImplementedError

    def moments(self, rows: int):
        """Empty running moments of ``rows`` rows' MC passes (:mod:`mcdropout.scoring.mc_error`): the prediction and the
        Monte Carlo standard error of each of its columns, from passes that arrive in blocks."""
        raise NotImplementedError

    def metrics(self, prediction, y: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def error(self, metric_value: float) -> float:
        """The main metric as an error (lower is better)."""
        return metric_value

    def val_loss(self, evaluation: dict[str, Any]) -> float:
        """The selection criterion: standard-inference validation loss of an evaluation."""
        raise NotImplementedError

    def prediction_columns(self, standard, sampled, level: float) -> dict[str, np.ndarray]:
        """The columns of ``mcdropout predict``."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Regression(Task):
    name: str = "regression"
    metric: str = "rmse"
    metric_label: str = "RMSE"
    verdict_metric: str = "rmse"
    uncertainty_metric: str = "coverage_95"
    loss_name: str = "mse"
    summary_keys: tuple[str, ...] = ("rmse", "nll", "coverage_95", "crps")
    count_metrics: tuple[str, ...] = ("coverage_50", "coverage_90", "coverage_95")
    fits_noise: bool = True
    continuous: bool = True
    loss_label: str = "MSE, standardised"
    plain_uncertainty: str = "none (constant noise fitted on val)"
    plain_has_uncertainty: bool = False
    metric_from_loss: bool = True
    head: str | None = "homoscedastic"

    def member_losses(self, out, y):
        from torch.nn import functional as F

        return F.mse_loss(out[..., 0], y.expand_as(out[..., 0]), reduction="none").mean(dim=1)

    def member_metric(self, out, y, losses):
        return losses.sqrt()

    def epoch_metric(self, mean_loss, mean_metric):
        return mean_loss.sqrt()  # RMSE of the epoch, not a mean of batch RMSEs

    def link(self, out):
        return out[..., 0].float().cpu().numpy().astype(np.float64)

    def prediction(self, samples: np.ndarray, noise_std: float | None) -> RegressionPrediction:
        return regression_prediction(samples, noise_std)

    def moments(self, rows: int) -> RegressionMoments:
        return RegressionMoments.empty(rows)

    def metrics(self, prediction: RegressionPrediction, y: np.ndarray) -> dict[str, float]:
        return regression_metrics(prediction, y)

    def fit_noise(self, samples: np.ndarray, y: np.ndarray) -> float:
        return fit_noise_std(samples, y)

    def val_loss(self, evaluation):
        return evaluation["standard"]["val"]["rmse"] ** 2

    def prediction_columns(self, standard, sampled, level):
        lower, upper = M.interval(sampled.mean, sampled.std, level)
        return {"mean": sampled.mean, "std": sampled.std, "lower": lower, "upper": upper,
                "epistemic_std": sampled.epistemic_std, "mean_standard": standard.mean}


MIN_VARIANCE = 1e-6  # the heteroscedastic head's floor (Lakshminarayanan et al. 2017), in the target's trained units


@dataclass(frozen=True, kw_only=True)
class HeteroscedasticRegression(Regression):
    """Regression whose network predicts a mean and a variance per input (``model.head: heteroscedastic``).

    Training reads the raw outputs: output 0 is the mean, output 1 a value ``s`` whose softplus is the variance,
    ``sigma^2 = softplus(s) + 1e-6`` (Lakshminarayanan et al. 2017), and the loss is the Gaussian negative
    log-likelihood ``1/2 log(2 pi sigma^2) + (y - mu)^2 / (2 sigma^2)``. A trained model's last layer
    (:class:`~mcdropout.nn.model.GaussianOutput`) turns them into the mean and the variance in the target's units,
    so :meth:`link` reads ``[T, N, 2]`` (mean, variance) samples. The noise is the network's own, per input: none is
    fitted on the validation split. A prediction splits its variance as Kendall & Gal (2017) do: aleatoric (the
    mean over passes of the predicted variances) and epistemic (the variance of the passes' means)."""

    head: str | None = "heteroscedastic"
    loss_name: str = "nll"
    loss_label: str = "Gaussian NLL, standardised"
    fits_noise: bool = False
    plain_uncertainty: str = "predicted variance (dropout off)"
    plain_has_uncertainty: bool = True
    metric_from_loss: bool = False

    @property
    def out_dim(self) -> int:
        return 2

    @staticmethod
    def variance(out: torch.Tensor) -> torch.Tensor:
        """The variance ``[..., N]`` of raw (training) outputs ``[..., N, 2]``."""
        from torch.nn import functional as F

        return F.softplus(out[..., 1]) + MIN_VARIANCE

    def member_losses(self, out, y):
        import math

        var = self.variance(out)
        return (0.5 * (var.log() + (y - out[..., 0]) ** 2 / var)).mean(dim=-1) + 0.5 * math.log(2 * math.pi)

    def member_metric(self, out, y, losses):
        return (y - out[..., 0]).pow(2).mean(dim=-1).sqrt()

    def epoch_metric(self, mean_loss, mean_metric):
        return mean_metric  # the point-weighted mean of the batches' RMSEs

    def link(self, out):
        """A trained model's outputs ``[T, N, 2]`` (mean, variance) as float64."""
        return out.float().cpu().numpy().astype(np.float64)

    def prediction(self, samples: np.ndarray, noise_std: float | None = None) -> RegressionPrediction:
        """``samples``: ``[T, N, 2]`` (mean, variance) per pass; ``noise_std`` is unused (the head's own noise)."""
        return heteroscedastic_prediction(samples[..., 0], samples[..., 1])

    def moments(self, rows: int) -> HeteroscedasticMoments:
        return HeteroscedasticMoments.empty(rows)

    def fit_noise(self, samples: np.ndarray, y: np.ndarray) -> float:
        raise TypeError("the heteroscedastic head predicts its own noise; nothing is fitted")

    def prediction_columns(self, standard, sampled, level):
        return {**super().prediction_columns(standard, sampled, level), "aleatoric_std": sampled.aleatoric_std}


@dataclass(frozen=True, kw_only=True)
class Classification(Task):
    name: str = "classification"
    metric: str = "accuracy"
    metric_label: str = "error rate"
    verdict_metric: str = "nll"
    uncertainty_metric: str = "ece"
    loss_name: str = "nll"
    summary_keys: tuple[str, ...] = ("accuracy", "nll", "brier", "ece")
    count_metrics: tuple[str, ...] = ("accuracy",)
    fits_noise: bool = False
    continuous: bool = False
    loss_label: str = "cross-entropy"
    plain_uncertainty: str = "sigmoid output (dropout off)"
    plain_has_uncertainty: bool = True
    n_classes: int = 2
    classes: tuple[str, ...] | None = None  # the user's labels, index order; None: "0", "1", ...

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {self.n_classes}")
        if self.classes is not None and len(self.classes) != self.n_classes:
            raise ValueError(f"{len(self.classes)} class labels for {self.n_classes} classes")
        if not self.binary:
            object.__setattr__(self, "plain_uncertainty", "softmax output (dropout off)")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classes or tuple(str(i) for i in range(self.n_classes))

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    @property
    def out_dim(self) -> int:
        return 1 if self.binary else self.n_classes

    def member_losses(self, out, y):
        from torch.nn import functional as F

        if self.binary:
            logits = out[..., 0]
            return F.binary_cross_entropy_with_logits(logits, y.expand_as(logits), reduction="none").mean(dim=1)
        target = y.long().expand(out.shape[0], -1)
        return F.cross_entropy(out.transpose(1, 2), target, reduction="none").mean(dim=1)

    def member_metric(self, out, y, losses):
        labels = (out[..., 0] > 0).float() if self.binary else out.argmax(-1).float()
        return (labels == y).float().mean(dim=1)

    def link(self, out):
        """``[T, N, K]`` class probabilities (two classes: ``[1 - p, p]`` from the one logit)."""
        import torch

        if self.binary:
            return M.two_class(torch.sigmoid(out[..., 0]).float().cpu().numpy().astype(np.float64))
        return torch.softmax(out.float(), dim=-1).cpu().numpy().astype(np.float64)

    def prediction(self, samples: np.ndarray, noise_std: float | None) -> ClassificationPrediction:
        return classification_prediction(samples)

    def moments(self, rows: int) -> ClassificationMoments:
        return ClassificationMoments.empty(rows, self.labels)

    def metrics(self, prediction: ClassificationPrediction, y: np.ndarray) -> dict[str, float]:
        return classification_metrics(prediction, y)

    def error(self, metric_value):
        return 1.0 - metric_value

    def val_loss(self, evaluation):
        return evaluation["standard"]["val"]["nll"]

    def prediction_columns(self, standard, sampled, level):
        columns = {f"prob_{label}": sampled.probs[:, k] for k, label in enumerate(self.labels)}
        return {**columns, "label": np.asarray(self.labels, dtype=object)[sampled.label],
                "entropy": sampled.entropy, "mutual_info": sampled.mutual_info}


TASKS: dict[str, Task] = {"regression": Regression(), "classification": Classification()}


def get_task(name: str | Task) -> Task:
    """The task called ``name`` (a :class:`Task` passes through)."""
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except KeyError:
        from mcdropout.core.config import ConfigError

        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {name!r}") from None


def task_for(classes: tuple[str, ...] | list[str] | None, head: str = "homoscedastic") -> Task:
    """Regression without class labels (``head``: ``model.head``), classification over the given labels otherwise
    (a classifier has no such head: its outputs are already a distribution, and ``head`` is not read)."""
    if classes is not None:
        return Classification(n_classes=len(classes), classes=tuple(classes))
    return HeteroscedasticRegression() if head == "heteroscedastic" else Regression()
