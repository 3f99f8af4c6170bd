"""Analog layers: tiling equivalence, the exact SRAM baseline, noise, and a contract for every preset."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.config import AdcRange, AnalogConfig, RangeScope
from models.nn.conv import AnalogConv2d
from models.nn.layers import AnalogLinear
from models.physics import converters, crossbar
from models.physics.devices import DEVICES
from models.physics.noise import output_noise

IDEAL = {"adc_bits": None, "dac_bits": None, "prog_noise_scale": 0.0, "read_noise_scale": 0.0}


def test_linear_larger_than_a_tile_equals_untiled_layer() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(300, 70)
    x = torch.randn(16, 300)
    tiled = AnalogLinear.from_linear(lin, AnalogConfig(tile_rows=64, tile_cols=32, **IDEAL)).eval()
    untiled = AnalogLinear.from_linear(lin, AnalogConfig(tile_rows=4096, tile_cols=4096, **IDEAL)).eval()
    assert tiled.tiles == 5 * 3 and untiled.tiles == 1
    assert torch.allclose(tiled(x), lin(x), atol=1e-5)
    assert torch.allclose(tiled(x), untiled(x), atol=1e-5)
    tiled.train()
    assert torch.allclose(tiled(x), lin(x), atol=1e-5)  # noise_std 0: training forward is the same


@pytest.mark.parametrize(("tile_rows", "row_sizes"), [(16, [9] * 6), (40, [27, 27]), (8, [8] * 6 + [6])])
def test_conv_larger_than_a_tile_equals_conv2d(tile_rows: int, row_sizes: list[int]) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 20, 3, stride=2, padding=1)
    x = torch.randn(3, 6, 11, 9, requires_grad=True)
    layer = AnalogConv2d.from_conv(conv, AnalogConfig(tile_rows=tile_rows, tile_cols=8, **IDEAL)).eval()
    assert layer.weight.shape == (54, 20) and layer.row_sizes == row_sizes  # whole kernels per tile
    assert torch.allclose(layer(x), conv(x), atol=1e-5)
    layer.train()  # training forward and the plain convolution's gradient
    (g_analog,) = torch.autograd.grad(layer(x).square().sum(), x)
    (g_plain,) = torch.autograd.grad(conv(x).square().sum(), x)
    assert torch.allclose(g_analog, g_plain, atol=1e-4)
    layer.analog = False
    assert torch.allclose(layer(x), conv(x), atol=1e-5)


def test_linear_gradient_is_the_plain_matmul_gradient() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(100, 30)
    layer = AnalogLinear.from_linear(lin, AnalogConfig(tile_rows=32, tile_cols=16, **IDEAL)).train()
    x = torch.randn(8, 100, requires_grad=True)
    layer(x).square().sum().backward()
    lin(x.detach()).square().sum().backward()
    assert torch.allclose(layer.weight.grad, lin.weight.grad.t(), atol=1e-4)


def test_sram_gives_exactly_the_digital_result() -> None:
    torch.manual_seed(1)
    cfg = AnalogConfig(device="sram", tile_rows=32, tile_cols=16)
    lin = nn.Linear(100, 12)
    layer = AnalogLinear.from_linear(lin, cfg).eval()
    x = torch.randn(8, 100)
    for seed in (0, 1):
        layer.program(torch.Generator().manual_seed(seed))
        layer.set_read_time(365 * 86400.0, torch.Generator().manual_seed(seed))
        w_q = converters.quantize_uniform(layer.weight.detach(), 8, layer.w_max(), signed=True)
        assert torch.equal(layer(x), x @ w_q + layer.bias)
    conv = AnalogConv2d.from_conv(nn.Conv2d(3, 5, 3, padding=1), cfg).eval()
    conv.program(torch.Generator().manual_seed(0))
    w_q = converters.quantize_uniform(conv.weight.detach(), 8, conv.w_max(), signed=True)
    xi = torch.randn(2, 3, 6, 6)
    assert torch.equal(conv(xi), F.conv2d(xi, w_q.t().reshape(5, 3, 3, 3), conv.bias, padding=1))


def test_output_noise_has_per_weight_equivalent_variance() -> None:
    x = torch.rand(1, 4, 50, dtype=torch.float64)  # (tiles, batch, rows)
    part = torch.zeros(1, 4, 20000, dtype=torch.float64)
    noise = output_noise(x, part, 0.3, torch.Generator().manual_seed(0))
    expected = 0.3 * x.norm(dim=2)  # σ·sqrt(Σ x_i²), the std of Σ_i n_ij x_i
    assert torch.allclose(noise.std(dim=2), expected, rtol=4 / math.sqrt(2 * 20000))


def test_hwa_noise_only_while_training() -> None:
    layer = AnalogLinear(64, 16, AnalogConfig(tile_rows=32, adc_bits=None, dac_bits=None))
    layer.noise_std = 0.05
    x = torch.rand(32, 64)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_calibrated_and_fixed_adc_ranges() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 96)
    for scope in RangeScope:
        layer = AnalogLinear(
            96, 40, AnalogConfig(tile_rows=32, tile_cols=16, adc_bits=4, adc_scope=scope)
        ).eval()
        layer.calibrating = True
        layer(x)
        layer.calibrating = False
        r = layer.adc_range
        assert r.shape == (3, 1, 40) and torch.all(r > 0)
        if scope is RangeScope.LAYER:
            assert torch.all(r == r.max())
        else:  # one range per tile: constant inside each 16-column tile
            assert torch.all(r[:, :, :16] == r[:, :, :1]) and not torch.all(r == r.max())


def test_fixed_adc_range_is_the_tile_full_scale_by_hand() -> None:
    """A fixed range is rows·w_max·x_full_scale per tile; every partial sum is rounded to one of
    2^(b−1)−1 signed steps of it, clipped, and the tiles' codes summed; never taken from the batch."""
    torch.manual_seed(0)
    x = 0.5 + torch.rand(64, 96)  # inputs up to 1.5× the DAC full scale: the largest sums must clip
    cfg = AnalogConfig(
        tile_rows=32, adc_bits=3, adc_range=AdcRange.FIXED, dac_bits=None, dac_range=AdcRange.FIXED
    )
    fixed = AnalogLinear(96, 40, cfg, bias=False).eval()
    with torch.no_grad():  # columns of one sign and growing weight, so that every code is reached
        fixed.weight.copy_(torch.linspace(-1, 1, 40) * (0.9 + 0.1 * torch.rand(96, 40)))
    w = fixed.weight.detach()
    step = 32 * float(w.abs().max()) * cfg.dac_full_scale / 3  # 3 = 2^(3−1) − 1 codes of each sign
    expected = torch.zeros(64, 40)
    for t in range(3):
        part = x[:, 32 * t : 32 * (t + 1)] @ w[32 * t : 32 * (t + 1)]
        expected += torch.clamp(torch.round(part / step), -3, 3) * step
    y = fixed(x)
    assert torch.allclose(y, expected, atol=1e-5)
    assert torch.allclose(y / step, torch.round(y / step), atol=1e-4)  # whole codes
    assert torch.equal(fixed(x[:1]), y[:1])  # a sample alone gets the same codes: no batch statistic
    codes = torch.round(y / step).unique().tolist()
    assert codes[0] == -9 and codes[-1] == 9 and len(codes) >= 15  # 3 tiles × ±3, clipped at both ends


