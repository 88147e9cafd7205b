"""mcdropout.nn.stacked: many MLPs as one batched network."""

import math

import pytest
import torch

from mcdropout.nn.model import MLP, seeded_mlp
from mcdropout.nn.stacked import StackedMLP


def _mlps(ps=(0.0, 0.5, 0.2), hidden=(6, 5), in_dim=3, out_dim=2, **kw):
    return [seeded_mlp(i, in_dim=in_dim, out_dim=out_dim, hidden=hidden, p=p, **kw) for i, p in enumerate(ps)]


def test_forward_shapes_shared_and_per_member_inputs():
    stacked = StackedMLP(_mlps()).eval()
    assert stacked.n_members == 3
    assert stacked(torch.randn(7, 3)).shape == (3, 7, 2)
    assert stacked(torch.randn(3, 4, 3)).shape == (3, 4, 2)
    assert [tuple(w.shape) for w in stacked.weights] == [(3, 3, 6), (3, 6, 5), (3, 5, 2)]
    assert [tuple(b.shape) for b in stacked.biases] == [(3, 1, 6), (3, 1, 5), (3, 1, 2)]
    torch.testing.assert_close(stacked.p, torch.tensor([0.0, 0.5, 0.2]))


def test_per_member_inputs_go_to_their_own_member():
    mlps = _mlps()
    stacked = StackedMLP(mlps).eval()
    x = torch.randn(3, 4, 3)
    out = stacked(x)
    for i, mlp in enumerate(mlps):
        torch.testing.assert_close(out[i], mlp.eval()(x[i]))


def test_member_gives_back_an_equal_mlp_after_the_stack_changes():
    mlps = _mlps(input_p=0.1)
    stacked = StackedMLP(mlps)
    with torch.no_grad():  # the stack's own weights, not the originals, are what member(i) returns
        for w in stacked.weights:
            w.add_(0.25)
    stacked.eval()
    x = torch.randn(9, 3)
    out = stacked(x)
    for i in range(3):
        back = stacked.member(i)
        assert isinstance(back, MLP)
        assert back.config == mlps[i].config
        assert not torch.allclose(back.eval()(x), mlps[i].eval()(x))
        torch.testing.assert_close(back(x), out[i])


def test_concrete_member_round_trips_its_rate():
    mlps = [seeded_mlp(0, in_dim=2, out_dim=1, hidden=(4, 4), p=0.3),
            MLP(2, 1, hidden=(4, 4), p=0.1, dropout="concrete", temperature=0.2)]
    stacked = StackedMLP(mlps)
    assert stacked.has_concrete and stacked.temperature == 0.2
    torch.testing.assert_close(stacked.layer_p(0), torch.tensor([0.3, 0.1]))
    with torch.no_grad():
        stacked.p_logit[1, 1] = 0.0  # second hidden layer of the concrete member: p = 0.5
    back = stacked.member(1)
    assert back.learned_p == pytest.approx([0.1, 0.5])
    x = torch.randn(5, 2)
    torch.testing.assert_close(back.eval()(x), stacked.eval()(x)[1])


@pytest.mark.parametrize("other", [
    dict(in_dim=4, out_dim=2, hidden=(6, 5)),
    dict(in_dim=3, out_dim=1, hidden=(6, 5)),
    dict(in_dim=3, out_dim=2, hidden=(6, 6)),
    dict(in_dim=3, out_dim=2, hidden=(6,)),
    dict(in_dim=3, out_dim=2, hidden=(6, 5), activation="tanh"),
])
def test_mismatched_members_raise(other):
    with pytest.raises(ValueError, match="must share"):
        StackedMLP([*_mlps(ps=(0.1,)), MLP(p=0.1, **other)])


def test_eval_mode_is_deterministic():
    stacked = StackedMLP(_mlps(ps=(0.5, 0.9))).eval()
    x = torch.randn(16, 3)
    torch.manual_seed(0)
    a = stacked(x)
    torch.manual_seed(1)
    assert torch.equal(a, stacked(x))


def test_train_mode_p0_deterministic_p05_random():
    stacked = StackedMLP(_mlps(ps=(0.0, 0.5), hidden=(32, 32))).train()
    x = torch.randn(16, 3)
    torch.manual_seed(0)
    a = stacked(x)
    torch.manual_seed(1)
    b = stacked(x)
    torch.manual_seed(0)
    c = stacked(x)
    assert torch.equal(a[0], b[0])  # p = 0: no mask at all
    assert not torch.allclose(a[1], b[1])  # p = 0.5: a new mask per call
    assert torch.equal(a, c)  # the global seed decides the masks


def test_leading_concrete_members_train_as_if_stacked_apart():
    """Leading Concrete members (relaxed masks from torch.rand) and the fixed-rate members after them (SFC64
    masks) draw from separate streams: each part's values and gradients equal those of a stack of it alone."""
    mlps = [MLP(2, 1, hidden=(8, 8), p=0.1, dropout="concrete", temperature=0.1),
            MLP(2, 1, hidden=(8, 8), p=0.3), MLP(2, 1, hidden=(8, 8), p=0.5)]
    x = torch.randn(16, 2)
    results = []
    for part in (mlps, mlps[:1], mlps[1:]):
        stacked = StackedMLP(part).train()
        torch.manual_seed(0)
        out = stacked(x)
        out.sum().backward()
        results.append((out.detach(), stacked.weights[0].grad.clone(), stacked.p_logit.grad))
    (out, w_grad, p_grad), (c_out, c_w_grad, c_p_grad), (f_out, f_w_grad, _) = results
    assert StackedMLP(mlps).leading_concrete == 1
    assert torch.equal(out[:1], c_out) and torch.equal(out[1:], f_out)
    torch.testing.assert_close(w_grad, torch.cat([c_w_grad, f_w_grad]))
    torch.testing.assert_close(p_grad[:, :1], c_p_grad)
    assert p_grad[:, 0].abs().sum() > 0 and (p_grad[:, 1:] == 0).all()  # only the Concrete member's rates learn
    assert StackedMLP([mlps[1], mlps[0]]).leading_concrete is None  # not leading: the general path


