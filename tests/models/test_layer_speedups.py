"""The fast paths of the analog layers compute what the straightforward formulation does.

References here are the per-tile formulation (split, one quantizer call per tile, sum), written
with the public quantizers of ``models/crossbar.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.config import AnalogConfig, RangeScope
from models.nn.layers import AnalogLinear
from models.physics import converters, tiling


@pytest.mark.parametrize(("n_in", "out", "tile"), [(300, 70, 64), (256, 12, 64), (784, 10, 256), (40, 5, 64)])
def test_stacked_partial_sums_equal_the_tile_list(n_in: int, out: int, tile: int) -> None:
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(7, 2 * n_in, generator=g)[:, ::2], torch.randn(n_in, out, generator=g)  # strided x
    parts = tiling.stacked_partial_sums(x, w, tile)
    ref = torch.cat(tiling.tile_partial_sums(x, w, tile))
    assert parts.shape == (len(tiling.tile_row_sizes(n_in, tile)), 7, out) and parts.is_contiguous()
    assert torch.allclose(parts, ref, atol=1e-5)
    assert torch.allclose(parts.sum(0), x @ w, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bits", [1, 2, 5, 8, 16])
@pytest.mark.parametrize("signed", [True, False])
def test_scalar_range_quantizer_is_bit_identical(dtype: torch.dtype, bits: int, signed: bool) -> None:
    g = torch.Generator().manual_seed(bits)
    for _ in range(20):
        x = torch.randn(4096, generator=g, dtype=dtype) * float(torch.rand((), generator=g) * 10)
        x = x if signed else x.abs()
        for r in (float(x.abs().max()), 0.37, 1e-40, 0.0):
            ref = converters.quantize_uniform(x, bits, torch.tensor(r, dtype=dtype), signed)
            assert torch.equal(converters.quantize_scalar_range(x, bits, r, signed), ref)
        r_max = float(x.abs().max())  # a range that covers x: the clamp is a no-op
        ref = converters.quantize_uniform(x, bits, torch.tensor(r_max, dtype=dtype), signed)
        assert torch.equal(converters.quantize_scalar_range(x, bits, r_max, signed, clip=False), ref)


def _reference_mvm(layer: AnalogLinear, x: torch.Tensor, dynamic_adc: bool) -> torch.Tensor:
    """DAC → per-tile partial sums → per-tile ADC → (GDC) → sum, one tile group at a time."""
    cfg = layer.config
    w = layer.programmed if layer.programmed is not None else layer.weight.detach()
    lo, hi = x.amin(), x.amax()
    signed = bool(lo < 0)
    r_dac = torch.maximum(hi, -lo) if signed else hi
    x_q = converters.quantize_uniform(x, cfg.dac_bits, r_dac, signed)
    parts = torch.cat(tiling.tile_partial_sums(x_q, w, layer.tile_rows))
    if dynamic_adc:
        per_col = torch.maximum(parts.amax(1), parts.amin(1).neg())
        ranges = tiling.column_tile_max(per_col, cfg.cols)
        if cfg.adc_scope is RangeScope.LAYER:
            ranges = ranges.amax().expand_as(ranges)
    else:
        ranges = layer.adc_range
    q = converters.quantize_uniform(parts, cfg.adc_bits, ranges, signed=True)
    if layer.programmed is not None and layer.gdc:
        q = q * layer._gdc_scale
    return q.sum(0) + layer.bias.detach()


@pytest.mark.parametrize(
    ("n_in", "out", "tile_cols"), [(300, 128, 32), (300, 70, 32), (200, 10, 256), (96, 64, 64)]
)
@pytest.mark.parametrize("scope", list(RangeScope))
def test_analog_forward_matches_the_per_tile_reference(
    n_in: int, out: int, tile_cols: int, scope: RangeScope
) -> None:
    torch.manual_seed(0)
    cfg = AnalogConfig(device="pcm", tile_rows=64, tile_cols=tile_cols, adc_scope=scope)
    layer = AnalogLinear(n_in, out, cfg)
    x = torch.randn(16, n_in)
    layer.train()  # dynamic converter ranges, noise off
    assert torch.allclose(layer(x), _reference_mvm(layer, x, True), atol=1e-5)
    layer.eval()
    layer.program(torch.Generator().manual_seed(0))
    layer.set_read_time(86400.0, torch.Generator().manual_seed(1))
    for gdc in (False, True):  # programmed, uncalibrated: dynamic ADC ranges with the GDC scale
        layer.gdc = gdc
        assert torch.allclose(layer(x), _reference_mvm(layer, x, True), atol=1e-5)
    layer.calibrating = True
    layer(x)
    layer.calibrating = False
    for gdc in (False, True):  # calibrated ADC ranges (the DAC stays dynamic only if uncalibrated)
        layer.gdc = gdc
        layer.dac_range.zero_()
        assert torch.allclose(layer(x), _reference_mvm(layer, x, False), atol=1e-5)


@pytest.mark.parametrize("analog", [True, False])
@pytest.mark.parametrize("out", [10, 40])
def test_fused_bias_and_narrow_layout_keep_the_linear_gradient(analog: bool, out: int) -> None:
    torch.manual_seed(0)
    lin = nn.Linear(100, out)
    ideal = {"adc_bits": None, "dac_bits": None}
    layer = AnalogLinear.from_linear(lin, AnalogConfig(tile_rows=32, tile_cols=16, **ideal)).train()
    layer.analog = analog
    x = torch.randn(8, 100, requires_grad=True)
    layer(x).square().sum().backward()
    grad_x = x.grad.clone()
    x.grad = None
    lin(x).square().sum().backward()
    assert torch.allclose(grad_x, x.grad, atol=1e-4)
    assert torch.allclose(layer.weight.grad, lin.weight.grad.t(), atol=1e-4)
    assert torch.allclose(layer.bias.grad, lin.bias.grad, atol=1e-4)
    assert layer.weight.grad.stride() == layer.weight.stride()


def test_training_noise_scale_follows_the_weights_after_an_optimizer_step() -> None:
    """η·w_max is read from the current weights on every forward pass, also right after a step
    that changes the largest |weight|."""
    torch.manual_seed(0)
    layer = AnalogLinear(64, 2000, AnalogConfig(tile_rows=32, adc_bits=None, dac_bits=None)).train()
    layer.analog = False  # hwa's digital forward: y = x W + N(0, (η w_max ‖x‖)²)
    layer.noise_std = 0.05
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    x = torch.ones(1, 64)
    for scale in (1.0, 3.0):
        with torch.no_grad():
            clean = x @ layer.weight + layer.bias
        std = float((layer(x).detach() - clean).std())
        expected = 0.05 * float(layer.w_max()) * 8.0  # ‖x‖ = 8
        assert std == pytest.approx(expected, rel=0.1)
        opt.zero_grad()
        layer.weight.grad = torch.zeros_like(layer.weight)
        layer.weight.grad[0, 0] = -scale * float(layer.w_max())  # the step grows w_max
        layer.bias.grad = torch.zeros_like(layer.bias)
        opt.step()
    assert float(layer.w_max()) == float(layer.weight.detach().abs().max())
