"""Sanity checks of the analytic cost model: cited anchors, monotone trends, units."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from models.config import AnalogConfig, Mapping
from models.cost.model import (
    CONSTANTS,
    CostConfig,
    HardwareCost,
    LayerShape,
    adc_energy_pj,
    constants_table,
    hardware_cost,
)
from models.physics.devices import DEVICES


def resnet20() -> list[LayerShape]:
    """CIFAR ResNet-20 (option-A shortcuts, no shortcut weights): 19 3×3 convs + a 64→10 dense layer."""
    layers = [LayerShape(3 * 9, 16, 32 * 32)]
    layers += [LayerShape(16 * 9, 16, 32 * 32)] * 6
    layers += [LayerShape(16 * 9, 32, 16 * 16)] + [LayerShape(32 * 9, 32, 16 * 16)] * 5
    layers += [LayerShape(32 * 9, 64, 8 * 8)] + [LayerShape(64 * 9, 64, 8 * 8)] * 5
    return [*layers, LayerShape(64, 10, 1)]


def cost_of(device: str = "pcm", tile: int = 256, adc_bits: int | None = 8, **kwargs: object) -> HardwareCost:
    analog = AnalogConfig(device=device, tile_rows=tile, tile_cols=tile, adc_bits=adc_bits)
    writes = kwargs.pop("writes", 1.0)
    return hardware_cost(analog, DEVICES[device], resnet20(), writes, writes, **kwargs)  # type: ignore[arg-type]


def test_resnet20_shapes_match_the_published_network() -> None:
    layers = resnet20()
    assert sum(s.rows * s.cols for s in layers) == 268_336  # ~0.27 M weights
    assert 40e6 < sum(s.rows * s.cols * s.uses_per_inference for s in layers) < 42e6  # ~41 M MACs


# ---------------------------------------------------------------- ADC anchors [ACC]


@pytest.mark.parametrize(("bits", "node_nm", "expected_pj"), [(4, 22, 0.46), (8, 22, 0.85), (8, 32, 1.71)])
def test_adc_energy_matches_fitted_anchors(bits: int, node_nm: float, expected_pj: float) -> None:
    assert adc_energy_pj(bits, node_nm) == pytest.approx(expected_pj, rel=0.05)


def test_adc_energy_between_4_and_8_bits_spans_the_fitted_range() -> None:
    for bits in range(4, 9):
        assert 0.46 * 0.95 <= adc_energy_pj(bits) <= 0.85 * 1.05
    assert adc_energy_pj(8, 32) == pytest.approx(1.67, rel=0.05)  # ISAAC's 8-bit ADC at 32 nm


def test_adc_energy_10_bits_within_the_fom_spread() -> None:
    # FoM_W 1–5 fJ/step at 22 nm [ACC]: 1.0–5.1 pJ at 10 bits; the fitted point is 1.64 pJ.
    assert 1.0 <= adc_energy_pj(10) <= 5.12


@pytest.mark.parametrize("node_nm", [7.0, 22.0, 32.0, 45.0])
def test_adc_energy_never_falls_with_bits(node_nm: float) -> None:
    energies = [adc_energy_pj(b, node_nm) for b in range(1, 17)]
    assert all(a <= b for a, b in itertools.pairwise(energies))
    assert energies[-1] > 1000 * energies[9]  # 4^N above 10 bits: 16 b is 4^6 × the 10-bit energy


def test_more_adc_bits_never_lower_network_energy() -> None:
    energies = [cost_of(adc_bits=b).energy_per_inference_pj for b in range(1, 17)]
    assert all(a <= b for a, b in itertools.pairwise(energies))
    assert energies[-1] > energies[0]


def test_adc_off_costs_no_adc_energy_area_or_time() -> None:
    off, on = cost_of(adc_bits=None), cost_of(adc_bits=8)
    assert off.energy_adc_pj == 0.0 and off.adcs == 0 and off.area_adc_mm2 == 0.0
    assert off.adc_conversions_per_inference == 0
    assert off.latency_per_inference_ns < on.latency_per_inference_ns
    assert on.energy_adc_pj == pytest.approx(on.adc_conversions_per_inference * adc_energy_pj(8))


# ---------------------------------------------------------------- trends


def test_larger_tiles_lower_adc_conversions_per_mac() -> None:
    per_mac = [
        cost_of(tile=t).adc_conversions_per_inference / cost_of(tile=t).macs_per_inference
        for t in (32, 64, 128, 256, 512)
    ]
    assert all(a >= b for a, b in itertools.pairwise(per_mac))
    assert per_mac[-1] < per_mac[0] / 4


def test_column_sharing_trades_adc_area_for_latency_at_equal_energy() -> None:
    few, many = (cost_of(cost=CostConfig(adc_column_sharing=k)) for k in (1, 16))
    assert many.adcs < few.adcs and many.area_adc_mm2 < few.area_adc_mm2
    assert many.latency_per_inference_ns > few.latency_per_inference_ns
    assert many.energy_per_inference_pj == pytest.approx(few.energy_per_inference_pj)


def test_smaller_node_lowers_energy_and_area() -> None:
    small, large = (cost_of(cost=CostConfig(node_nm=n)) for n in (14.0, 45.0))
    assert small.energy_per_inference_pj < large.energy_per_inference_pj
    assert small.area_mm2 < large.area_mm2


def test_cell_read_energy_is_v2_g_t() -> None:
    # 0.5 V, 10 µS, 10 ns → 25 fJ per cell [NS]. Sign pair: one device at g_min + f·span, its
    # partner at g_min (here 0); differential: g_mid ± w/2, summing to g_max + g_min.
    device = dataclasses.replace(DEVICES["pcm"], g_min_us=0.0, g_max_us=10.0)
    full = hardware_cost(AnalogConfig(), device, [LayerShape(1, 1)], 0.0, 0.0, mean_g_fraction=1.0)
    assert full.energy_array_pj == pytest.approx(0.025)
    half = hardware_cost(AnalogConfig(), device, [LayerShape(1, 1)], 0.0, 0.0, mean_g_fraction=0.5)
    assert half.energy_array_pj == pytest.approx(0.0125)
    diff = AnalogConfig(mapping=Mapping.DIFFERENTIAL)
    assert hardware_cost(diff, device, [LayerShape(1, 1)], 0.0, 0.0, mean_g_fraction=0.5).energy_array_pj == (
        pytest.approx(0.025)
    )


# ---------------------------------------------------------------- endurance and training


def test_sram_baseline_has_no_writes_limited_wear() -> None:
    c = cost_of("sram", writes=1e9)
    assert c.lifetime_fraction_used == 0.0 and math.isinf(c.trainings_until_wear_out)
    assert c.energy_adc_pj == 0.0 and c.energy_dac_pj == 0.0


def test_pcm_wear_is_writes_over_endurance() -> None:
    c = cost_of("pcm", writes=1e6)
    assert c.lifetime_fraction_used == pytest.approx(1e6 / DEVICES["pcm"].endurance_cycles)
    assert c.trainings_until_wear_out == pytest.approx(DEVICES["pcm"].endurance_cycles / 1e6)


def test_training_energy_counts_writes_and_on_chip_passes() -> None:
    offchip = cost_of("rram", writes=3.0)
    assert offchip.energy_training_read_j == 0.0
    assert offchip.energy_training_write_j == pytest.approx(
        3.0 * offchip.devices * DEVICES["rram"].write_energy_pj * 1e-12
    )
    one, two = (cost_of("rram", writes=3.0, train_samples=n) for n in (1000, 2000))
    assert two.energy_training_read_j == pytest.approx(2 * one.energy_training_read_j)
    # forward + transposed backward: about twice the inference energy per sample
    assert 1.5 < one.energy_training_read_j / (1000 * one.energy_per_inference_pj * 1e-12) < 3.0
    assert two.latency_training_s > one.latency_training_s > offchip.latency_training_s > 0


def test_model_size_counts_device_bits_and_digital_state() -> None:
    pcm = cost_of("pcm", digital_state_bits_per_weight=16.0)
    weights = 268_336
    assert pcm.devices == 2 * weights
    assert pcm.model_size_device_bits == pytest.approx(2 * weights * math.log2(DEVICES["pcm"].levels))
    assert pcm.model_size_digital_bits == 16 * weights
    assert pcm.model_size_bits == pcm.model_size_device_bits + pcm.model_size_digital_bits
    assert cost_of("sram").model_size_bits == 8 * weights


def test_bit_slices_multiply_devices_conversions_and_stored_bits() -> None:
    # HIC [HIC]: 2 binary pairs + 1 multi-level pair per weight, each slice in its own column
    layers = resnet20()
    plain = hardware_cost(AnalogConfig(), DEVICES["pcm"], layers, 1.0, 1.0)
    hic = hardware_cost(AnalogConfig(binary_devices=2), DEVICES["pcm"], layers, 1.0, 1.0)
    assert hic.devices == 3 * plain.devices
    assert hic.adc_conversions_per_inference == 3 * plain.adc_conversions_per_inference
    assert hic.macs_per_inference == plain.macs_per_inference
    assert hic.model_size_device_bits == pytest.approx(2 * 268_336 * (math.log2(100) + 2))
    assert hic.tiles >= plain.tiles and hic.tops_per_w < plain.tops_per_w


# ---------------------------------------------------------------- published chips and units


def test_pcm_resnet20_tops_per_w_within_an_order_of_magnitude_of_published_chips() -> None:
    # HERMES 2.48–9.76 TOPS/W [LG23]; NeuroSim VGG-8 RRAM 22 nm 11.25–19.88 TOPS/W [NS]
    c = cost_of("pcm", tile=256, adc_bits=8)
    assert 2.48 / 10 <= c.tops_per_w <= 19.88 * 10
    assert c.tops_per_w == pytest.approx(2 * c.macs_per_inference / c.energy_per_inference_pj)


def test_doubling_batch_doubles_batch_energy_not_inference_energy() -> None:
    one, two = (cost_of(cost=CostConfig(inference_batch=b)) for b in (4, 8))
    assert two.energy_per_batch_pj == pytest.approx(2 * one.energy_per_batch_pj)
    assert two.energy_per_inference_pj == pytest.approx(one.energy_per_inference_pj)
    assert one.latency_per_batch_ns < two.latency_per_batch_ns < 2 * one.latency_per_batch_ns


def test_energy_parts_sum_and_every_figure_is_a_finite_or_inf_number() -> None:
    c = cost_of()
    parts = c.energy_array_pj + c.energy_adc_pj + c.energy_dac_pj + c.energy_digital_pj + c.energy_buffer_pj
    assert c.energy_per_inference_pj == pytest.approx(parts)
    assert c.area_mm2 == pytest.approx(c.area_array_mm2 + c.area_adc_mm2 + c.area_periphery_mm2)
    row = c.as_row()
    assert list(row) == [f.name for f in dataclasses.fields(HardwareCost)]
    assert all(isinstance(v, int | float) and not math.isnan(v) and v >= 0 for v in row.values())


def test_constants_table_rows_are_cited() -> None:
    rows = constants_table()
    assert [r[0] for r in rows] == list(CONSTANTS)
    for name, value, unit, source in rows:
        assert math.isfinite(value) and isinstance(unit, str), name
        assert source.startswith("[") or "(est.)" in source, name


def test_cost_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="inference_batch"):
        CostConfig(inference_batch=0)
    with pytest.raises(ValueError, match="input_duty"):
        CostConfig(input_duty=1.5)
