"""mcdropout.core.tasks: what differs between regression and classification, against hand values."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mcdropout.core.config import ConfigError
from mcdropout.core.tasks import Classification, HeteroscedasticRegression, Regression, Task, get_task, task_for
from mcdropout.scoring.uncertainty import classification_prediction, regression_prediction


def test_get_task_by_name_and_passthrough():
    assert isinstance(get_task("regression"), Regression)
    assert isinstance(get_task("classification"), Classification)
    own = Classification(n_classes=3)
    assert get_task(own) is own


@pytest.mark.parametrize("name", ["Regression", "ranking", ""])
def test_unknown_task_is_a_config_error_naming_the_choices(name):
    with pytest.raises(ConfigError, match=r"regression, classification.*" + repr(name)):
        get_task(name)


def test_regression_losses_and_metrics_by_hand():
    task = Regression()
    out = torch.tensor([[[1.0], [2.0], [3.0]], [[0.0], [0.0], [0.0]]])  # [M=2, N=3, 1]
    y = torch.tensor([1.0, 1.0, 1.0])
    losses = task.member_losses(out, y)
    assert losses.shape == (2,)
    torch.testing.assert_close(losses, torch.tensor([5.0 / 3.0, 1.0]))  # (0 + 1 + 4) / 3 and (1 + 1 + 1) / 3
    torch.testing.assert_close(task.member_metric(out, y, losses), torch.tensor([math.sqrt(5 / 3), 1.0]))
    # The epoch's RMSE is the root of the mean loss, not the mean of batch RMSEs.
    epoch = task.epoch_metric(torch.tensor([4.0, 9.0]), torch.tensor([100.0, 100.0]))
    torch.testing.assert_close(epoch, torch.tensor([2.0, 3.0]))
    assert task.out_dim == 1


def test_binary_classification_bce_and_accuracy_by_hand():
    task = Classification()
    assert task.binary and task.out_dim == 1 and task.labels == ("0", "1")
    out = torch.tensor([[[0.0], [math.log(3.0)]], [[2.0], [-1.0]]])  # [M=2, N=2, 1] logits
    y = torch.tensor([1.0, 0.0])
    losses = task.member_losses(out, y)
    # member 0: -log sigmoid(0) = log 2; -log(1 - sigmoid(log 3)) = -log(1/4) = log 4
    expected0 = (math.log(2.0) + math.log(4.0)) / 2
    expected1 = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    torch.testing.assert_close(losses, torch.tensor([expected0, expected1]))
    # member 0 predicts 0 (logit 0 is not > 0) then 1: both wrong; member 1 both right
    torch.testing.assert_close(task.member_metric(out, y, losses), torch.tensor([0.0, 1.0]))
    # accuracy of the epoch is the mean of the batches' accuracies
    assert task.epoch_metric(torch.tensor([0.3]), torch.tensor([0.75])).item() == 0.75


def test_three_classes_cross_entropy_equals_torch_and_hand_value():
    task = Classification(n_classes=3)
    assert not task.binary and task.out_dim == 3
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)]])  # [N=2, K=3]
    y = torch.tensor([0.0, 2.0])
    out = torch.stack([logits, logits.flip(-1)])  # [M=2, N=2, 3]
    losses = task.member_losses(out, y)
    assert losses.shape == (2,)
    # member 0: log 3 (uniform) and -log(2 / 4) = log 2
    assert losses[0].item() == pytest.approx((math.log(3.0) + math.log(2.0)) / 2, rel=1e-6)
    for m in range(2):
        torch.testing.assert_close(losses[m], F.cross_entropy(out[m], y.long()))
    # argmax: member 0 -> [0 (first of ties), 2] both right; member 1 -> [0, 0]: one right
    torch.testing.assert_close(task.member_metric(out, y, losses), torch.tensor([1.0, 0.5]))


def test_task_for_class_labels():
    assert isinstance(task_for(None), Regression)
    three = task_for(["a", "b", "c"])
    assert isinstance(three, Classification) and three.name == "classification"
    assert (three.n_classes, three.out_dim, three.labels) == (3, 3, ("a", "b", "c"))
    two = task_for(("no", "yes"))
    assert (two.n_classes, two.out_dim, two.labels) == (2, 1, ("no", "yes"))


def test_bad_class_counts():
    with pytest.raises(ValueError, match="at least 2 classes"):
        Classification(n_classes=1)
    with pytest.raises(ValueError, match="2 class labels for 3 classes"):
        Classification(n_classes=3, classes=("a", "b"))
    assert Classification(n_classes=3, classes=("a", "b", "c")).labels == ("a", "b", "c")


def test_error_is_lower_is_better():
    assert Regression().error(0.3) == 0.3
    assert Classification().error(0.9) == pytest.approx(0.1)


def test_val_loss_from_an_evaluation():
    evaluation = {"standard": {"val": {"rmse": 0.5, "accuracy": 0.8, "nll": 0.7}, "train": {"rmse": 9.0, "nll": 9.0}},
                  "mc": {"val": {"rmse": 3.0, "nll": 3.0}}}
    assert Regression().val_loss(evaluation) == 0.25  # MSE of standard inference on val
    assert Classification().val_loss(evaluation) == 0.7  # NLL of standard inference on val


def test_link_shapes_and_values():
    out = torch.tensor([[[0.0], [math.log(3.0)]], [[1.0], [-2.0]]])  # [T=2, N=2, 1]
    reg = Regression().link(out)
    assert reg.shape == (2, 2) and reg.dtype == np.float64
    np.testing.assert_array_equal(reg, out[..., 0].numpy().astype(np.float64))

    probs = Classification().link(out)
    assert probs.shape == (2, 2, 2) and probs.dtype == np.float64
    np.testing.assert_allclose(probs[0, 0], [0.5, 0.5])
    np.testing.assert_allclose(probs[0, 1], [0.25, 0.75], rtol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0)

    logits = torch.tensor([[[0.0, 0.0, math.log(2.0)]]])  # [T=1, N=1, K=3]
    three = Classification(n_classes=3).link(logits)
    assert three.shape == (1, 1, 3)
    np.testing.assert_allclose(three[0, 0], [0.25, 0.25, 0.5], rtol=1e-6)


def test_regression_prediction_columns():
    task = Regression()
    standard = regression_prediction(np.array([[1.0, 2.0]]), 0.5)
    sampled = regression_prediction(np.array([[0.0, 2.0], [2.0, 2.0]]), 0.5)  # epistemic std 1 and 0
    cols = task.prediction_columns(standard, sampled, 0.95)
    assert list(cols) == ["mean", "std", "lower", "upper", "epistemic_std", "mean_standard"]
    assert all(v.shape == (2,) for v in cols.values())
    np.testing.assert_allclose(cols["mean"], [1.0, 2.0])
    np.testing.assert_allclose(cols["epistemic_std"], [1.0, 0.0])
    np.testing.assert_allclose(cols["std"], [math.sqrt(1.25), 0.5])
    np.testing.assert_allclose(cols["upper"] - cols["mean"], 1.959964 * cols["std"], rtol=1e-5)
    np.testing.assert_allclose(cols["mean"] - cols["lower"], 1.959964 * cols["std"], rtol=1e-5)
    np.testing.assert_array_equal(cols["mean_standard"], [1.0, 2.0])


def test_classification_prediction_columns():
    task = Classification(n_classes=3, classes=("a", "b", "c"))
    samples = np.array([[[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
                        [[0.4, 0.5, 0.1], [0.1, 0.1, 0.8]]])  # [T=2, N=2, K=3]
    sampled = classification_prediction(samples)
    standard = classification_prediction(samples[:1])
    cols = task.prediction_columns(standard, sampled, 0.95)
    assert list(cols) == ["prob_a", "prob_b", "prob_c", "label", "entropy", "mutual_info"]
    assert all(v.shape == (2,) for v in cols.values())
    np.testing.assert_allclose(cols["prob_a"], [0.3, 0.1])
    np.testing.assert_allclose(cols["prob_b"], [0.6, 0.1])
    assert cols["label"].tolist() == ["b", "c"]
    assert cols["mutual_info"][0] > 0 and cols["mutual_info"][1] == pytest.approx(0.0, abs=1e-12)
    two = classification_prediction(np.array([[0.8, 0.3]]))  # [T=1, N=2] of class 1
    binary = Classification().prediction_columns(two, two, 0.9)
    assert list(binary) == ["prob_0", "prob_1", "label", "entropy", "mutual_info"]
    np.testing.assert_allclose(binary["prob_0"], [0.2, 0.7])
    assert binary["label"].tolist() == ["1", "0"]


@pytest.mark.parametrize("task", [Regression(), Classification(), Classification(n_classes=4)])
def test_every_task_has_the_common_interface(task):
    assert isinstance(task, Task)
    assert task.summary_keys[0] == task.metric
    assert task.loss_name in ("mse", "nll")


def test_heteroscedastic_head_loss_by_hand():
    task = HeteroscedasticRegression()
    assert (task.out_dim, task.name, task.fits_noise) == (2, "regression", False)
    raw = math.log(math.e - 1)  # softplus(raw) = 1: variance 1 + 1e-6
    out = torch.tensor([[[0.0, raw], [1.0, raw]], [[3.0, -50.0], [0.0, 20.0]]], dtype=torch.float64)  # [M=2, N=2, 2]
    y = torch.tensor([1.0, 1.0], dtype=torch.float64)
    var = task.variance(out)
    assert var[0].tolist() == pytest.approx([1 + 1e-6, 1 + 1e-6])
    assert var[1, 0].item() == pytest.approx(1e-6 + math.log1p(math.exp(-50)), rel=1e-9)  # the floor
    assert var[1, 1].item() == pytest.approx(20.0, rel=1e-6)  # softplus(20) = 20 + e^-20
    nll = lambda mu, v: 0.5 * math.log(2 * math.pi * v) + (1 - mu) ** 2 / (2 * v)  # noqa: E731
    losses = task.member_losses(out, y)
    assert losses[0].item() == pytest.approx((nll(0, 1 + 1e-6) + nll(1, 1 + 1e-6)) / 2)
    assert losses[1].item() == pytest.approx((nll(3, var[1, 0].item()) + nll(0, var[1, 1].item())) / 2)
    assert task.member_metric(out, y, losses).tolist() == pytest.approx([math.sqrt(0.5), math.sqrt(2.5)])
    np.testing.assert_allclose(task.link(out), out.numpy())  # a trained model's [mean, variance] as they are


def test_heteroscedastic_prediction_splits_aleatoric_and_epistemic_by_hand():
    """Two passes at two points: means (1, 3) and (0, 0), variances (1, 3) and (2, 2). Mixture variance = mean of
    the variances (aleatoric: 2 and 2) + variance of the means (epistemic: 1 and 0)."""
    task = HeteroscedasticRegression()
    samples = np.array([[[1.0, 1.0], [0.0, 2.0]], [[3.0, 3.0], [0.0, 2.0]]])  # [T=2, N=2, (mean, var)]
    pred = task.prediction(samples)
    np.testing.assert_allclose(pred.mean, [2.0, 0.0])
    np.testing.assert_allclose(pred.aleatoric_std ** 2, [2.0, 2.0])
    np.testing.assert_allclose(pred.epistemic_std ** 2, [1.0, 0.0])
    np.testing.assert_allclose(pred.std ** 2, [3.0, 2.0])
    y = np.array([2.0, 1.0])
    # point 0: (N(2 | 1, 1) + N(2 | 3, 3)) / 2; point 1: N(1 | 0, 2)
    g = lambda x, m, v: math.exp(-(x - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)  # noqa: E731
    want = -(math.log((g(2, 1, 1) + g(2, 3, 3)) / 2) + math.log(g(1, 0, 2))) / 2
    metrics = task.metrics(pred, y)
    assert metrics["nll"] == pytest.approx(want)
    assert metrics["noise_std"] == pytest.approx(math.sqrt(2.0))
    columns = task.prediction_columns(task.prediction(samples[:1]), pred, 0.95)
    np.testing.assert_allclose(columns["aleatoric_std"], np.sqrt([2.0, 2.0]))
    np.testing.assert_allclose(columns["std"], np.sqrt([3.0, 2.0]))
    moments = task.moments(2)
    moments.add(samples[:1])
    moments.add(samples[1:])  # streamed in two blocks: the same prediction
    streamed = moments.prediction()
    np.testing.assert_allclose(streamed.mean, pred.mean)
    np.testing.assert_allclose(streamed.std, pred.std)


def test_task_for_makes_the_head_of_a_regression_only():
    assert isinstance(task_for(None, "heteroscedastic"), HeteroscedasticRegression)
    assert type(task_for(None)) is Regression
    assert isinstance(task_for(("a", "b"), "heteroscedastic"), Classification)  # a classifier has no such head
