"""mcdropout.routine: the early-stopping rule, and the Lightning routine's per-member history."""

import numpy as np
import pytest
import torch

from mcdropout.config import Params
from mcdropout.data import Split
from mcdropout.members import Member
from mcdropout.model import seeded_mlp
from mcdropout.routine import DropoutRoutine, TensorBatches, early_stopping
from mcdropout.stacked import StackedMLP
from mcdropout.tasks import get_task
from mcdropout.train import fit_members


@pytest.mark.parametrize("losses, patience, expected", [
    ([5.0, 4.0, 3.0, 2.0], 1, (3, 3)),  # always improving: never stops, ends at the last epoch
    ([1.0, 2.0, 3.0, 4.0, 5.0], 3, (0, 3)),  # three epochs past the best at 0
    ([2.0, 1.0, 2.0, 0.5, 3.0, 3.0, 3.0], 2, (3, 5)),  # a later best restarts the count
    ([1.0], 5, (0, 0)),
    ([3.0, 1.0, 1.0, 0.999], 3, (3, 3)),  # a strictly lower loss in time
    ([3.0, 1.0, 1.0, 1.0, 1.5, 0.5], 3, (1, 4)),  # stops at 4 (3 past the best), keeps 1; 0.5 comes too late
    ([3.0, 1.0, 1.0, 1.0, 0.5], 3, (4, 4)),  # a lower loss on the patience-th epoch still counts
])
def test_early_stopping_hand_sequences(losses, patience, expected):
    assert early_stopping(losses, patience) == expected


def _splits(task: str, n: int = 10) -> dict[str, Split]:
    rng = np.random.default_rng(0)

    def split(k):
        x = rng.standard_normal((k, 2)).astype(np.float32)
        y = (x[:, 0] > 0) if task == "classification" else np.sin(x[:, 0]) + 0.1 * rng.standard_normal(k)
        return Split(x, y.astype(np.float32))

    return {"train": split(n), "val": split(7), "test": split(5)}


def _params(**extra):
    return Params().override(**{"model.hidden": [4], "train.epochs": 5, "mlflow.enabled": False,
                                "train.accelerator": "cpu", "train.devices": 1, **extra})


MEMBERS = [Member(0.0, 0), Member(0.5, 1), Member(0.2, 0)]


def test_regression_history_shape_and_epoch_rmse():
    splits = _splits("regression")
    params = _params(**{"train.batch_size": 3})  # 4 uneven batches: the epoch RMSE is not a mean of batch RMSEs
    fit = fit_members("regression", splits, MEMBERS, params, progress=False)
    assert fit.history.shape == (5, 4, 3)
    assert np.isfinite(fit.history).all()
    np.testing.assert_allclose(fit.history[:, 2], np.sqrt(fit.history[:, 0]), rtol=1e-5)  # train rmse
    np.testing.assert_allclose(fit.history[:, 3], np.sqrt(fit.history[:, 1]), rtol=1e-5)  # val rmse
    # the last val loss is the returned weights' val MSE, dropout off
    x, y = torch.from_numpy(splits["val"].x), torch.from_numpy(splits["val"].y)
    for i, model in enumerate(fit.models):
        with torch.no_grad():
            mse = float(((model(x)[:, 0] - y) ** 2).mean())
        assert mse == pytest.approx(float(fit.history[-1, 1, i]), rel=1e-4)
    assert fit.accelerator == "cpu" and fit.stop_epoch is None and fit.p_history is None

    again = fit_members("regression", splits, MEMBERS, params, progress=False)
    np.testing.assert_array_equal(again.history, fit.history)  # equal seeds, equal results


def test_classification_history_holds_accuracies():
    splits = _splits("classification")
    fit = fit_members("classification", splits, MEMBERS[:2], _params(), progress=False)
    assert fit.history.shape == (5, 4, 2) and np.isfinite(fit.history).all()
    acc = fit.history[:, 2:]
    assert ((acc >= 0) & (acc <= 1)).all()
    np.testing.assert_allclose(acc[:, 0] * 10, np.round(acc[:, 0] * 10), atol=1e-5)  # train: multiples of 1/10
    np.testing.assert_allclose(acc[:, 1] * 7, np.round(acc[:, 1] * 7), atol=1e-5)  # val: multiples of 1/7
    x, y = torch.from_numpy(splits["val"].x), splits["val"].y
    for i, model in enumerate(fit.models):
        with torch.no_grad():
            predicted = (model(x)[:, 0] > 0).numpy()
        assert float(fit.history[-1, 3, i]) == pytest.approx(float((predicted == y).mean()))


def _routine(batch_size: int) -> DropoutRoutine:
    net = StackedMLP([seeded_mlp(s, in_dim=2, out_dim=1, hidden=(3,), p=0.1) for s in (0, 1)])
    x, y = torch.randn(10, 2), torch.randn(10)
    return DropoutRoutine(net, get_task("regression"), (x, y), (x[:4], y[:4]), batch_size=batch_size)


@pytest.mark.parametrize("batch_size, sizes", [(0, [10]), (10, [10]), (50, [10]), (4, [4, 4, 2])])
def test_tensor_batches_cover_the_data_once_per_epoch(batch_size, sizes):
    routine = _routine(batch_size)
    batches = TensorBatches(routine, batch_size)
    torch.manual_seed(0)
    got = list(batches)
    assert len(batches) == len(sizes)
    assert [len(b[1]) for b in got] == sizes
    ys = torch.cat([b[1] for b in got])
    torch.testing.assert_close(ys.sort().values, routine.train_y.sort().values)


def test_history_array_before_training_is_empty():
    routine = _routine(0)
    assert routine.history_array().shape == (0, 4, 2)
    assert routine.p_history_array() is None
