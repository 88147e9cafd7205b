import math

import pytest
import torch
from torch import nn

from mcdropout.concrete import ConcreteDropout, concrete_regulariser
from mcdropout.inference import predict_mc, predict_standard


def test_relaxed_masks_in_unit_interval_and_p_trainable():
    layer = ConcreteDropout(init_p=0.3)
    assert layer.p.item() == pytest.approx(0.3)
    x = torch.ones(2000, 8)
    layer.train()
    y = layer(x)
    mask = y * (1 - layer.p.detach())  # undo the 1 / (1 - p) scaling: the relaxed keep mask
    assert ((mask >= 0) & (mask <= 1 + 1e-6)).all()
    assert abs(mask.mean().item() - 0.7) < 0.02  # kept about 1 - p of the time
    y.sum().backward()
    assert layer.p_logit.grad is not None and layer.p_logit.grad.abs() > 0


def test_eval_identity_and_mc_exact_bernoulli():
    layer = ConcreteDropout(init_p=0.25)
    x = torch.ones(4000, 10)
    assert torch.equal(layer.eval()(x), x)
    layer.train()
    with torch.no_grad():
        y = layer(x)
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))  # hard masks, inverted scaling
    assert abs((y > 0).float().mean().item() - 0.75) < 0.02


def test_regulariser_hand_values():
    p = torch.tensor(0.5)
    w = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # ||W||^2 = 6
    # l = 0.1, N = 10, K = 4: 0.01 / 10 * 6 / 0.5 + 2 / 10 * 4 * (0.5 log 0.5 * 2)
    expected = 0.01 / 10 * 6 / 0.5 + 0.8 * math.log(0.5)
    assert concrete_regulariser(p, w, input_dim=4, n_train=10, length_scale=0.1).item() == pytest.approx(expected)
    p = torch.tensor(0.1)
    expected = 0.01 / 10 * 6 / 0.9 + 0.8 * (0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    assert concrete_regulariser(p, w, input_dim=4, n_train=10, length_scale=0.1).item() == pytest.approx(expected)


def test_mc_inference_works_unchanged():
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), ConcreteDropout(0.3), nn.Linear(16, 1))
    x = torch.linspace(-1, 1, 20)[:, None]
    samples = predict_mc(model, x, samples=50, seed=0)
    assert samples.shape == (50, 20, 1)
    assert samples.std(0).sum() > 0
    assert torch.equal(predict_mc(model, x, samples=50, seed=0), samples)
    torch.testing.assert_close(predict_standard(model, x), model.eval()(x))


def test_bad_init():
    with pytest.raises(ValueError, match="init_p must be in"):
        ConcreteDropout(init_p=1.0)
