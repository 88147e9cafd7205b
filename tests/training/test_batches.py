"""mcdropout.training.batches: mini-batches over device tensors, shared by all members or each member's own rows
(padding never drawn), reshuffled every epoch."""

from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from test_routine import _per_member_routine, _routine

from mcdropout.training.batches import TensorBatches, member_orders


def _shared(n: int, data_of=None, rows=None):
    """What TensorBatches reads of a routine: row ``i`` is ``x = [i, -i]``, ``y = 10 i``."""
    x = torch.stack([torch.arange(n, dtype=torch.float32), -torch.arange(n, dtype=torch.float32)], dim=1)
    return SimpleNamespace(train_x=x, train_y=10 * torch.arange(n, dtype=torch.float32), data_of=data_of,
                           member_rows=lambda split: rows[data_of])


# --- shared data ------------------------------------------------------------------------


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


@pytest.mark.parametrize("n, batch_size, steps", [(10, 0, 1), (10, -1, 1), (10, 1, 10), (10, 3, 4), (10, 5, 2),
                                                  (10, 9, 2), (10, 10, 1), (10, 11, 1), (1, 7, 1)])
def test_len_is_the_steps_of_an_epoch(n, batch_size, steps):
    routine = _shared(n)
    assert len(TensorBatches(routine, batch_size)) == steps
    assert len(list(TensorBatches(routine, batch_size))) == steps


def test_one_full_batch_is_the_data_as_it_is():
    routine = _shared(6)
    ((x, y),) = list(TensorBatches(routine, 0))
    assert x is routine.train_x and y is routine.train_y  # no copy, no shuffle
    ((x, y),) = list(TensorBatches(routine, 6))
    assert x is routine.train_x


def test_rows_travel_with_their_targets_and_each_epoch_reshuffles():
    routine = _shared(12)
    batches = TensorBatches(routine, 5)
    torch.manual_seed(3)
    first = list(batches)
    second = list(batches)
    for x, y in first + second:
        assert x.shape == (len(y), 2)
        torch.testing.assert_close(y, 10 * x[:, 0])
        torch.testing.assert_close(x[:, 1], -x[:, 0])
    order = [torch.cat([y for _, y in epoch]) for epoch in (first, second)]
    assert not torch.equal(order[0], order[1])  # a new shuffle each epoch
    torch.manual_seed(3)
    again = torch.cat([y for _, y in TensorBatches(routine, 5)])
    assert torch.equal(again, order[0])  # the same seed, the same order


# --- per-member data --------------------------------------------------------------------


@pytest.mark.parametrize("rows, n", [([7, 7, 7], 7), ([5, 7, 3], 7), ([1, 4], 4)])
def test_member_orders_shuffle_each_members_own_rows(rows, n):
    torch.manual_seed(0)
    order = member_orders(torch.tensor(rows), n)
    assert order.shape == (len(rows), n)
    for m, r in enumerate(rows):
        got = order[m].tolist()
        assert all(0 <= i < r for i in got)  # only the member's own rows
        for start in range(0, n, r):  # one shuffle after another: every row once per shuffle
            chunk = got[start:start + r]
            assert len(set(chunk)) == len(chunk)
        assert set(got) == set(range(r))  # every row in an epoch
    if len(set(rows)) == 1:
        assert not all(order[0].tolist() == order[m].tolist() for m in range(1, len(rows)))  # own shuffles


@pytest.mark.parametrize("rows, n", [([2, 6], 6), ([3, 10], 10), ([1, 1, 9], 9), ([4, 16, 5], 16)])
def test_member_orders_never_draw_padding_and_spread_repeats_evenly(rows, n):
    torch.manual_seed(1)
    order = member_orders(torch.tensor(rows), n)
    assert order.shape == (len(rows), n) and order.dtype == torch.long
    for m, r in enumerate(rows):
        counts = Counter(order[m].tolist())
        assert set(counts) == set(range(r))  # padded positions r..n-1 never drawn; every row drawn
        assert set(counts.values()) <= {n // r, -(-n // r)}  # each full shuffle holds every row once
        assert sum(counts.values()) == n


def test_member_orders_a_single_row_member_draws_it_every_time():
    order = member_orders(torch.tensor([1, 5]), 5)
    assert order[0].tolist() == [0] * 5 and sorted(order[1].tolist()) == [0, 1, 2, 3, 4]


def test_member_orders_deterministic_by_seed():
    rows = torch.tensor([3, 8, 8])
    torch.manual_seed(7)
    a = member_orders(rows, 8)
    torch.manual_seed(7)
    b = member_orders(rows, 8)
    torch.manual_seed(8)
    c = member_orders(rows, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("batch_size, sizes", [(4, [4, 4, 2]), (0, [10]), (32, [10])])
def test_per_member_batches_hold_only_each_members_rows(batch_size, sizes):
    routine = _per_member_routine(batch_size)
    batches = TensorBatches(routine, batch_size)
    torch.manual_seed(0)
    got = list(batches)
    assert len(batches) == len(sizes) and [b[1].shape for b in got] == [(4, s) for s in sizes]
    x = torch.cat([b[0] for b in got], dim=1)  # [M, 10, 2]: each member's epoch
    y = torch.cat([b[1] for b in got], dim=1)
    for m, (g, r) in enumerate(zip([0, 1, 1, 2], [10, 10, 10, 6])):
        assert (x[m, :, 0] == g).all()  # its own data set, never a padded row
        assert set(x[m, :, 1].long().tolist()) == set(range(r))  # all its rows
        torch.testing.assert_close(y[m], 100 * g + x[m, :, 1])  # targets travel with their rows
    assert not torch.equal(x[1], x[2])  # two members of one data set: their own shuffles


def test_per_member_batches_on_a_fake_routine():
    """Data set ``g`` holds ``x[g, i] = [i, -i]``; members 0 and 2 share data set 0 (all 5 rows), member 1 has
    data set 1's first 2 rows: the length is that of the largest data set, every member a batch of each step."""
    x = _shared(5).train_x
    rows = torch.tensor([5, 2])
    routine = SimpleNamespace(train_x=torch.stack([x, x + 100]), train_y=torch.stack([torch.arange(5.0)] * 2),
                              data_of=torch.tensor([0, 1, 0]), member_rows=lambda split: rows[torch.tensor([0, 1, 0])])
    batches = TensorBatches(routine, 2)
    torch.manual_seed(0)
    got = list(batches)
    assert len(batches) == 3 and [tuple(b[0].shape) for b in got] == [(3, 2, 2), (3, 2, 2), (3, 1, 2)]
    epoch = torch.cat([b[0] for b in got], dim=1)
    assert sorted(epoch[0, :, 0].tolist()) == sorted(epoch[2, :, 0].tolist()) == [0, 1, 2, 3, 4]
    assert set(epoch[1, :, 0].tolist()) == {100, 101}  # data set 1, never its padded rows 102-104
