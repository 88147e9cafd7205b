"""mcdropout.training.routine: the early-stopping rule, and the Lightning routine's per-member history (its
mini-batches: test_batches.py, which uses ``_routine`` and ``_per_member_routine`` from here)."""

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.core.tasks import get_task
from mcdropout.data.datasets import Split
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp
from mcdropout.nn.stacked import StackedMLP
from mcdropout.training.routine import DropoutRoutine, early_stopping
from mcdropout.training.train import fit_members, fit_members_on


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


def test_history_array_before_training_is_empty():
    routine = _routine(0)
    assert routine.history_array().shape == (0, 4, 2)
    assert routine.p_history_array() is None


# --- per-member data --------------------------------------------------------------------


def _per_member_routine(batch_size: int, rows=(10, 10, 6), data_of=(0, 1, 1, 2)) -> DropoutRoutine:
    """Data set ``g``'s row ``r`` is ``x = [g, r]``; padded rows are ``-1``."""
    n = max(rows)
    x = torch.full((len(rows), n, 2), -1.0)
    y = torch.full((len(rows), n), -1.0)
    for g, r in enumerate(rows):
        x[g, :r, 0], x[g, :r, 1], y[g, :r] = g, torch.arange(r), 100 * g + torch.arange(r)
    net = StackedMLP([seeded_mlp(s, in_dim=2, out_dim=1, hidden=(3,), p=0.1) for s in range(len(data_of))])
    return DropoutRoutine(net, get_task("regression"), (x, y), (x[:, :3], y[:, :3]), batch_size=batch_size,
                          data_of=torch.tensor(data_of), train_rows=torch.tensor(rows),
                          val_rows=torch.tensor([min(3, r) for r in rows]))


def test_per_member_validation_uses_each_members_val_rows():
    routine = _per_member_routine(0, rows=(10, 2), data_of=(0, 1, 0))
    routine.net.eval()
    with torch.no_grad():
        loss, _ = routine.validate()
    for m, (g, r) in enumerate([(0, 3), (1, 2), (0, 3)]):
        with torch.no_grad():
            out = routine.net.member(m).eval()(routine.val_x[g, :r])[:, 0].detach()
        assert float(loss[m]) == pytest.approx(float(((out - routine.val_y[g, :r]) ** 2).mean()), rel=1e-5)


def test_fit_members_on_equals_separate_fits():
    """Without dropout and with full batches training is deterministic: each member of a per-member fit ends
    where the same member ends trained alone on its data (to float rounding: only the row order differs)."""
    a, b = _splits("regression", n=12), _splits("regression", n=12)
    b = {k: Split(v.x * 2 + 1, v.y - 1) for k, v in b.items() if k != "val"} | {"val": a["test"]}
    members = [Member(0.0, 0), Member(0.0, 1, l2=1e-3)]
    params = _params(**{"train.batch_size": 0, "train.epochs": 20})
    together = fit_members_on("regression", [a, b], [1, 0], members, params, progress=False)
    for i, data in enumerate([b, a]):
        alone = fit_members("regression", data, [members[i]], params, progress=False)
        np.testing.assert_allclose(together.history[:, :, i], alone.history[:, :, 0], rtol=1e-4, atol=1e-6)
        for p, q in zip(together.models[i].parameters(), alone.models[0].parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="data_of"):
        fit_members_on("regression", [a], [1, 0], members, params, progress=False)


def test_l2_gradient_in_closed_form_equals_autograds():
    """The L2 term's gradient added after the backward pass equals autograd's gradient of loss + l2 ||W||^2."""
    mlps = [seeded_mlp(s, in_dim=2, out_dim=1, hidden=(8, 8), p=0.0) for s in range(3)]
    x, y = torch.randn(12, 2), torch.randn(12)
    l2 = torch.tensor([0.0, 1e-3, 0.5])
    routine = DropoutRoutine(StackedMLP(mlps), get_task("regression"), (x, y), (x, y), l2=l2)
    routine.batch_loss((x, y)).backward()
    routine._add_l2_gradient()
    closed = [w.grad.clone() for w in routine.net.weights]
    net = StackedMLP(mlps)
    losses = get_task("regression").member_losses(net(x), y)
    (losses + l2 * sum(w.pow(2).sum(dim=(1, 2)) for w in net.weights)).sum().backward()
    for a, w in zip(closed, net.weights):
        torch.testing.assert_close(a, w.grad, rtol=1e-6, atol=1e-8)
    assert not torch.equal(closed[0][2], torch.zeros_like(closed[0][2]))


