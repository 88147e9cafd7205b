import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mcdropout.inference import sampling as inference
from mcdropout.inference.plan import Plan, build_plan
from mcdropout.inference.sampling import predict_mc, predict_standard
from mcdropout.nn.model import MLP, seeded_mlp


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these are small problems, and a 2-core machine shared with other work makes
    2-thread runs of them erratic. ``test_same_masks_whatever_the_threads`` uses two on purpose."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(p: float, **kw) -> MLP:
    return seeded_mlp(0, in_dim=2, out_dim=1, hidden=(32, 32), p=p, **kw)


def _input_dropout_model() -> MLP:
    """The UCI shape: standardising affine layers, dropout on the inputs and on the hidden layer."""
    return seeded_mlp(0, in_dim=3, out_dim=1, hidden=(16,), p=0.2, input_p=0.3, x_mean=[0.1, 0.2, 0.3],
                      x_std=[1.5, 0.5, 2.0], y_mean=[1.0], y_std=[2.0])


class Residual(nn.Module):
    """Not a Sequential: a residual block of Linear / Dropout modules called from ``forward``."""

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.fc1, self.fc2 = nn.Linear(2, 16), nn.Linear(16, 16), nn.Linear(16, 16)
        self.drop1, self.drop2, self.out = nn.Dropout(p), nn.Dropout(p), nn.Linear(16, 1)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h + self.fc2(self.drop2(torch.relu(self.fc1(self.drop1(h)))))
        return self.out(torch.tanh(h))


