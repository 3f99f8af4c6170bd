"""Shared by the fused-converter equality tests (test_adc_kernel.py, test_calibration_speed.py):
the analog layer they read and the exact comparison of the torch path's outputs with the fused one's."""

from __future__ import annotations

import torch

from models.config import AnalogConfig
from models.nn.layers import AnalogLinear

Outputs = list[torch.Tensor]


def assert_equal(ref: Outputs, new: Outputs) -> None:
    """Every tensor equal bit for bit (dtype and shape too), naming how many entries differ."""
    assert len(ref) == len(new)
    for a, b in zip(ref, new, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b), f"{int((a != b).sum())} of {a.numel()} differ"


def linear(dtype: torch.dtype, out: int, device: str = "pcm", **analog: object) -> AnalogLinear:
    """300 inputs on 64-row tiles (4 full tiles and a remainder of 44), ``out`` outputs on 64 columns."""
    torch.manual_seed(0)
    cfg = AnalogConfig(device=device, tile_rows=64, tile_cols=64, **analog)  # type: ignore[arg-type]
    layer = AnalogLinear(300, out, cfg).to(dtype)
    with torch.no_grad():
        layer.bias.uniform_(-0.1, 0.1)  # type: ignore[union-attr]
    return layer
