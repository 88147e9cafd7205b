import math

import pytest
import torch
from torch import nn

from mcdropout.inference import keep_mask, predict_mc, predict_standard
from mcdropout.model import MLP, seeded_mlp


def _model(p: float, **kw) -> MLP:
    return seeded_mlp(0, in_dim=2, out_dim=1, hidden=(32, 32), p=p, **kw)


def test_shapes_and_device():
    model = _model(0.3)
    x = torch.randn(17, 2)
    out = predict_mc(model, x, samples=5, seed=0)
    assert out.shape == (5, 17, 1) and out.device == x.device
    assert predict_standard(model, x).shape == (17, 1)
    assert model.training  # the caller's mode is restored


@pytest.mark.parametrize("method", ["fast", "loop"])
def test_p0_mc_equals_standard_exactly(method):
    model = _model(0.0)
    x = torch.randn(50, 2)
    out = predict_mc(model, x, samples=4, seed=1, method=method)
    for t in range(4):
        assert torch.equal(out[t], predict_standard(model, x))


@pytest.mark.parametrize("method", ["fast", "loop"])
def test_seed_reproducible(method):
    model, x = _model(0.5), torch.randn(20, 2)
    a = predict_mc(model, x, samples=8, seed=3, method=method)
    b = predict_mc(model, x, samples=8, seed=3, method=method)
    c = predict_mc(model, x, samples=8, seed=4, method=method)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_chunking_bounds_rows_and_keeps_shape():
    model, x = _model(0.5), torch.randn(30, 2)
    small = predict_mc(model, x, samples=7, seed=0, chunk=64)  # 2 samples per block
    tiny = predict_mc(model, x, samples=3, seed=0, chunk=10)  # fewer rows than points: split points
    assert small.shape == (7, 30, 1) and tiny.shape == (3, 30, 1)
    assert torch.isfinite(small).all() and torch.isfinite(tiny).all()


def test_keep_mask_rate():
    n = 400_000
    for p in (0.0, 0.1, 0.5, 0.9):
        rate = keep_mask((n,), p, torch.device("cpu")).float().mean().item()
        assert abs(rate - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("dropout", ["fixed", "concrete"])
def test_fast_path_matches_loop_in_distribution(dropout):
    """Mean and std over T samples agree within tolerances derived from T (Concrete: its learned p)."""
    torch.manual_seed(0)
    model, x = _model(0.4, dropout=dropout), torch.randn(40, 2)
    t = 4000
    fast = predict_mc(model, x, samples=t, seed=0, method="fast")[..., 0]
    loop = predict_mc(model, x, samples=t, seed=1, method="loop")[..., 0]
    sd = loop.std(0)
    # Difference of two independent means: sd * sqrt(2 / T); 5 sigma per point.
    assert ((fast.mean(0) - loop.mean(0)).abs() <= 5 * sd * math.sqrt(2 / t) + 1e-6).all()
    # Sample std: relative standard error about 1 / sqrt(2 T) for near-normal samples; generous bound.
    assert ((fast.std(0) / sd - 1).abs() < 0.15).all()


class WithBatchNorm(nn.Module):
    """Not a Sequential and not our MLP: the generic path must still work."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.drop, self.fc2 = nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.bn(self.fc1(x)))))


def test_any_module_batchnorm_stays_in_eval():
    model = WithBatchNorm()
    model.bn.running_mean.fill_(0.25)
    x = torch.randn(10, 2)
    before = model.bn.running_mean.clone()
    out = predict_mc(model, x, samples=6, seed=0)
    assert out.shape == (6, 10, 1)
    assert torch.equal(model.bn.running_mean, before)  # eval mode: statistics untouched
    assert out.std(0).sum() > 0  # dropout was on


def test_fast_requested_on_unsupported_model():
    with pytest.raises(ValueError, match="fast path needs"):
        predict_mc(WithBatchNorm(), torch.randn(3, 2), samples=2, method="fast")


def test_bad_samples():
    with pytest.raises(ValueError, match="samples must be >= 1"):
        predict_mc(_model(0.1), torch.randn(3, 2), samples=0)
