"""mcdropout.training.adversarial: the fast gradient sign step on a toy case worked by hand, and adversarial
training through the batched fit."""

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.core.tasks import Regression
from mcdropout.data.datasets import Split
from mcdropout.nn.members import Member
from mcdropout.nn.model import MLP
from mcdropout.nn.stacked import StackedMLP
from mcdropout.training.adversarial import fgsm, input_ranges
from mcdropout.training.train import fit_members_on


def _linear(w: list[float], b: float = 0.0) -> MLP:
    net = MLP(in_dim=len(w), out_dim=1, hidden=())
    with torch.no_grad():
        net.linears[0].weight.copy_(torch.tensor([w]))
        net.linears[0].bias.fill_(b)
    return net


def test_fgsm_moves_each_input_by_eps_up_its_own_members_loss():
    # member 0: f(x) = 2 x1 - 3 x2 at x = (1, 1), y = 0: f = -1, d/dx (f - y)^2 = 2 (f - y) w = (-4, 6): sign (-1, +1)
    # member 1: f(x) = x1 + x2, f = 2 at y = 0: gradient 2 * 2 * (1, 1): sign (+1, +1)
    net = StackedMLP([_linear([2.0, -3.0]), _linear([1.0, 1.0])])
    x, y = torch.tensor([[1.0, 1.0]]), torch.tensor([0.0])
    eps = torch.tensor([[0.1, 0.2], [0.5, 0.0]])
    moved = fgsm(net, Regression(), x, y, eps)
    assert moved.shape == (2, 1, 2)
    np.testing.assert_allclose(moved[0, 0].numpy(), [0.9, 1.2])
    np.testing.assert_allclose(moved[1, 0].numpy(), [1.5, 1.0])  # eps 0 leaves that input alone
    assert all(p.grad is None for p in net.parameters())  # the network's own gradients untouched
    losses = Regression().member_losses(net(moved), y)  # each member's loss went up
    assert (losses > Regression().member_losses(net(x), y)).all()


def test_input_ranges():
    x = torch.tensor([[0.0, 5.0], [2.0, -1.0], [1.0, 3.0]])
    assert input_ranges(x).tolist() == [2.0, 6.0]


def test_adversarial_training_runs_in_the_batched_fit_and_changes_the_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] - x[:, 1]).astype(np.float32)
    data = [{"train": Split(x, y), "val": Split(x, y)}]
    params = Params().override(**{"model.hidden": [8], "model.input_p": 0.0, "train.epochs": 5,
                                  "train.batch_size": 0, "mlflow.enabled": False})
    members = [Member(0.0, seed=1), Member(0.0, seed=2)]
    plain = fit_members_on("regression", data, [0, 0], members, params, progress=False, validate=False)
    eps = torch.tensor([[0.0, 0.0], [0.3, 0.3]])  # member 0 without, member 1 with an adversarial step
    adv = fit_members_on("regression", data, [0, 0], members, params, progress=False, validate=False,
                         adversarial_eps=eps)
    w = lambda fit, i: fit.models[i].linears[0].weight.detach()  # noqa: E731
    # eps = 0: the loss is doubled, and Adam is blind to the scale of the loss (but for its epsilon)
    torch.testing.assert_close(w(adv, 0), w(plain, 0), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(w(adv, 1), w(plain, 1), atol=1e-4)
    assert adv.history[-1, 0] == pytest.approx(plain.history[-1, 0], rel=0.5)  # the clean loss in the history
