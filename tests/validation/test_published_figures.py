"""Our figures against published ones, within the tolerances docs/validation.md claims.

Each test reproduces one entry of docs/validation.md: the published figure (a literal here, with
its source key), ours for the same configuration, and the tolerance we claim. Where we disagree
with a source the tolerance is the disagreement band we report, so a change that moves the
figure outside it fails.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.config import AnalogConfig, CostConfig, InputEncoding, NetworkConfig
from models.cost.model import LayerShape, adc_area_mm2, adc_energy_pj, hardware_cost
from models.nn.networks import build_network, layer_shapes
from models.physics import crossbar, drift
from models.physics.devices import DEVICES

# ---------------------------------------------------------------- ADC [ISAAC, ACC]

ADC_TABLE = {  # bits: (pJ per conversion, µm²) at 32 nm, 1.2 GS/s [ISAAC, ACC]
    4: (0.79, 361),
    5: (0.99, 477),
    6: (1.20, 627),
    7: (1.42, 845),
    8: (1.67, 1200),
    9: (1.97, 1828),
    10: (2.38, 3002),
}


@pytest.mark.parametrize("bits", sorted(ADC_TABLE))
def test_adc_matches_the_isaac_table_scaled_by_resolution(bits: int) -> None:
    energy_pj, area_um2 = ADC_TABLE[bits]
    assert adc_energy_pj(bits, 32.0) == pytest.approx(energy_pj, rel=0.10)  # claimed: 10 % (measured < 0.5 %)
    assert adc_area_mm2(bits, 32.0) * 1e6 == pytest.approx(area_um2, rel=0.10)
    assert adc_energy_pj(bits, 32.0) == pytest.approx(energy_pj, rel=0.005)
    assert adc_area_mm2(bits, 32.0) * 1e6 == pytest.approx(area_um2, rel=0.005)


# ---------------------------------------------------------------- DAC [ISAAC]


def test_isaac_dac_is_4_mw_per_1024_drivers_at_100_ns_per_1_bit_drive() -> None:
    published_pj = 4e-3 / 1024 * 100e-9 * 1e12  # 0.390625 pJ per 1-bit drive of one row
    one_row = [LayerShape(1, 1)]
    c = hardware_cost(AnalogConfig(dac_bits=1), DEVICES["pcm"], one_row, 0.0, 0.0)
    assert c.energy_dac_pj == pytest.approx(published_pj, rel=1e-6)
    c8 = hardware_cost(AnalogConfig(dac_bits=8), DEVICES["pcm"], one_row, 0.0, 0.0)
    assert c8.energy_dac_pj == pytest.approx(3.125, rel=1e-6)  # 8 drives ≈ 3.1 pJ per row


# ---------------------------------------------------------------- digital [H14]


def test_sram_baseline_prices_horowitz_45_nm_energies() -> None:
    # 45 nm: 8-bit multiply 0.2 pJ + 32-bit add 0.1 pJ per MAC; 64-bit read of an 8 kB SRAM 10 pJ
    layer = [LayerShape(64, 32, 5)]
    c = hardware_cost(
        AnalogConfig(device="sram"), DEVICES["sram"], layer, 0.0, 0.0, cost=CostConfig(node_nm=45.0)
    )
    assert c.energy_digital_pj == pytest.approx(64 * 32 * 5 * (0.2 + 0.1))
    assert c.energy_array_pj == pytest.approx(64 * 32 * 10.0 / 8)  # 8-bit weights fetched once, 10 pJ per 8 B
    assert c.energy_buffer_pj == pytest.approx((64 + 32) * 5 * 10.0 / 8)


# ---------------------------------------------------------------- PCM device equations [A]


@pytest.mark.parametrize(("x", "sigma_us"), [(0.5, 0.952705), (0.1, 0.448249)])
def test_pcm_programming_noise_is_aihwkit_polynomial(x: float, sigma_us: float) -> None:
    pcm = DEVICES["pcm"]  # σ = 0.26348 + 1.9650·x − 1.1731·x² µS, x = g/g_max (g_max 25 µS)
    g = torch.tensor([x * pcm.g_max_us], dtype=torch.float64)
    assert float(crossbar.programming_noise_std(g, pcm)[0]) == pytest.approx(sigma_us, rel=1e-6)


@pytest.mark.parametrize(
    ("x", "mu", "sigma"), [(0.5, 0.049, 0.008), (0.01, 0.0957801, 0.045), (0.9, 0.049, 0.008)]
)
def test_pcm_drift_exponent_statistics_are_aihwkit_clipped_fits(x: float, mu: float, sigma: float) -> None:
    # μ = clip(−0.0155·ln x + 0.0244, 0.049, 0.1), σ = clip(−0.0125·ln x − 0.0059, 0.008, 0.045)
    m, s = drift.pcm_nu_stats(torch.tensor([x], dtype=torch.float64), 1.0)
    assert float(m[0]) == pytest.approx(mu, rel=1e-5) and float(s[0]) == pytest.approx(sigma, rel=1e-5)


def test_pcm_drift_and_read_noise_after_one_day() -> None:
    pcm = DEVICES["pcm"]
    g = torch.tensor([0.5 * pcm.g_max_us], dtype=torch.float64)
    # σ/g = min(0.0088/x^0.65, 0.2)·√ln((t + t0 + t_r)/(2 t_r)), t_r = 250 ns, t0 = 20 s
    assert float(drift.pcm_read_noise_rel(g, 86400.0, pcm)[0]) == pytest.approx(0.0702421, rel=1e-5)
    # g(t)/g0 = ((t + t0)/t0)^−ν: ν = 0.05 over one day is 4321^−0.05 = 0.6580
    factor = drift.drift_factor(86400.0, torch.tensor([0.05]), 20.0)
    assert float(factor[0]) == pytest.approx(math.exp(-0.05 * math.log(86420 / 20)), rel=1e-6)
    assert float(factor[0]) == pytest.approx(0.6580, abs=1e-4)


# ---------------------------------------------------------------- chips and macros


def test_hermes_core_efficiency_is_optimistic_by_the_band_we_report() -> None:
    # [LG23] HERMES: 256×256 PCM cores, 8-bit pulse-width inputs and 8-bit outputs, 14 nm,
    # 2.48–9.76 TOPS/W measured. Ours: one fully used core, one MVM, mean |w|/w_max 0.25, rows
    # driven half the time (input_duty ½, uniform input codes).
    pcm = DEVICES["pcm"]
    analog = AnalogConfig(device="pcm", tile_size=256, adc_bits=8, dac_bits=8)
    cost = CostConfig(node_nm=14.0, input_encoding=InputEncoding.MULTI_BIT)
    ours = hardware_cost(analog, pcm, [LayerShape(256, 256)], 0.0, 0.0, 0.25, cost=cost).tops_per_w
    ratio = ours / 9.76
    assert 14.0 <= ratio <= 20.0  # we leave out control, clocking, leakage, routing and the CCO-ADC's cost
    # with ISAAC-style bit-serial inputs the same core is still 2.2× the measured peak
    serial = hardware_cost(analog, pcm, [LayerShape(256, 256)], 0.0, 0.0, 0.25, cost=CostConfig(node_nm=14.0))
    assert 2.0 <= serial.tops_per_w / 9.76 <= 2.5


def _vgg8() -> list[LayerShape]:
    net = build_network(
        NetworkConfig(model="vgg8", in_features=3072, in_shape=(3, 32, 32)), AnalogConfig(tile_size=128)
    )
    return layer_shapes(net, torch.zeros(2, 3, 32, 32))


def test_vgg8_is_neurosims_reference_network() -> None:
    shapes = _vgg8()
    assert [(s.rows, s.cols) for s in shapes] == [
        (27, 128), (1152, 128), (1152, 256), (2304, 256), (2304, 512), (4608, 512), (8192, 1024), (1024, 10)
    ]  # fmt: skip
    assert sum(s.rows * s.cols for s in shapes) == 12_973_440
    assert sum(s.rows * s.cols * s.uses_per_inference for s in shapes) == 615_917_568


def test_neurosim_vgg8_rram_efficiency_is_pessimistic_by_the_band_we_report() -> None:
    # [NS] V1.4: VGG-8 on CIFAR-10, 22 nm RRAM, 128×128, 4-bit ADC, 8-bit bit-serial inputs:
    # 11.25–19.88 TOPS/W. Ours at mean |w|/w_max 0.25, half the rows driven per input bit.
    rram = DEVICES["rram"]
    analog = AnalogConfig(device="rram", tile_size=128, adc_bits=4, dac_bits=8)
    c = hardware_cost(analog, rram, _vgg8(), 0.0, 0.0, 0.25, cost=CostConfig(node_nm=22.0))
    assert 0.7 <= c.tops_per_w / 11.25 <= 0.9
    assert c.energy_array_pj / c.energy_per_inference_pj > 0.7  # the cell reads dominate
    # every input bit at 1 (full scale, the old default) is 0.45 of the low end
    full = hardware_cost(analog, rram, _vgg8(), 0.0, 0.0, 0.25, cost=CostConfig(node_nm=22.0, input_duty=1.0))
    assert 0.35 <= full.tops_per_w / 11.25 <= 0.55
    # ReLU activations are sparser than uniform codes; at a quarter of the bits driven we agree
    sparse = CostConfig(node_nm=22.0, input_duty=0.25)
    c = hardware_cost(analog, rram, _vgg8(), 0.0, 0.0, 0.25, cost=sparse)
    assert 11.25 * 0.9 <= c.tops_per_w <= 19.88 * 1.1


def test_array_read_energy_scales_with_conductance_alone() -> None:
    # the array read is V²·G·t [NS]: halving g_max halves it, nothing else moves
    rram = DEVICES["rram"]
    half = dataclasses.replace(rram, g_max_us=rram.g_max_us / 2, g_min_us=rram.g_min_us / 2)
    analog = AnalogConfig(device="rram", tile_size=128, adc_bits=4, dac_bits=8)
    a, b = (hardware_cost(analog, d, [LayerShape(128, 128)], 0.0, 0.0, 0.25) for d in (rram, half))
    assert b.energy_array_pj == pytest.approx(a.energy_array_pj / 2)
    assert b.energy_adc_pj == a.energy_adc_pj and b.energy_dac_pj == a.energy_dac_pj
