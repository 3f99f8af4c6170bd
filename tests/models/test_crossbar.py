"""Closed forms and invariants of models/crossbar.py: quantizers, mappings, noise, faults, IR drop."""

from __future__ import annotations

import math

import pytest
import torch

from models.config import AnalogConfig, Mapping
from models.physics import converters, crossbar, tiling
from models.physics.devices import DEVICES, PCM_PROG_POLY_US

ANALOG = [name for name, d in DEVICES.items() if d.analog]


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("signed", [True, False])
def test_quantizer_error_within_half_step_and_level_count(bits: int, signed: bool) -> None:
    r = 1.7
    lo = -r if signed else 0.0
    x = torch.linspace(lo, r, 20001, dtype=torch.float64)
    q = converters.quantize_uniform(x, bits, r, signed)
    assert len(torch.unique(q)) <= 2**bits
    if not (signed and bits == 1):
        step = converters.quant_step(bits, r, signed)
        assert (q - x).abs().max() <= step / 2 + 1e-12
        assert len(torch.unique(q)) == (2**bits - 1 if signed else 2**bits)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_fixed_range_saturates(bits: int) -> None:
    r = torch.tensor(0.5)
    x = torch.tensor([-10.0, -0.51, 0.51, 3.0])
    q = converters.quantize_uniform(x, bits, r, signed=True)
    assert torch.allclose(q, torch.tensor([-0.5, -0.5, 0.5, 0.5]))
    assert float(converters.quantize_uniform(torch.tensor([9.0]), bits, r, signed=False)) == pytest.approx(
        0.5
    )


def test_fake_quant_is_straight_through() -> None:
    x = torch.randn(50, requires_grad=True)
    y = converters.fake_quant(x, 3, 1.0, signed=True)
    assert torch.equal(y.detach(), converters.quantize_uniform(x.detach(), 3, 1.0, True))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(50))


@pytest.mark.parametrize("name", ANALOG)
@pytest.mark.parametrize("mapping", list(Mapping))
def test_mapping_round_trip_within_half_level(name: str, mapping: Mapping) -> None:
    dev, cfg = DEVICES[name], AnalogConfig(device=name, mapping=mapping)
    w_max = 0.8
    w = torch.linspace(-w_max, w_max, 4001, dtype=torch.float64)
    g = crossbar.weight_to_slices(w, w_max, dev, cfg)
    assert g.shape == (1, 2, 4001)
    assert g.min() >= dev.g_min_us - 1e-9 and g.max() <= dev.g_max_us + 1e-9
    back = crossbar.slices_to_weight(g, w_max, dev, cfg)
    assert (back - w).abs().max() <= crossbar.weight_step(w_max, dev, cfg) / 2 + 1e-9
    assert len(torch.unique(back.round(decimals=9))) <= crossbar.weight_levels(dev, cfg)


def test_sign_pair_keeps_partner_at_g_min() -> None:
    dev = DEVICES["pcm"]
    g_pos, g_neg = crossbar.weight_to_conductance(torch.tensor([0.5, -0.25, 0.0]), 1.0, dev)
    assert torch.allclose(g_neg[0], torch.tensor(dev.g_min_us)) and torch.allclose(
        g_pos[1], torch.tensor(dev.g_min_us)
    )
    assert float(crossbar.conductance_to_weight(g_pos, g_neg, 1.0, dev)[0]) == pytest.approx(0.5, abs=0.006)


