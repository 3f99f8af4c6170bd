"""Cheaper chip calibration and PCM read-noise estimate (docs/training_modes.md, sixth speed pass).

The calibrated ADC ranges' percentile by one compiled pass (``fused_reads.abs_percentile``) and the
HIC read-noise level on its level table (``physics.chip.training_read_std``) against the torch
reference they replace: equal bit for bit (``torch.equal``), float32 and float64.
"""

from __future__ import annotations

import pytest
import torch

from models.physics import converters, fused_reads, kernels


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "ENABLED", True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(4, 64, 512), (2, 64, 10), (1, 64, 512), (3, 2, 7), (2, 3, 5)])
@pytest.mark.parametrize("q", [99.99, 99.0, 50.0, 100.0])
def test_abs_percentile_is_the_percentile_of_the_magnitudes(
    dtype: torch.dtype, shape: tuple[int, int, int], q: float
) -> None:
    """Every shape the calibration reads (forward tiles, backward column tiles, narrow outputs),
    with ties at the top (rounded entries), a −0 and both signs: the percentile of ``|parts|``
    along the samples, to the bit. q = 99.99 and 99 take the compiled pass (the two largest), 50
    and 100 the torch path."""
    gen = torch.Generator().manual_seed(sum(shape))
    parts = torch.randn(shape, generator=gen, dtype=dtype) * 3
    parts[..., ::3] = parts[..., ::3].round()  # ties, also between + and −
    parts[0, 0, 0] = -0.0
    got = fused_reads.abs_percentile(parts, q)
    want = converters.percentile(parts.abs(), q, dim=1)
    assert got.dtype == want.dtype == dtype
    assert torch.equal(got, want)


def test_abs_percentile_of_two_equal_maxima_is_that_maximum() -> None:
    """A tie at the top: the second largest is the largest (|−5| = |5|), so any q between gives 5;
    a column whose one large entry is alone interpolates towards the next (1 + 0.5·(9 − 1))."""
    parts = torch.tensor([[[5.0, 1.0], [-5.0, 9.0], [0.5, -0.25]]])  # (1 tile, 3 samples, 2 columns)
    got = fused_reads.abs_percentile(parts, 75.0)  # position 1.5 of 3: between the two largest
    assert got.tolist() == [[5.0, 5.0]]


def test_abs_percentile_with_a_nan_is_the_torch_paths() -> None:
    """NaN entries: the compiled pass reports them and the torch path (which propagates NaN) answers."""
    parts = torch.randn(2, 64, 512, generator=torch.Generator().manual_seed(1))
    parts[1, 5, 7] = float("nan")
    got = fused_reads.abs_percentile(parts, 99.99)
    want = converters.percentile(parts.abs(), 99.99, dim=1)
    assert torch.equal(got.isnan(), want.isnan()) and bool(got.isnan().any())
    assert torch.equal(got.nan_to_num(), want.nan_to_num())
