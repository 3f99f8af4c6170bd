"""Regression: a tile whose partial sums are all zero (dead ReLUs) has range 0 and must not give NaN."""

from __future__ import annotations

import pytest
import torch

from models.physics.converters import fake_quant, quantize_uniform, quantize_uniform_


@pytest.mark.parametrize("bits", [1, 2, 8, 16])
@pytest.mark.parametrize("signed", [True, False])
def test_zero_range_gives_zeros_not_nan(bits: int, signed: bool) -> None:
    x = torch.zeros(4, 3)
    q = quantize_uniform(x, bits, torch.zeros(1, 3), signed)
    assert torch.isfinite(q).all()
    if not (signed and bits == 1):
        assert (q == 0).all()


def test_zero_range_gradient_is_finite() -> None:
    x = torch.zeros(5, requires_grad=True)
    fake_quant(x, 6, torch.tensor(0.0), True).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("bits", [1, 2, 8, 16])
def test_in_place_zero_range_gives_zeros_not_nan(bits: int) -> None:
    x = torch.zeros(3, 4, 5)
    quantize_uniform_(x, bits, torch.zeros(3, 1, 5))
    assert torch.isfinite(x).all()
