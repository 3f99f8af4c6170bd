"""Sanity checks of the analytic cost model: cited anchors, monotone trends, units."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from models.config import AnalogConfig, InputEncoding, Mapping
from models.cost.model import (
    CONSTANTS,
    CostConfig,
    HardwareCost,
    LayerShape,
    adc_area_mm2,
    adc_energy_pj,
    adc_latency_ns,
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


# ---------------------------------------------------------------- converters [ISAAC, ACC]


@pytest.mark.parametrize("node_nm", [7.0, 22.0, 32.0, 45.0])
def test_adc_energy_and_area_rise_strictly_with_every_bit(node_nm: float) -> None:
    energies = [adc_energy_pj(b, node_nm) for b in range(1, 17)]
    areas = [adc_area_mm2(b, node_nm) for b in range(1, 17)]
    assert all(a < b for a, b in itertools.pairwise(energies))
    assert all(a < b for a, b in itertools.pairwise(areas))
    assert energies[15] == pytest.approx(energies[9] * 4.0**6)  # 4^N above 10 bits [ACC]


def test_adc_node_scaling_is_the_fitted_power_law() -> None:
    # (node/32)^1.88 [ACC]: 22 nm is (22/32)^1.88 = 0.49439 of 32 nm, at every resolution
    for bits in (2, 8, 12):
        assert adc_energy_pj(bits, 22.0) / adc_energy_pj(bits, 32.0) == pytest.approx(0.49439, rel=1e-4)


def test_adc_fom_and_sample_rate_knobs_scale_energy_and_time() -> None:
    base = CostConfig(node_nm=32.0)
    assert base.adc_fom_fj_per_step == pytest.approx(1.67e3 / 256, rel=0.005)  # ISAAC's 8-bit ADC
    assert adc_energy_pj(8, 32.0, base) == pytest.approx(adc_energy_pj(8, 32.0))
    doubled = CostConfig(node_nm=32.0, adc_fom_fj_per_step=2 * base.adc_fom_fj_per_step)
    assert adc_energy_pj(6, 32.0, doubled) == pytest.approx(2 * adc_energy_pj(6, 32.0, base))
    fast = CostConfig(node_nm=32.0, adc_sample_rate_gsps=2.4)
    slow = CostConfig(node_nm=32.0, adc_sample_rate_gsps=0.6)
    assert adc_energy_pj(8, 32.0, fast) == pytest.approx(2 * adc_energy_pj(8, 32.0, base))
    assert adc_energy_pj(8, 32.0, slow) == pytest.approx(adc_energy_pj(8, 32.0, base))
    assert adc_latency_ns(8, 1.2) == pytest.approx(1 / 1.2)  # the 8-bit anchor converts at 1.2 GS/s
    assert adc_latency_ns(4, 1.2) == pytest.approx(5 / 9 / 1.2)  # (N+1) SAR cycles [NS]


@pytest.mark.parametrize("device", [d for d in DEVICES if DEVICES[d].analog])
def test_network_energy_and_adc_area_rise_strictly_over_an_adc_bits_grid(device: str) -> None:
    costs = [cost_of(device, adc_bits=b) for b in (2, 4, 6, 8)]
    assert all(a.energy_per_inference_pj < b.energy_per_inference_pj for a, b in itertools.pairwise(costs))
    assert all(a.area_adc_mm2 < b.area_adc_mm2 for a, b in itertools.pairwise(costs))


def test_bit_serial_8_bit_input_costs_8_isaac_drives_per_row() -> None:
    # ISAAC: 1,024 1-bit DACs draw 4 mW at a 100 ns cycle → 0.390625 pJ per drive; 8 bits = 3.125 pJ
    drive_pj = 4e-3 * 100e-9 / 1024 * 1e12
    layer = [LayerShape(200, 100, 3)]  # one column tile, 3 input vectors
    for bits in (1, 4, 8):
        analog = AnalogConfig(tile_rows=256, tile_cols=256, dac_bits=bits)
        c = hardware_cost(analog, DEVICES["pcm"], layer, 0.0, 0.0)
        assert c.energy_dac_pj == pytest.approx(200 * 3 * bits * drive_pj)
    multi = CostConfig(input_encoding=InputEncoding.MULTI_BIT)
    c = hardware_cost(AnalogConfig(dac_bits=8), DEVICES["pcm"], layer, 0.0, 0.0, cost=multi)
    assert c.energy_dac_pj == pytest.approx(200 * 3 * drive_pj)  # one pulse-width drive per row


def test_bit_serial_latency_and_conversions_scale_with_input_bits() -> None:
    # one 128x128 tile, 8 columns per ADC: per input bit, a 10 ns read and 8 serial conversions
    # of (N+1)/(9·1.2 GS/s); the adder tree adds ceil(log2(bits)) + 1 clock cycles of 1 ns
    layer = [LayerShape(128, 128)]

    def run(bits: int) -> HardwareCost:
        analog = AnalogConfig(tile_rows=128, tile_cols=128, adc_bits=8, dac_bits=bits)
        return hardware_cost(analog, DEVICES["pcm"], layer, 0.0, 0.0)

    per_bit_ns = 10.0 + 8 * (9 / 9 / 1.2)
    for bits in (1, 2, 8):
        c = run(bits)
        assert c.latency_per_inference_ns == pytest.approx(bits * per_bit_ns + math.ceil(math.log2(bits)) + 1)
        assert c.adc_conversions_per_inference == 128 * bits


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
    # One read pulse per input with multi-bit inputs; bit-serial 8-bit inputs read 8 times.
    # Every row driven for the whole pulse (input_duty 1: every input at full scale).
    device = dataclasses.replace(DEVICES["pcm"], g_min_us=0.0, g_max_us=10.0)
    multi = CostConfig(input_encoding=InputEncoding.MULTI_BIT, input_duty=1.0)
    one = [LayerShape(1, 1)]
    full = hardware_cost(AnalogConfig(), device, one, 0.0, 0.0, mean_g_fraction=1.0, cost=multi)
    assert full.energy_array_pj == pytest.approx(0.025)
    half = hardware_cost(AnalogConfig(), device, one, 0.0, 0.0, mean_g_fraction=0.5, cost=multi)
    assert half.energy_array_pj == pytest.approx(0.0125)
    diff = AnalogConfig(mapping=Mapping.DIFFERENTIAL)
    assert hardware_cost(diff, device, one, 0.0, 0.0, mean_g_fraction=0.5, cost=multi).energy_array_pj == (
        pytest.approx(0.025)
    )
    full_scale = CostConfig(input_duty=1.0)
    serial = hardware_cost(
        AnalogConfig(dac_bits=8), device, one, 0.0, 0.0, mean_g_fraction=1.0, cost=full_scale
    )
    assert serial.energy_array_pj == pytest.approx(8 * 0.025)


def test_cell_reads_charge_only_driven_rows_brute_force_over_uniform_codes() -> None:
    # A row whose input bit is 0 is not driven: no voltage, no cell current [NS]. Enumerate every
    # 4-bit code on each of 3 rows (16³ input vectors) and sum V²·G·t over the (row, bit) pairs
    # whose bit is 1, for 2 columns at g_max = 10 µS (0.5 V, 10 ns: 25 fJ per cell per pulse).
    device = dataclasses.replace(DEVICES["pcm"], g_min_us=0.0, g_max_us=10.0)
    rows, cols, bits, cell_pj = 3, 2, 4, 0.025
    vectors = list(itertools.product(range(2**bits), repeat=rows))
    ones = sum(bin(code).count("1") for v in vectors for code in v)
    brute_serial_pj = ones * cols * cell_pj / len(vectors)
    layer = [LayerShape(rows, cols)]
    serial = hardware_cost(AnalogConfig(dac_bits=bits), device, layer, 0.0, 0.0, mean_g_fraction=1.0)
    assert serial.energy_array_pj == pytest.approx(brute_serial_pj, rel=1e-12)  # default duty ½
    # a pulse-width input of code x drives its row for x/(2^N − 1) of t_read
    widths = sum(code / (2**bits - 1) for v in vectors for code in v)
    brute_pulse_pj = widths * cols * cell_pj / len(vectors)
    multi = CostConfig(input_encoding=InputEncoding.MULTI_BIT)
    pulse = hardware_cost(
        AnalogConfig(dac_bits=bits), device, layer, 0.0, 0.0, mean_g_fraction=1.0, cost=multi
    )
    assert pulse.energy_array_pj == pytest.approx(brute_pulse_pj, rel=1e-12)
    # every bit set (full scale) costs twice that; no row driven costs no cell energy, but the
    # columns are still converted and the rows still clocked
    full = CostConfig(input_duty=1.0)
    assert hardware_cost(
        AnalogConfig(dac_bits=bits), device, layer, 0.0, 0.0, mean_g_fraction=1.0, cost=full
    ).energy_array_pj == pytest.approx(2 * brute_serial_pj, rel=1e-12)
    idle = hardware_cost(
        AnalogConfig(dac_bits=bits),
        device,
        layer,
        0.0,
        0.0,
        mean_g_fraction=1.0,
        cost=CostConfig(input_duty=0.0),
    )
    assert idle.energy_array_pj == 0.0
    assert idle.energy_adc_pj == serial.energy_adc_pj > 0 and idle.energy_dac_pj == serial.energy_dac_pj > 0


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


def test_model_size_counts_device_bits_digital_state_and_information() -> None:
    pcm = cost_of("pcm", digital_state_bits_per_weight=16.0)
    weights, levels = 268_336, DEVICES["pcm"].levels
    assert pcm.devices == 2 * weights
    assert pcm.model_size_digital_bits == 16 * weights
    assert pcm.model_size_device_bits == pytest.approx(weights * (2 * math.log2(levels) + 16))
    assert pcm.model_size_bits == pcm.model_size_device_bits  # kept for existing spaces
    # a sign pair of L-level devices holds 2L-1 values, however many devices store them
    assert pcm.model_size_info_bits == pytest.approx(weights * math.log2(2 * levels - 1))
    assert cost_of("sram").model_size_device_bits == 8 * weights
    assert cost_of("sram").model_size_info_bits == pytest.approx(weights * math.log2(255))


def test_bit_slices_multiply_devices_conversions_and_stored_bits() -> None:
    # HIC [HIC]: 2 binary pairs + 1 multi-level pair per weight, each slice in its own column
    layers = resnet20()
    plain = hardware_cost(AnalogConfig(), DEVICES["pcm"], layers, 1.0, 1.0)
    hic = hardware_cost(AnalogConfig(binary_devices=2), DEVICES["pcm"], layers, 1.0, 1.0)
    assert hic.devices == 3 * plain.devices
    assert hic.adc_conversions_per_inference == 3 * plain.adc_conversions_per_inference
    assert hic.macs_per_inference == plain.macs_per_inference
    assert hic.model_size_device_bits == pytest.approx(2 * 268_336 * (math.log2(100) + 2))
    # positional digits 99 + 100·1 + 200·1 = 399 LSBs each sign: 2·399 + 1 values
    assert hic.model_size_info_bits == pytest.approx(268_336 * math.log2(799))
    assert hic.tiles >= plain.tiles and hic.tops_per_w < plain.tops_per_w


# ---------------------------------------------------------------- published chips and units


def test_monotone_in_every_knob_energy_and_area_alike() -> None:
    # issue 16: ADC bits, DAC bits, tile size, width, node and ADC sharing, each alone
    def run(adc: int = 8, dac: int = 8, tile: int = 256, width: float = 1.0, **kw: float) -> HardwareCost:
        layers = [
            LayerShape(round(s.rows * width), round(s.cols * width), s.uses_per_inference) for s in resnet20()
        ]
        analog = AnalogConfig(tile_rows=tile, tile_cols=tile, adc_bits=adc, dac_bits=dac)
        return hardware_cost(analog, DEVICES["pcm"], layers, 1.0, 1.0, cost=CostConfig(**kw))  # type: ignore[arg-type]

    def rising(costs: list[HardwareCost], field: str, strict: bool = True) -> bool:
        values = [getattr(c, field) for c in costs]
        return all(a < b if strict else a <= b for a, b in itertools.pairwise(values))

    for knob in (
        [run(adc=b) for b in (2, 4, 6, 8, 10, 12)],
        [run(width=w) for w in (0.5, 1.0, 2.0, 4.0)],
        [run(node_nm=n) for n in (7.0, 14.0, 22.0, 32.0, 45.0)],
    ):
        assert rising(knob, "energy_per_inference_pj") and rising(knob, "area_mm2")
    dacs = [run(dac=b) for b in (1, 2, 4, 8)]  # bit-serial: one more drive, read and conversion per bit
    assert rising(dacs, "energy_per_inference_pj") and rising(dacs, "area_mm2", strict=False)
    multi = [run(dac=b, input_encoding=InputEncoding.MULTI_BIT) for b in (1, 2, 4, 8)]  # type: ignore[arg-type]
    assert rising(multi, "area_mm2") and rising(multi, "energy_per_inference_pj", strict=False)
    tiles = [run(tile=t) for t in (512, 256, 128, 64, 32)]  # smaller tiles: more conversions per MAC
    assert rising(tiles, "energy_per_inference_pj")
    # Area is not monotone in tile size for ResNet-20 (large tiles sit half empty on its small
    # layers), but for a layer the tiles cover exactly, smaller tiles mean more columns, hence ADCs.
    exact = [
        hardware_cost(
            AnalogConfig(tile_rows=t, tile_cols=t), DEVICES["pcm"], [LayerShape(512, 512)], 1.0, 1.0
        )
        for t in (512, 256, 128, 64, 32)
    ]
    assert rising(exact, "area_mm2") and rising(exact, "adcs") and rising(exact, "energy_per_inference_pj")
    sharing = [run(adc_column_sharing=k) for k in (32, 16, 8, 4, 1)]  # type: ignore[arg-type]
    assert rising(sharing, "area_mm2") and rising(sharing, "adcs")
    assert rising(sharing, "energy_per_inference_pj", strict=False)  # same conversions, fewer ADCs
    assert sharing[0].energy_per_inference_pj == sharing[-1].energy_per_inference_pj


def test_doubling_batch_doubles_batch_energy_not_inference_energy() -> None:
    one, two = (cost_of(cost=CostConfig(inference_batch=b)) for b in (4, 8))
    assert two.energy_per_batch_pj == pytest.approx(2 * one.energy_per_batch_pj)
    assert two.energy_per_inference_pj == pytest.approx(one.energy_per_inference_pj)
    assert one.latency_per_batch_ns < two.latency_per_batch_ns < 2 * one.latency_per_batch_ns


def test_one_tile_energy_and_area_match_a_hand_count() -> None:
    # One 128x64 layer on one 128x128 PCM tile at 32 nm, 8-bit bit-serial input, 8-bit ADC, 8 columns
    # per ADC, g_min 0, g_max 25 µS, mean |w|/w_max 0.5. Counted by hand, numbers from the sources:
    device = dataclasses.replace(DEVICES["pcm"], g_min_us=0.0, g_max_us=25.0)
    analog = AnalogConfig(tile_rows=128, tile_cols=128, adc_bits=8, dac_bits=8)
    c = hardware_cost(analog, device, [LayerShape(128, 64)], 0.0, 0.0, cost=CostConfig(node_nm=32.0))
    reads = 128 * 64 * 8 * 0.5  # cells × input bits × the half of the rows a bit drives
    assert c.energy_array_pj == pytest.approx(reads * 0.25 * 12.5e-6 * 10e-9 * 1e12)  # V²·G·t [NS]
    assert c.energy_dac_pj == pytest.approx(128 * 8 * 0.390625)  # [ISAAC]
    assert c.energy_adc_pj == pytest.approx(64 * 8 * 1.67, rel=0.005)  # 8-bit ISAAC ADC, 1.67 pJ
    assert c.energy_digital_pj == pytest.approx(64 * 8 * 0.1 * (32 / 45) ** 2)  # 32-bit add [H14]
    assert c.energy_buffer_pj == pytest.approx((128 + 64) * 10 / 8 * (32 / 45) ** 2)  # 8 kB SRAM [H14]
    assert c.adcs == 16 and c.area_adc_mm2 == pytest.approx(16 * 1200e-6, rel=0.005)  # 1200 µm² [ISAAC]
    f_mm = 32e-6
    assert c.area_array_mm2 == pytest.approx(128 * 128 * 2 * device.cell_area_f2 * f_mm**2)
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