def test_programming_is_reproducible_per_seed() -> None:
    layer = AnalogLinear(40, 10, AnalogConfig(device="pcm"))
    outs = []
    for seed in (0, 0, 1):
        layer.program(torch.Generator().manual_seed(seed))
        outs.append(layer.programmed.clone())
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    layer.unprogram()
    assert layer.programmed is None


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_device_preset_contract(name: str) -> None:
    dev = DEVICES[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        dev.levels = 3  # type: ignore[misc]
    assert dev.name == name and dev.levels >= 2 and dev.g_max_us > dev.g_min_us >= 0
    assert dev.write_energy_pj > 0 and dev.write_latency_ns > 0 and dev.endurance_cycles > 0
    assert 0 < dev.dw_min <= 1 and dev.w_bound_min < dev.w_bound_max
    assert min(dev.step_c2c, dev.step_d2d, dev.bound_d2d, dev.prog_noise, dev.read_noise) >= 0
    if not dev.analog:  # the digital baseline: exact, unlimited endurance
        assert math.isinf(dev.endurance_cycles) and dev.prog_noise == 0 and dev.drift_nu_mean == 0
    cfg = AnalogConfig(device=name, tile_rows=32, tile_cols=16, stuck_off_fraction=0.01)
    torch.manual_seed(0)
    lin, conv = AnalogLinear(70, 20, cfg), AnalogConv2d(2, 4, 3, cfg, padding=1)
    for layer, x in ((lin, torch.randn(8, 70)), (conv, torch.randn(2, 2, 5, 5))):
        layer.train()
        layer.noise_std = 0.04
        layer(x).square().sum().backward()
        assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
        layer.eval()
        layer.program(torch.Generator().manual_seed(0))
        layer.calibrating = True
        layer(x)
        layer.calibrating = False
        for t in (1.0, 365 * 86400.0):
            layer.set_read_time(t, torch.Generator().manual_seed(1))
            assert torch.isfinite(layer(x)).all()
            w_max = float(layer.w_max())
            assert float(layer.programmed.abs().max()) <= w_max * (1 + 0.5)  # noise, no blow-up
    assert crossbar.devices_per_weight(dev, cfg) >= 1 and crossbar.weight_levels(dev, cfg) >= 2
