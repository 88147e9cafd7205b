"""Dropout masks from 16-bit SFC64 uniforms: rates, seeding, and the stacked members' scaled masks."""

import math

import pytest
import torch

from mcdropout.nn.masks import Bits, keep_mask, member_levels, member_mask, threshold


@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.9, 3 / 2**16, 1.0])
def test_keep_mask_rate(p):
    n = 1 << 22 if p < 1e-3 else 400_000
    keep = keep_mask((n,), p, torch.device("cpu"))
    assert keep.dtype == torch.bool and keep.shape == (n,)
    rate = 1 - keep.float().mean().item()
    if p in (0.0, 1.0):
        assert rate == p  # exactly none / all dropped
    else:
        assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_keep_mask_is_seeded_and_shaped():
    torch.manual_seed(0)
    a = keep_mask((64, 3, 5), 0.5, torch.device("cpu"))
    torch.manual_seed(0)
    assert a.shape == (64, 3, 5) and torch.equal(a, keep_mask((64, 3, 5), 0.5, torch.device("cpu")))
    assert not torch.equal(a, keep_mask((64, 3, 5), 0.5, torch.device("cpu")))


def test_thresholds_by_hand():
    assert threshold(0.0) == -(2**15) and threshold(0.5) == 0 and threshold(1.0) == 2**15
    assert threshold(0.1) == round(0.1 * 2**16) - 2**15 == 6554 - 32768
    levels = member_levels(torch.tensor([0.0, 0.5, 0.1, 0.99999]))
    assert levels.dtype == torch.int16
    assert levels.tolist() == [-32768, 0, 6554 - 32768, 32767]  # p < 1 never reaches "drop all"


def test_bits_cover_the_int16_range_uniformly():
    torch.manual_seed(0)
    u = Bits().int16((1 << 20,)).long()
    assert u.min() == -(2**15) and u.max() == 2**15 - 1
    assert abs(u.float().mean().item() + 0.5) < 5 * 2**16 / math.sqrt(12 * (1 << 20))


def test_member_mask_rates_scales_and_seed():
    p = torch.tensor([0.0, 0.1, 0.5, 0.9])
    shape = (4, 500, 200)
    torch.manual_seed(0)
    mask = member_mask(shape, p, member_levels(p), 1 / (1 - p))
    assert mask.shape == shape and mask.dtype == torch.float32
    for m, rate in enumerate(p.tolist()):
        kept = mask[m] > 0
        assert torch.allclose(mask[m][kept], torch.tensor(1 / (1 - rate)))  # kept: scaled; dropped: 0
        assert abs((1 - kept.float().mean().item()) - rate) < 5 * math.sqrt(rate * (1 - rate) / kept.numel()) + 1e-9
        assert mask[m].mean().item() == pytest.approx(1.0, abs=0.03)  # inverted dropout keeps the mean
    torch.manual_seed(0)
    assert torch.equal(mask, member_mask(shape, p, member_levels(p), 1 / (1 - p)))


def test_member_mask_written_into_out_is_the_same_mask():
    p = torch.tensor([0.2, 0.5, 0.0])
    torch.manual_seed(3)
    new = member_mask((3, 40, 7), p, member_levels(p), 1 / (1 - p))
    buffer = torch.full((5, 40, 7), -1.0)
    torch.manual_seed(3)
    written = member_mask((3, 40, 7), p, member_levels(p), 1 / (1 - p), out=buffer[2:])
    assert written.data_ptr() == buffer[2:].data_ptr() and torch.equal(buffer[2:], new)
    assert (buffer[:2] == -1).all()  # rows before ``out`` untouched
