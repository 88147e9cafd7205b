import pytest
import torch
from torch import nn

from mcdropout.nn.model import MLP, seeded_mlp
from mcdropout.nn.stacked import StackedMLP


def test_mlp_layout():
    mlp = MLP(1, 1, hidden=(128, 128), p=0.3)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [m.p for m in mlp if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    assert mlp[0].weight.shape == (128, 1) and mlp[-1].weight.shape == (1, 128)
    with_input = MLP(3, 1, hidden=(8,), p=0.1, input_p=0.2, activation="tanh")
    assert isinstance(with_input[0], nn.Dropout) and with_input[0].p == 0.2
    assert isinstance(with_input[2], nn.Tanh)


def test_seeded_init_depends_on_seed_only():
    a = seeded_mlp(3, in_dim=2, out_dim=1, hidden=(8,), p=0.1)
    b = seeded_mlp(3, in_dim=2, out_dim=1, hidden=(8,), p=0.7)
    c = seeded_mlp(4, in_dim=2, out_dim=1, hidden=(8,), p=0.1)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_stacked_matches_members_and_round_trips():
    mlps = [seeded_mlp(s, in_dim=2, out_dim=1, hidden=(8, 8), p=p) for s, p in [(0, 0.0), (1, 0.5), (2, 0.9)]]
    stacked = StackedMLP(mlps).eval()
    x = torch.randn(5, 2)
    out = stacked(x)
    assert out.shape == (3, 5, 1)
    for i, mlp in enumerate(mlps):
        torch.testing.assert_close(out[i], mlp.eval()(x))
        back = stacked.member(i)
        assert back.config == mlp.config
        torch.testing.assert_close(back.eval()(x), mlp(x))


def test_stacked_dropout_only_in_training_and_p0_exact():
    mlps = [seeded_mlp(0, in_dim=1, out_dim=1, hidden=(32,), p=p) for p in (0.0, 0.5)]
    stacked = StackedMLP(mlps)
    x = torch.randn(64, 1)
    stacked.train()
    out = stacked(x)
    torch.testing.assert_close(out[0], mlps[0].eval()(x))  # p=0: no masking at all
    assert not torch.allclose(out[1], mlps[1].eval()(x))


def test_heteroscedastic_head_predicts_mean_and_variance_in_the_targets_units():
    """The saved model's last layer: raw (mu, s) -> (mu * sd + m, (softplus(s) + 1e-6) * sd^2), by hand."""
    import math

    from mcdropout.nn.model import GaussianOutput

    layer = GaussianOutput([10.0], [2.0])
    raw = torch.tensor([[1.0, math.log(math.e - 1)], [-1.0, 0.0]])  # softplus: 1 and log 2
    out = layer(raw)
    assert out[:, 0].tolist() == pytest.approx([12.0, 8.0])
    assert out[:, 1].tolist() == pytest.approx([4 * (1 + 1e-6), 4 * (math.log(2) + 1e-6)])
    net = MLP(3, 2, hidden=[4], head="heteroscedastic", y_mean=[10.0], y_std=[2.0])
    assert isinstance(net[-1], GaussianOutput) and net.config["head"] == "heteroscedastic"
    assert (net(torch.randn(5, 3))[:, 1] > 0).all()
    rebuilt = MLP(**net.config)  # what a checkpoint does
    rebuilt.load_state_dict(net.state_dict())
    x = torch.randn(5, 3)
    assert torch.equal(rebuilt(x), net(x))
    assert "head" not in MLP(3, 1, hidden=[4]).config  # older checkpoints' configs unchanged
    with pytest.raises(ValueError, match="head"):
        MLP(3, 1, hidden=[4], head="heteroscedastic")