def test_concrete_head_multiply_gives_autograds_values_and_gradients():
    """Concrete members' relaxed masks (the head) ahead of fixed-rate masks: the product and the activations'
    gradient equal those of ``h * cat([head, rest])`` exactly; the rates' gradient, summed in closed form, equals
    autograd's through the relaxed masks to float rounding (and only the head members' row of layer j gets one)."""
    from mcdropout.nn.concrete import relaxed_drop, relaxed_keep
    from mcdropout.nn.stacked import _ConcreteHeadMul

    torch.manual_seed(1)
    h0, u, rest = torch.randn(5, 9, 6), torch.rand(2, 9, 6), torch.rand(3, 9, 6)
    logit0 = torch.randn(2, 5)
    upstream = torch.randn(5, 9, 6)
    results = []
    for closed in (True, False):
        h, logit = h0.clone().requires_grad_(), logit0.clone().requires_grad_()
        if closed:
            mask = torch.empty(5, 9, 6)
            mask[2:] = rest
            with torch.no_grad():
                mask[:2], slope = relaxed_keep(torch.sigmoid(logit[1, :2])[:, None, None], u, 0.1)
            out = _ConcreteHeadMul.apply(h, mask, logit, 1, slope)
        else:
            p = torch.sigmoid(logit[1, :2])[:, None, None]
            out = h * torch.cat([(1 - relaxed_drop(p, u, 0.1)) / (1 - p), rest])
        out.backward(upstream)
        results.append((out.detach(), h.grad, logit.grad))
    (out, h_grad, rate_grad), (ref_out, ref_h_grad, ref_rate_grad) = results
    assert torch.equal(out, ref_out) and torch.equal(h_grad, ref_h_grad)
    torch.testing.assert_close(rate_grad, ref_rate_grad, rtol=1e-5, atol=1e-6)
    assert (rate_grad[1, :2] != 0).all() and (rate_grad[0] == 0).all() and (rate_grad[1, 2:] == 0).all()


def test_fixed_rate_training_masks_drop_at_each_members_rate():
    stacked = StackedMLP(_mlps(ps=(0.0, 0.25, 0.75), hidden=(400, 400))).train()
    torch.manual_seed(0)
    h = stacked._dropout(torch.ones(3, 200, 400), "p", None)
    for m, p in enumerate((0.0, 0.25, 0.75)):
        dropped = (h[m] == 0).float().mean().item()
        assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / h[m].numel()) + 1e-9
        assert torch.allclose(h[m][h[m] > 0], torch.tensor(1 / (1 - p)))


@pytest.mark.gpu
def test_stacked_training_step_on_the_gpu_matches_the_cpu_without_dropout():
    """p = 0: no randomness, so one forward and backward on the GPU equals the CPU's (to float tolerance)."""
    mlps = _mlps(ps=(0.0, 0.0))
    x = torch.randn(32, 3)
    grads = []
    for device in ("cpu", "cuda"):
        stacked = StackedMLP(mlps).to(device).train()
        out = stacked(x.to(device))
        out.pow(2).sum().backward()
        grads.append((out.detach().cpu(), stacked.weights[0].grad.cpu()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("out_dim", [1, 3])
def test_narrow_output_layer_gives_baddbmms_values_and_gradients(out_dim):
    """The CPU's narrow output layer (products transposed, one output's input gradient a broadcast multiply): the
    output of ``baddbmm(b, h, w)`` to float rounding, the same gradients of inputs, weights and biases."""
    from mcdropout.nn.stacked import _NarrowLinear

    torch.manual_seed(0)
    h0, w0, b0 = torch.randn(4, 30, 16), torch.randn(4, 16, out_dim), torch.randn(4, 1, out_dim)
    upstream = torch.randn(4, 30, out_dim)
    results = []
    for narrow in (True, False):
        h, w, b = (t.clone().requires_grad_() for t in (h0, w0, b0))
        out = _NarrowLinear.apply(h, w, b) if narrow else torch.baddbmm(b, h, w)
        out.backward(upstream)
        results.append((out.detach(), h.grad, w.grad, b.grad))
    for got, want in zip(*results):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.equal(results[0][0], torch.zeros_like(results[0][0]))
    h = h0.clone().requires_grad_()  # weights without a gradient (e.g. frozen): only the inputs get one
    _NarrowLinear.apply(h, w0, b0).backward(upstream)
    torch.testing.assert_close(h.grad, results[1][1], rtol=1e-5, atol=1e-5)


def test_stacked_model_uses_the_narrow_output_layer_on_the_cpu_only_for_narrow_outputs(monkeypatch):
    import mcdropout.nn.stacked as stacked_module

    calls = []
    real = stacked_module._NarrowLinear.apply
    monkeypatch.setattr(stacked_module._NarrowLinear, "apply", lambda *a: calls.append(a[1].shape) or real(*a))
    x = torch.randn(5, 3)
    StackedMLP(_mlps(out_dim=2)).eval()(x)
    assert calls == [torch.Size([3, 5, 2])]
    StackedMLP(_mlps(out_dim=stacked_module.NARROW_OUTPUTS + 1)).eval()(x)
    assert len(calls) == 1  # a wide output layer: baddbmm
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast: baddbmm, whose backward autocast knows
        out = StackedMLP(_mlps(out_dim=2)).train()(x)
    out.float().sum().backward()
    assert len(calls) == 1 and out.dtype == torch.bfloat16
