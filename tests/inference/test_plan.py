"""The traced plan: which nodes run once, which per block, and that a block computes the model."""

import gc
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mcdropout.inference.plan import build_plan, is_dropout, rate
from mcdropout.inference.sampling import predict_mc
from mcdropout.nn.concrete import ConcreteDropout
from mcdropout.nn.model import seeded_mlp


class Residual(nn.Module):
    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.fc1, self.fc2, self.out = nn.Linear(2, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 1)
        self.drop1, self.drop2 = nn.Dropout(p), nn.Dropout(p)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(h + self.fc2(self.drop2(torch.relu(self.fc1(self.drop1(h))))))

    def reference(self, x, s):
        """The model with each dropout replaced by its scale s (what a mask of ones gives)."""
        h = torch.relu(self.inp(x))
        return self.out(h + self.fc2(s * torch.relu(self.fc1(s * h))))


class SharedInput(nn.Module):
    """A dropout whose input has another reader: the fast path must not overwrite it in place."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.fc1, self.fc2, self.drop1, self.drop2 = nn.Linear(2, 8), nn.Linear(8, 8), nn.Dropout(0.5), nn.Dropout(0.2)

    def forward(self, x):
        a = torch.relu(self.fc2(self.drop1(self.fc1(x))))  # a: a temporary of the stochastic part
        return self.drop2(a[:, :]) * a + a  # a view of a dropped, a read twice more: scale not folded

    def reference(self, x):
        a = torch.relu(self.fc2(2.0 * self.fc1(x)))
        return a * 1.25 * a + a


def _ones_dropout(x, p, scale, owned, t):
    """A deterministic stand-in for the masks (all kept) that honours ``owned`` like the real one."""
    if t > 1:
        x, owned = x.expand(t, *x.shape).reshape(t * x.shape[0], *x.shape[1:]), True
    return x.mul_(scale) if owned else x * scale


def test_sequential_plan_prefix_sites_and_folds():
    model = seeded_mlp(0, in_dim=1, out_dim=1, hidden=(4, 4), p=0.3)  # Linear ReLU Dropout Linear ReLU Dropout Linear
    plan = build_plan(model)
    assert [n.target for n in plan.prefix] == ["0", "1"]  # run once
    assert {n.target: p for n, p in plan.sites.items()} == pytest.approx({"2": 0.3, "5": 0.3})
    assert {n.target for n in plan.fold} == {"3", "6"} and plan.folded == set(plan.sites)
    assert [n.target for n in plan.frontier] == ["1"]


def test_input_dropout_has_only_the_affine_prefix():
    model = seeded_mlp(0, in_dim=3, out_dim=1, hidden=(5,), p=0.1, input_p=0.2, x_mean=[0, 0, 0], x_std=[1, 2, 3])
    plan = build_plan(model)
    assert [n.op for n in plan.prefix] == ["get_attr", "call_function", "get_attr", "call_function"]  # (x-m)/s
    assert sorted(plan.sites.values()) == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize("t", [1, 3])
@pytest.mark.parametrize("fold", [True, False])
def test_block_computes_the_model(t, fold):
    model, x = Residual(), torch.randn(6, 2)
    plan = build_plan(model)
    assert len(plan.sites) == 2 and plan.input.name == "x"
    with torch.no_grad():
        det = plan.run_prefix(x)
        out = plan.run_block(plan.rows(det, 0, 6), t, _ones_dropout, plan.weights() if fold else None)
        expected = model.reference(x, 1 / 0.7).repeat(t, 1)
    assert out.shape == (6 * t, 1)
    torch.testing.assert_close(out, expected)


def test_block_leaves_shared_inputs_alone():
    model, x = SharedInput(), torch.randn(5, 2)
    plan = build_plan(model)
    assert {n.target for n in plan.folded} == {"drop1"}  # drop2 is read by a product: scaled by the mask
    with torch.no_grad():
        det = plan.run_prefix(x)
        out = plan.run_block(plan.rows(det, 0, 5), 2, _ones_dropout, plan.weights())
        torch.testing.assert_close(out, model.reference(x).repeat(2, 1))


def test_rate_and_is_dropout():
    assert rate(nn.Dropout(0.25)) == 0.25 and rate(nn.Dropout2d(0.25)) is None and rate(nn.Linear(1, 1)) is None
    assert rate(ConcreteDropout(0.2)) == pytest.approx(0.2)
    assert is_dropout(ConcreteDropout(0.2)) and is_dropout(nn.AlphaDropout(0.1)) and not is_dropout(nn.ReLU())


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop = nn.Linear(2, 1), nn.Dropout(0.5)

    def forward(self, x, scale=1.0):
        return self.fc(self.drop(x)) * scale


class TupleOut(TwoInputs):
    def forward(self, x):
        return self.fc(self.drop(x)), x


class DropConnect(TwoInputs):
    def forward(self, x):
        return F.linear(x, self.drop(self.fc.weight), self.fc.bias)


class CustomDropout(nn.Module):
    is_mc_dropout = True

    def forward(self, x):
        return x * (torch.rand(()) > 0.5)  # one mask for the whole batch: not a per-row Bernoulli


class WithCustom(TwoInputs):
    def __init__(self):
        super().__init__()
        self.drop = CustomDropout()


class InplaceShared(TwoInputs):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5, inplace=True)

    def forward(self, x):
        h = x * 2
        return self.fc(self.drop(h)) + h.sum(1, keepdim=True)


class ComputedRate(TwoInputs):
    def forward(self, x):
        return self.fc(F.dropout(x, x.sum() * 0 + 0.5, training=True))


@pytest.mark.parametrize("model", [TwoInputs(), TupleOut(), DropConnect(), WithCustom(), InplaceShared(),
                                   ComputedRate()],
                         ids=["two-inputs", "tuple-out", "dropconnect", "custom-dropout", "inplace-shared",
                              "computed-rate"])
def test_models_the_plan_turns_down(model):
    assert build_plan(model) is None


class BatchStatistic(nn.Module):
    """A value computed across the batch before the dropout: not N rows, so the fast path declines."""

    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(self.drop(h) + h.mean(0))


class ShapeAfterDropout(BatchStatistic):
    def forward(self, x):
        h = self.drop(self.fc1(x))
        return self.fc2(h.reshape(x.shape[0], -1))  # x.shape[0] is N, not the block's rows


@pytest.mark.parametrize("model", [BatchStatistic(), ShapeAfterDropout()], ids=["batch-mean", "batch-size"])
def test_run_time_check_falls_back_to_the_loop(model):
    x = torch.randn(7, 2)
    plan = build_plan(model)
    with torch.no_grad():
        assert plan is not None and plan.check(plan.run_prefix(x), 7) is not None
    assert torch.equal(predict_mc(model, x, samples=3, seed=0), predict_mc(model, x, samples=3, seed=0, method="loop"))
    with pytest.raises(ValueError, match="fast path needs"):
        predict_mc(model, x, samples=3, method="fast")


class DeadBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop = nn.Linear(2, 1), nn.Dropout(0.5)

    def forward(self, x):
        self.drop(x)  # drawn, never used
        return self.fc(x)


def test_output_no_dropout_reaches():
    model, x = DeadBranch(), torch.randn(4, 2)
    plan = build_plan(model)
    assert not plan.stochastic_output
    out = predict_mc(model, x, samples=3, seed=0, method="fast")
    assert out.shape == (3, 4, 1) and torch.equal(out[0], out[2])


class Flagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop, self.skip = nn.Linear(2, 2), nn.Dropout(0.5), False

    def forward(self, x):
        return x if self.skip else self.fc(self.drop(x))


def test_trace_is_reused_until_the_model_changes():
    model = Flagged()
    first = build_plan(model)
    assert build_plan(model).steps[0] is first.steps[0]  # the same graph, not traced again
    model.drop.p = 0.25
    assert list(build_plan(model).sites.values()) == [0.25]  # rates are read anew
    model.skip = True  # a plain attribute forward branches on: traced again
    assert not build_plan(model).stochastic_output
    model.fc = nn.Sequential(nn.Linear(2, 2))
    assert build_plan(model).steps == []
    ref = weakref.ref(model)
    del model, first
    gc.collect()
    assert ref() is None  # the cache does not keep models alive