@pytest.mark.parametrize("order", ["leading", "not leading"])
def test_concrete_regulariser_gradient_in_closed_form_equals_autograds(order):
    """The Concrete regulariser kept out of autograd, its gradient in the weights and rates added after the
    backward pass, gives autograd's gradients of the whole objective to float rounding (leading Concrete members
    and the general path; the leading masks' own closed form: tests/nn/test_stacked.py)."""
    from mcdropout.nn.concrete import concrete_regulariser, weight_term
    from mcdropout.nn.model import MLP

    torch.manual_seed(0)
    concrete = [MLP(2, 1, hidden=(8, 8), p=0.2, dropout="concrete") for _ in range(2)]
    fixed = [seeded_mlp(s, in_dim=2, out_dim=1, hidden=(8, 8), p=0.3) for s in range(2)]
    mlps = concrete + fixed if order == "leading" else [fixed[0], *concrete, fixed[1]]
    x, y = torch.randn(12, 2), torch.randn(12)
    grads = []
    for closed in (True, False):
        net = StackedMLP(mlps)
        routine = DropoutRoutine(net, get_task("regression"), (x, y), (x, y))
        torch.manual_seed(1)
        if closed:
            routine.batch_loss((x, y)).backward()
            routine._add_concrete_regulariser_gradient()
        else:  # the regulariser through autograd
            losses = routine.task.member_losses(net(x), y)
            s = routine.log_noise_var
            objective = losses * torch.exp(-s) + s + weight_term(net.input_p, net.weights[0], 12, 0.01)
            for j, w in enumerate(net.weights[1:]):
                objective = objective + concrete_regulariser(net.layer_p(j), w, w.shape[1], 12, 0.01)
            torch.where(net.concrete, objective, losses).sum().backward()
        grads.append([w.grad.clone() for w in net.weights] + [net.p_logit.grad.clone(), routine.log_noise_var.grad])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert grads[0][-2][:, net.concrete].abs().min() > 0  # the rates learn
    assert (grads[0][-2][:, ~net.concrete] == 0).all()  # fixed members' unused entries get none


def test_concrete_members_take_no_l2():
    from mcdropout.nn.model import MLP

    mlps = [MLP(2, 1, hidden=(4, 4), p=0.1, dropout="concrete"), seeded_mlp(0, in_dim=2, out_dim=1, hidden=(4, 4))]
    x, y = torch.randn(5, 2), torch.randn(5)
    with pytest.raises(ValueError, match="Concrete dropout members take no L2"):
        DropoutRoutine(StackedMLP(mlps), get_task("regression"), (x, y), (x, y), l2=torch.tensor([1e-3, 0.0]))
    DropoutRoutine(StackedMLP(mlps), get_task("regression"), (x, y), (x, y), l2=torch.tensor([0.0, 1e-3]))  # fine


def test_blocks_of_epochs_train_exactly_as_epoch_by_epoch(monkeypatch, capsys):
    """A Lightning step trains a block of epochs: the same numbers as one epoch a step, for a total that is not
    a multiple of the block (23 = 10 + 10 + 3), with mini-batches, dropout, early stopping and a Concrete member."""
    from mcdropout.training import routine

    splits = _splits("regression", n=20)
    params = _params(**{"train.epochs": 23, "train.batch_size": 6, "compare.patience": 4})
    members = [Member(0.1, 0, dropout="concrete"), *MEMBERS, Member(0.0, 2, early_stopping=True)]
    fits = []
    for per_step in (1, 10):
        monkeypatch.setattr(routine, "EPOCHS_PER_STEP", per_step)
        fits.append(fit_members("regression", splits, members, params, progress=per_step == 10))
    one, block = fits
    assert block.history.shape == (23, 4, 5)
    np.testing.assert_array_equal(block.history, one.history)
    np.testing.assert_array_equal(block.p_history, one.p_history)
    np.testing.assert_array_equal(block.stop_epoch, one.stop_epoch)
    for a, b in zip(one.models, block.models):
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb)
    progress = capsys.readouterr().err  # progress counts epochs, not blocks
    assert "epoch 23/23" in progress and "epoch 10/23" in progress


def test_fit_without_validation_trains_the_same_and_leaves_val_columns_empty(capsys):
    """``validate=False`` (the UCI protocol) changes no weight: the val pass draws no random numbers."""
    a, b = _splits("regression", n=12), _splits("regression", n=10)
    members = [Member(0.2, 0), Member(0.1, 1, l2=1e-3)]
    params = _params(**{"train.batch_size": 5, "train.epochs": 12})
    fits = [fit_members_on("regression", [a, b], [0, 1], members, params, progress=not validate, validate=validate)
            for validate in (True, False)]
    with_val, without = fits
    np.testing.assert_array_equal(without.history[:, [0, 2]], with_val.history[:, [0, 2]])
    assert np.isnan(without.history[:, [1, 3]]).all() and np.isfinite(with_val.history).all()
    for m, n in zip(with_val.models, without.models):
        for p, q in zip(m.parameters(), n.parameters()):
            assert torch.equal(p, q)
    assert "mean train loss" in capsys.readouterr().err
    with pytest.raises(ValueError, match="early stopping needs"):
        fit_members_on("regression", [a], [0], [Member(0.0, 0, early_stopping=True)], params, progress=False,
                       validate=False)