class FunctionalAndAlpha(nn.Module):
    """Always-on ``F.dropout`` in ``forward`` and an ``nn.AlphaDropout`` layer (run as itself on the blocks)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.fc1, self.fc2, self.alpha = nn.Linear(2, 16), nn.Linear(16, 2), nn.AlphaDropout(0.2)

    def forward(self, x):
        return self.fc2(self.alpha(F.dropout(torch.selu(self.fc1(x)), 0.25, training=True)))


class WithBatchNorm(nn.Module):
    """Not a Sequential and not our MLP: BatchNorm must stay in eval mode."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.drop, self.fc2 = nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.bn(self.fc1(x)))))


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so predict_mc takes the loop."""

    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(2, 16), nn.Dropout(0.5), nn.Linear(16, 1)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))
        if x.sum() > 0:
            h = h * 2
        return self.fc2(h)


class NoisyForward(Untraceable):
    """A random call outside dropout layers (the same layers): its distribution is unknown to the fast path."""

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))
        return self.fc2(h + 0.1 * torch.randn_like(h))


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
def test_p1_drops_everything(method):
    model = _model(1.0)
    x = torch.randn(20, 2)
    out = predict_mc(model, x, samples=3, seed=0, method=method)
    assert torch.equal(out, model[-1].bias.detach().expand(3, 20, 1))  # all zeros into the last layer


@pytest.mark.parametrize("method", ["fast", "loop"])
@pytest.mark.parametrize("make", [lambda: _model(0.5), Residual], ids=["mlp", "residual"])
def test_seed_reproducible(method, make):
    model, x = make(), torch.randn(20, 2)
    a = predict_mc(model, x, samples=8, seed=3, method=method)
    b = predict_mc(model, x, samples=8, seed=3, method=method)
    c = predict_mc(model, x, samples=8, seed=4, method=method)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # samples differ from each other


def test_unseeded_calls_follow_torch_manual_seed():
    model, x = _model(0.5), torch.randn(20, 2)
    torch.manual_seed(7)
    a, b = predict_mc(model, x, samples=4), predict_mc(model, x, samples=4)
    torch.manual_seed(7)
    assert torch.equal(predict_mc(model, x, samples=4), a) and not torch.equal(a, b)


def test_same_masks_whatever_the_threads():
    """The masks depend on the seed alone (the matrix products may round differently on two threads)."""
    model, x = _model(0.5), torch.randn(300, 2)
    one = predict_mc(model, x, samples=6, seed=5)
    torch.set_num_threads(2)
    torch.testing.assert_close(predict_mc(model, x, samples=6, seed=5), one)


def test_chunking_bounds_rows_and_keeps_shape(monkeypatch):
    rows = []
    run_block = Plan.run_block

    def counted(self, det, t, *args):
        out = run_block(self, det, t, *args)
        rows.append(out.shape[0])
        return out

    monkeypatch.setattr(Plan, "run_block", counted)
    model, x = seeded_mlp(0, in_dim=2, out_dim=3, hidden=(32, 32), p=0.5), torch.randn(30, 2)
    small = predict_mc(model, x, samples=7, seed=0, chunk=64)  # 2 samples per block
    assert small.shape == (7, 30, 3) and max(rows) == 60 and len(rows) == 4
    rows.clear()
    tiny = predict_mc(model, x, samples=3, seed=0, chunk=10)  # fewer rows than points: split the points
    assert tiny.shape == (3, 30, 3) and max(rows) == 10 and len(rows) == 9
    one = predict_mc(model, x, samples=2, seed=0, chunk=1)
    assert one.shape == (2, 30, 3) and set(rows[9:]) == {1}
    assert torch.isfinite(small).all() and torch.isfinite(tiny).all()


def test_chunk_does_not_change_the_distribution():
    model, x = _model(0.4), torch.randn(25, 2)
    a = predict_mc(model, x, samples=1000, seed=0, chunk=13)[..., 0]  # points split in two blocks
    b = predict_mc(model, x, samples=1000, seed=1)[..., 0]
    assert ((a.mean(0) - b.mean(0)).abs() <= 5 * b.std(0) * math.sqrt(2 / 1000) + 1e-6).all()
    assert ((a.std(0) / b.std(0) - 1).abs() < 0.15).all()


def _same_distribution(model: nn.Module, x: torch.Tensor, t: int = 2000) -> None:
    """Mean and std over T samples of the fast path and the loop agree, within tolerances derived from T."""
    fast = predict_mc(model, x, samples=t, seed=0, method="fast").flatten(1)
    loop = predict_mc(model, x, samples=t, seed=1, method="loop").flatten(1)
    assert fast.shape == loop.shape
    sd = loop.std(0)
    # Difference of two independent means: sd * sqrt(2 / T); 5 sigma per point.
    assert ((fast.mean(0) - loop.mean(0)).abs() <= 5 * sd * math.sqrt(2 / t) + 1e-6).all()
    # Sample std: relative standard error about 1 / sqrt(2 T) for near-normal samples; generous bound.
    varied = sd > 1e-6
    assert varied.any() and ((fast.std(0)[varied] / sd[varied] - 1).abs() < 0.15).all()
    assert torch.equal(fast.std(0) > 1e-6, varied)  # the same outputs vary


@pytest.mark.parametrize("dropout", ["fixed", "concrete"])
def test_fast_path_matches_loop_in_distribution(dropout):
    """Sequential MLP (Concrete: exact Bernoulli masks at its learned p)."""
    torch.manual_seed(0)
    _same_distribution(_model(0.4, dropout=dropout), torch.randn(40, 2))


@pytest.mark.parametrize("make", [_input_dropout_model, Residual, FunctionalAndAlpha, WithBatchNorm],
                         ids=["input-dropout", "residual", "functional-alpha", "batchnorm"])
def test_any_traceable_model_matches_loop_in_distribution(make):
    model = make()
    assert build_plan(model) is not None  # the fast path, not the loop
    torch.manual_seed(2)
    _same_distribution(model, torch.randn(30, 2 if not isinstance(model, MLP) else 3))


@pytest.mark.parametrize("make", [lambda: _model(0.4), _input_dropout_model, Residual],
                         ids=["mlp", "input-dropout", "residual"])
def test_the_gpus_dropout_on_the_fast_path_matches_loop_in_distribution(make, monkeypatch):
    """The CUDA fast path (``F.dropout`` out of place, shared rows through a broadcast view), run here on the CPU."""
    monkeypatch.setattr(inference, "_dropout_for", lambda plan, device: (inference._torch_dropout, None))
    torch.manual_seed(0)
    model = make()
    _same_distribution(model, torch.randn(40, model.config["in_dim"] if isinstance(model, MLP) else 2))
    x = torch.ones(30, 50)
    out = inference._torch_dropout(x, 0.25, 4 / 3, owned=True, t=4).view(4, 30, 50)
    assert torch.equal(x, torch.ones(30, 50))  # the shared rows are read, never written
    assert torch.equal(out.unique(), torch.tensor([0.0, 4 / 3])) and not torch.equal(out[0], out[1])  # own masks
    assert abs((out == 0).float().mean().item() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / out.numel())


def test_fast_path_draws_its_own_masks():
    """``auto`` on a traceable model is not the loop in disguise: same seed, other numbers."""
    model, x = Residual(), torch.randn(10, 2)
    assert not torch.equal(predict_mc(model, x, samples=4, seed=0), predict_mc(model, x, 4, seed=0, method="loop"))


def test_any_module_batchnorm_stays_in_eval():
    model = WithBatchNorm()
    model.bn.running_mean.fill_(0.25)
    x = torch.randn(10, 2)
    before = model.bn.running_mean.clone()
    for method in ("auto", "loop"):
        out = predict_mc(model, x, samples=6, seed=0, method=method)
        assert out.shape == (6, 10, 1)
        assert torch.equal(model.bn.running_mean, before)  # eval mode: statistics untouched
        assert out.std(0).sum() > 0  # dropout was on
    assert model.training and model.bn.training


@pytest.mark.parametrize("model", [Untraceable(), NoisyForward()], ids=["control-flow", "random-call"])
def test_untraceable_falls_back_to_the_loop(model):
    assert build_plan(model) is None
    x = torch.randn(12, 2)
    auto = predict_mc(model, x, samples=5, seed=3)
    assert torch.equal(auto, predict_mc(model, x, samples=5, seed=3, method="loop"))
    assert auto.shape == (5, 12, 1) and auto.std(0).sum() > 0


def test_fast_requested_on_unsupported_model():
    with pytest.raises(ValueError, match="fast path needs"):
        predict_mc(Untraceable(), torch.randn(3, 2), samples=2, method="fast")


def test_bad_arguments():
    with pytest.raises(ValueError, match="samples must be >= 1"):
        predict_mc(_model(0.1), torch.randn(3, 2), samples=0)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        predict_mc(_model(0.1), torch.randn(3, 2), chunk=0)
    with pytest.raises(ValueError, match="method must be one of"):
        predict_mc(_model(0.1), torch.randn(3, 2), method="fastest")


GPU = pytest.mark.gpu


@GPU
@pytest.mark.parametrize("make", [lambda: _model(0.4), _input_dropout_model, Residual],
                         ids=["mlp", "input-dropout", "residual"])
def test_on_the_gpu_fast_path_matches_loop_and_stays_there(make):
    torch.manual_seed(0)
    model = make().cuda()
    x = torch.randn(40, 3 if isinstance(model, MLP) and model.config["in_dim"] == 3 else 2, device="cuda")
    out = predict_mc(model, x, samples=16, seed=5)
    assert out.device.type == "cuda" and out.shape[:2] == (16, 40)
    assert torch.equal(out, predict_mc(model, x, samples=16, seed=5))  # seeded on the GPU too
    _same_distribution(model, x)
    cpu = predict_standard(model.cpu(), x.cpu())
    torch.testing.assert_close(predict_standard(model.cuda(), x).cpu(), cpu, rtol=1e-4, atol=1e-5)
