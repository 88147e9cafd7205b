import math

import pytest
import torch
from torch import nn

from mcdropout.inference.sampling import predict_mc, predict_standard
from mcdropout.nn.concrete import ConcreteDropout, concrete_regulariser


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


def test_stacked_regulariser_matches_per_member():
    w = torch.randn(3, 4, 5)
    p = torch.tensor([0.1, 0.3, 0.6])
    stacked = concrete_regulariser(p, w, input_dim=4, n_train=7, length_scale=0.2)
    single = torch.stack([concrete_regulariser(p[i], w[i], 4, 7, 0.2) for i in range(3)])
    torch.testing.assert_close(stacked, single)


def test_mlp_with_concrete_layers_round_trips(tmp_path):
    from mcdropout.nn.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
    from mcdropout.nn.model import MLP

    model = MLP(1, 1, hidden=[8, 8], p=0.2, dropout="concrete", temperature=0.1)
    assert [type(m).__name__ for m in model].count("ConcreteDropout") == 2
    assert model.learned_p == pytest.approx([0.2, 0.2])
    with torch.no_grad():
        model[2].p_logit.fill_(0.0)  # p = 0.5 in the first layer
    save_checkpoint(tmp_path / "c.pt", model, CheckpointMeta(task="regression", seed=0))
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    assert loaded.learned_p == pytest.approx([0.5, 0.2])
    assert loaded.config["dropout"] == "concrete"
    with pytest.raises(ValueError, match="dropout must be"):
        MLP(1, 1, dropout="gaussian")


def test_stacked_concrete_members_learn_p_fixed_members_do_not():
    from mcdropout.nn.model import seeded_mlp
    from mcdropout.nn.stacked import StackedMLP

    mlps = [seeded_mlp(0, in_dim=2, out_dim=1, hidden=[8, 8], p=0.3),
            seeded_mlp(0, in_dim=2, out_dim=1, hidden=[8, 8], p=0.1, dropout="concrete")]
    net = StackedMLP(mlps).train()
    assert net.has_concrete and net.concrete.tolist() == [False, True]
    torch.testing.assert_close(net.layer_p(0), torch.tensor([0.3, 0.1]))
    net(torch.randn(64, 2)).pow(2).sum().backward()
    grad = net.p_logit.grad
    assert (grad[:, 0] == 0).all() and (grad[:, 1] != 0).all()  # only the Concrete member's rates move
    member = net.member(1)
    assert member.learned_p == pytest.approx([0.1, 0.1], abs=1e-6)
    assert net.member(0).config.get("dropout", "fixed") == "fixed"


def test_weight_term_gradient_is_autograds():
    from mcdropout.nn.concrete import add_weight_term_gradient, weight_term

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6, 5, generator=gen, requires_grad=True)
    p = torch.tensor([0.1, 0.3, 0.5, 0.7])
    upstream = torch.tensor([1.0, 0.0, 1.0, 1.0])  # a member whose objective is not its loss gets none
    (weight_term(p, w, 30, 0.01) * upstream).sum().backward()
    before = torch.randn(4, 6, 5, generator=gen)
    closed = add_weight_term_gradient(before.clone(), p, w.detach(), 30, 0.01, upstream)
    torch.testing.assert_close(closed, before + w.grad, rtol=1e-6, atol=1e-9)
    assert torch.equal(closed[1], before[1])


def test_relaxed_keep_slope_is_the_masks_derivative_in_the_logit():
    """The closed-form derivative of the relaxed keep mask in the rate's logit equals autograd's."""
    from mcdropout.nn.concrete import relaxed_drop, relaxed_keep

    gen = torch.Generator().manual_seed(0)
    logit = torch.tensor([-2.0, 0.3, 1.5], dtype=torch.float64, requires_grad=True)
    u = torch.rand(3, 7, 5, generator=gen, dtype=torch.float64)
    upstream = torch.randn(3, 7, 5, generator=gen, dtype=torch.float64)
    p = torch.sigmoid(logit)[:, None, None]
    ((1 - relaxed_drop(p, u, 0.1)) / (1 - p) * upstream).sum().backward()
    mask, slope = relaxed_keep(p.detach(), u, 0.1)
    torch.testing.assert_close(mask, (1 - relaxed_drop(p, u, 0.1)) / (1 - p), rtol=0, atol=0)
    torch.testing.assert_close((upstream * slope).sum(dim=(1, 2)), logit.grad, rtol=1e-10, atol=1e-12)


def test_rate_term_gradient_is_the_regularisers_derivative_in_the_logit():
    from mcdropout.nn.concrete import rate_term_gradient

    gen = torch.Generator().manual_seed(0)
    logit = torch.tensor([-2.0, 0.3, 1.5, 0.0], dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 6, 5, generator=gen, dtype=torch.float64)
    upstream = torch.tensor([1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    (concrete_regulariser(torch.sigmoid(logit), w, 6, 30, 0.01) * upstream).sum().backward()
    closed = rate_term_gradient(torch.sigmoid(logit.detach()), w.pow(2).sum(dim=(1, 2)), 6, 30, 0.01, upstream)
    torch.testing.assert_close(closed, logit.grad, rtol=1e-10, atol=1e-12)
    assert closed[1] == 0 and (closed[[0, 2, 3]] != 0).all()