@pytest.mark.parametrize(
    ("binary", "multi", "levels", "base"),
    [(2, 1, 4, 0.0), (0, 2, 8, 0.0), (3, 1, 0, 0.0), (1, 2, 4, 2.0), (4, 0, 0, 0.0)],
)
def test_bit_sliced_mapping_reconstructs_within_half_an_lsb(
    binary: int, multi: int, levels: int, base: float
) -> None:
    dev = DEVICES["pcm"]
    cfg = AnalogConfig(
        device="pcm", binary_devices=binary, multilevel_devices=multi, slice_levels=levels, slice_base=base
    )
    w_max = 1.3
    w = (torch.rand(5000, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1) * w_max
    g = crossbar.weight_to_slices(w, w_max, dev, cfg)
    assert g.shape == (binary + multi, 2, 5000)
    lsb = crossbar.weight_step(w_max, dev, cfg)
    assert lsb == pytest.approx(w_max / crossbar.max_code(dev, cfg))
    back = crossbar.slices_to_weight(g, w_max, dev, cfg)
    # brute force: the nearest code of the K+1 a weight's magnitude can take, times the LSB
    nearest = torch.round(w.abs() / lsb).clamp(max=crossbar.max_code(dev, cfg)) * lsb * w.sign()
    assert (back - w).abs().max() <= lsb / 2 + 1e-9  # the rounding carries into the next slice
    assert torch.allclose(back, nearest, atol=1e-9)
    caps = crossbar.slice_caps(dev, cfg)  # every device sits on its own level grid
    for k, cap in enumerate(caps):
        level = (g[k] - dev.g_min_us) / (dev.g_max_us - dev.g_min_us) * cap
        assert torch.allclose(level, level.round(), atol=1e-6)
    assert crossbar.devices_per_weight(dev, cfg) == 2 * (binary + multi)


def test_a_rounding_carries_into_the_next_slice() -> None:
    # 16-level LSB slice under one binary slice: r = 15.6 LSB must become 16 (a carry), not 15
    dev = DEVICES["pcm"]
    cfg = AnalogConfig(device="pcm", binary_devices=1, multilevel_devices=1, slice_levels=16)
    k_max = crossbar.max_code(dev, cfg)
    assert k_max == 15 + 16
    g = crossbar.weight_to_slices(torch.tensor([15.6], dtype=torch.float64), k_max, dev, cfg)
    assert float(crossbar.slices_to_weight(g, k_max, dev, cfg)[0]) == pytest.approx(16.0)
    assert float(g[1, 0, 0]) == pytest.approx(dev.g_max_us) and float(g[0, 0, 0]) == pytest.approx(
        dev.g_min_us
    )


def test_positional_slicing_is_exact_mixed_radix() -> None:
    dev = DEVICES["pcm"]
    cfg = AnalogConfig(device="pcm", binary_devices=2, multilevel_devices=1, slice_levels=4)
    assert crossbar.slice_significance(dev, cfg) == [1.0, 4.0, 8.0]
    assert crossbar.max_code(dev, cfg) == 3 + 4 + 8
    k = torch.arange(0, 16, dtype=torch.float64)
    back = crossbar.slices_to_weight(crossbar.weight_to_slices(k, 15.0, dev, cfg), 15.0, dev, cfg)
    assert torch.allclose(back, k)


@pytest.mark.parametrize("x", [0.05, 0.3, 0.7, 1.0])
def test_pcm_programming_noise_matches_polynomial(x: float) -> None:
    dev, n = DEVICES["pcm"], 40000
    g = torch.full((n,), x * dev.g_max_us, dtype=torch.float64)
    prog = crossbar.program(g, dev, torch.Generator().manual_seed(0))
    c0, c1, c2 = PCM_PROG_POLY_US
    sigma = c0 + c1 * x + c2 * x * x
    if x * dev.g_max_us > 5 * sigma:  # clipping at 0 is negligible
        assert float(prog.std()) == pytest.approx(sigma, rel=4 / math.sqrt(2 * n))
        assert abs(float(prog.mean()) - x * dev.g_max_us) < 4 * sigma / math.sqrt(n)
    assert prog.min() >= 0


def test_relative_programming_noise_and_noise_free_devices() -> None:
    rram = DEVICES["rram"]
    g = torch.full((40000,), 20.0, dtype=torch.float64)
    std = float(crossbar.program(g, rram, torch.Generator().manual_seed(0)).std())
    assert std == pytest.approx(rram.prog_noise * rram.g_max_us, rel=4 / math.sqrt(80000))
    for name in ("stt_mram", "sram"):
        assert torch.equal(crossbar.program(g, DEVICES[name], torch.Generator()), g)


def test_stuck_at_faults_fraction_and_values() -> None:
    dev, n = DEVICES["rram"], 100000
    mask = crossbar.stuck_mask(torch.Size([n]), 0.02, 0.05, torch.Generator().manual_seed(3))
    for value, p in ((-1, 0.02), (1, 0.05)):
        frac = float((mask == value).double().mean())
        assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
    g = crossbar.apply_stuck(torch.full((n,), 10.0), mask, dev)
    assert torch.all(g[mask < 0] == dev.g_min_us) and torch.all(g[mask > 0] == dev.g_max_us)
    assert torch.all(g[mask == 0] == 10.0)


def test_ir_drop_closed_form_and_growth_with_rows() -> None:
    dev = DEVICES["pcm"]
    g = torch.full((1, 2, 256, 4), dev.g_max_us / 2)
    assert torch.equal(crossbar.ir_drop_factor(g, dev, 128, 0.0), torch.ones_like(g))
    losses = []
    for rows in (32, 64, 128, 256):
        f = crossbar.ir_drop_factor(g, dev, rows, 1e-5)
        expected = 1 - 1e-5 * 0.5 * (rows + 1) * (2 * rows + 1) / 6
        assert torch.allclose(f, torch.full_like(f, expected))
        losses.append(1 - expected)
    assert losses == sorted(losses) and losses[-1] > 3 * losses[1]


def test_tile_partial_sums_add_up_to_matmul() -> None:
    x, w = torch.randn(7, 300, dtype=torch.float64), torch.randn(300, 9, dtype=torch.float64)
    parts = tiling.tile_partial_sums(x, w, 64)
    assert [p.shape[0] for p in parts] == [4, 1]
    assert torch.allclose(sum(p.sum(0) for p in parts), x @ w)
    assert tiling.tile_row_sizes(300, 64) == [64, 64, 64, 64, 44]
    sums = tiling.tile_abs_sums(w, 64, 4)
    assert sums.shape == (5, 3) and torch.allclose(sums.sum(), w.abs().sum())
