"""How ``hardware_cost`` totals a network: writes and write pulses, training time and energy, wear, batch
pipelining, unit conversions and the parts that must add up (counted by hand on one RRAM tile; found
unpinned by ``make mutants``)."""

from __future__ import annotations

import math

import pytest

from models.config import AnalogConfig, CostConfig
from models.cost.breakdown import layer_costs
from models.cost.model import LayerShape, hardware_cost
from models.physics.devices import DEVICES

RRAM = DEVICES["rram"]
TILE = AnalogConfig(device="rram", tile_rows=128, tile_cols=128)
LAYER = [LayerShape(128, 64)]  # one tile; 128 × 64 weights, a device pair each: 16 384 devices


def test_write_totals_default_to_the_mean_times_the_devices() -> None:
    c = hardware_cost(TILE, RRAM, LAYER, writes_max=10.0, writes_mean=4.0)
    assert (c.weights, c.devices, c.tiles) == (8192, 16384, 1)
    assert c.writes_total == 4.0 * 16384 == c.write_attempts_total
    assert c.max_write_attempts_per_device == 10.0 and c.mean_write_attempts_per_device == 4.0
    assert c.energy_training_write_j == pytest.approx(65536 * RRAM.write_energy_pj * 1e-12)
    # programming row-serially, one tile's 128 columns × 2 cells at a time
    assert c.latency_training_s == pytest.approx(65536 / 256 * RRAM.write_latency_ns * 1e-9)
    assert c.energy_training_read_j == 0.0 and c.energy_training_j == c.energy_training_write_j


def test_write_pulses_set_energy_and_time_while_switches_set_wear() -> None:
    c = hardware_cost(
        TILE, RRAM, LAYER, 10.0, 4.0, writes_total=5e4, write_attempts_total=1e5, write_attempts_max=50.0
    )
    assert c.writes_total == 5e4 and c.write_attempts_total == 1e5
    assert c.max_writes_per_device == 10.0 and c.max_write_attempts_per_device == 50.0
    assert c.mean_write_attempts_per_device == pytest.approx(1e5 / 16384)
    assert c.energy_training_write_j == pytest.approx(1e5 * RRAM.write_energy_pj * 1e-12)
    assert c.latency_training_s == pytest.approx(1e5 / 256 * RRAM.write_latency_ns * 1e-9)
    assert c.lifetime_fraction_used == pytest.approx(10.0 / RRAM.endurance_cycles)
    assert c.trainings_until_wear_out == pytest.approx(RRAM.endurance_cycles / 10.0)
    given_total = hardware_cost(TILE, RRAM, LAYER, 10.0, 4.0, writes_total=1000.0)
    assert given_total.writes_total == 1000.0 == given_total.write_attempts_total


def test_a_network_never_written_does_not_wear() -> None:
    c = hardware_cost(TILE, RRAM, LAYER, 0.0, 0.0)
    assert c.lifetime_fraction_used == 0.0 and math.isinf(c.trainings_until_wear_out)
    assert c.energy_training_j == 0.0 and c.latency_training_s == 0.0


def test_on_chip_training_reads_forward_and_transposed_per_sample() -> None:
    fwd = layer_costs(TILE, RRAM, LAYER, 0.5, CostConfig())
    bwd = layer_costs(TILE, RRAM, LAYER, 0.5, CostConfig(), transposed=True)
    c = hardware_cost(TILE, RRAM, LAYER, 0.0, 0.0, train_samples=1000)
    e_pj = sum(x.energy_pj for x in fwd) + sum(x.energy_pj for x in bwd)
    t_ns = sum(x.latency_ns for x in fwd) + sum(x.latency_ns for x in bwd)
    assert c.energy_training_read_j == pytest.approx(1000 * e_pj * 1e-12)
    assert c.latency_training_s == pytest.approx(1000 * t_ns * 1e-9)
    assert c.energy_training_j == c.energy_training_read_j


def test_a_batch_pipelines_behind_the_slowest_layer() -> None:
    layers = [LayerShape(128, 64), LayerShape(64, 10, uses_per_inference=16)]
    per_layer = [x.latency_ns for x in layer_costs(TILE, RRAM, layers, 0.5, CostConfig())]
    assert per_layer[0] != per_layer[1]
    c = hardware_cost(TILE, RRAM, layers, 0.0, 0.0, cost=CostConfig(inference_batch=5))
    assert c.latency_per_inference_ns == pytest.approx(sum(per_layer))
    assert c.latency_per_batch_ns == pytest.approx(sum(per_layer) + 4 * max(per_layer))
    assert c.energy_per_batch_pj == pytest.approx(5 * c.energy_per_inference_pj)


def test_throughput_units_and_the_parts_that_add_up() -> None:
    """TOPS/W is ops per pJ (2 ops a MAC); TOPS/mm² is ops per ns / 1e3 over the area."""
    c = hardware_cost(TILE, RRAM, LAYER, 0.0, 0.0, cost=CostConfig(inference_batch=3))
    assert c.macs_per_inference == 8192
    assert c.tops_per_w * c.energy_per_inference_pj == pytest.approx(2 * 8192)
    assert c.tops_per_mm2 * c.area_mm2 * c.latency_per_batch_ns * 1e3 == pytest.approx(2 * 8192 * 3)
    parts = c.energy_array_pj + c.energy_adc_pj + c.energy_dac_pj + c.energy_digital_pj + c.energy_buffer_pj
    assert parts == pytest.approx(c.energy_per_inference_pj)
    assert c.area_array_mm2 + c.area_adc_mm2 + c.area_periphery_mm2 == pytest.approx(c.area_mm2)
    two = hardware_cost(TILE, RRAM, [LayerShape(128, 64), LayerShape(128, 64)], 0.0, 0.0)
    assert two.tiles == 2 and two.adcs == 2 * c.adcs and two.area_adc_mm2 == pytest.approx(2 * c.area_adc_mm2)
    assert two.area_array_mm2 == pytest.approx(2 * c.area_array_mm2)
    assert two.area_periphery_mm2 == pytest.approx(2 * c.area_periphery_mm2)


def test_an_empty_network_costs_nothing_and_does_not_divide_by_zero() -> None:
    c = hardware_cost(TILE, RRAM, [], 0.0, 0.0)
    assert (c.weights, c.devices, c.tiles, c.area_mm2, c.energy_per_inference_pj) == (0, 0, 0, 0.0, 0.0)
    assert c.mean_write_attempts_per_device == 0.0 and c.latency_per_batch_ns == 0.0
    assert math.isinf(c.tops_per_w) and math.isinf(c.tops_per_mm2)


@pytest.mark.parametrize("g", [-0.01, 1.01, math.nan])
def test_a_mean_conductance_outside_zero_to_one_is_refused(g: float) -> None:
    with pytest.raises(ValueError) as err:
        hardware_cost(TILE, RRAM, LAYER, 0.0, 0.0, g)
    assert str(err.value) == f"mean_g_fraction must be in [0, 1], got {g!r}"


def test_the_ends_of_the_conductance_range_are_allowed() -> None:
    low, high = (hardware_cost(TILE, RRAM, LAYER, 0.0, 0.0, g) for g in (0.0, 1.0))
    assert low.energy_array_pj < high.energy_array_pj
