"""The cost model's formulas pinned where ``make mutants`` found them unpinned (issue 16).

``breakdown.py`` is checked against an independent per-layer reference written from the closed forms of
``docs/cost_model.md`` ("Mapping and counts", "Energy", "Latency", "Area") with the cited table, on small
networks whose knobs all differ from their defaults (node, clock, sample rate, FoM, uses, slices,
transposed passes, measured reads), so a knob dropped or a factor swapped changes a number.
``periphery.py`` and ``model.py`` are checked by hand on one converter or one tile. All compare with
``==`` or a relative 1e-12 (1e-14 for the cell-read energy, whose constant is 1e12)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from models.config import AnalogConfig, CostConfig, InputEncoding, Mapping
from models.cost.breakdown import LayerCost, LayerReads, LayerShape, TileArea, layer_costs, tile_area
from models.cost.constants import const
from models.cost.model import hardware_cost, model_size_bits
from models.cost.periphery import (
    adc_area_mm2,
    adc_energy_pj,
    adc_latency_ns,
    dac_area_mm2,
    dac_energy_pj_per_row,
)
from models.physics.devices import DEVICES

PCM, RRAM, SRAM = DEVICES["pcm"], DEVICES["rram"], DEVICES["sram"]
REL = 1e-12
DRIVE_PJ = 4.0e-3 * 100e-9 / 1024 * 1e12  # ISAAC's 4 mW × 100 ns over 1024 DACs: 0.39 pJ per row drive


def _ceil(a: float, b: int) -> int:
    return math.ceil(a / b)


# ---------------------------------------------------------------- an independent reference (cost_model.md)


def _adc_pj(bits: int, node: float, fom: float, rate: float) -> float:
    """E_ADC(N, node, FoM, f_s) as written in docs/cost_model.md, "Energy per inference"."""
    n = min(bits, 10)
    e = n * const("adc_cmp_pj_per_bit") + 2**n * const("adc_cdac_pj_per_unit")
    e *= 4 ** max(0, bits - 10)
    e_ref8 = 8 * const("adc_cmp_pj_per_bit") + 256 * const("adc_cdac_pj_per_unit")
    fom_ref = e_ref8 * 1e3 / 256
    return e * (node / 32) ** 1.88 * (fom / fom_ref) * max(1.0, rate / 1.2)


def _adc_mm2(bits: int, node: float) -> float:
    n = min(bits, 10)
    um2 = (n * 81.7 + 2**n * const("adc_cdac_um2_per_unit")) * 2 ** max(0, bits - 10)
    return um2 * 1e-6 * (node / 32) ** 2


def _ref_tile(a: AnalogConfig, dev_analog: bool, cost: CostConfig, cell_f2: float) -> TileArea:
    """Area table of docs/cost_model.md, one tile."""
    tr, tc, node = a.rows, a.cols, cost.node_nm
    s = (node / 32) ** 2
    cells = 2 if dev_analog else 8
    array = tr * tc * cells * cell_f2 * (node * 1e-6) ** 2
    regs = (tr + tc) * cost.activation_bits / 8 * 1.05e-6 * s
    if not dev_analog:
        return TileArea(array, 0.0, regs + tc * 6e-5 * s, 0)
    adcs = _ceil(tc, cost.adc_column_sharing) if a.adc_bits is not None else 0
    adc = adcs * _adc_mm2(a.adc_bits, node) if a.adc_bits is not None else 0.0
    if a.dac_bits is None:
        dac = 0.0
    elif cost.input_encoding is InputEncoding.BIT_SERIAL:
        dac = 1.66e-7 * s
    else:
        dac = a.dac_bits * 1.66e-7 * s
    periphery = regs + tc * 3.9e-8 * s + adcs * 6e-5 * s + tr * dac
    return TileArea(array, adc, periphery, adcs)


def _ref_layers(
    a: AnalogConfig,
    dev: object,
    layers: list[LayerShape],
    g_frac: float,
    cost: CostConfig,
    transposed: bool = False,
    reads: list[LayerReads] | None = None,
) -> list[LayerCost]:
    """Per-layer counts and prices of docs/cost_model.md (forward; transposed: inputs drive the
    columns, the ADCs convert the rows)."""
    analog = dev.analog  # type: ignore[attr-defined]
    node, clock_ns = cost.node_nm, 1 / cost.clock_ghz
    dig = (node / 45) ** 2
    byte_pj = 10.0 / 8 * dig  # 10 pJ per 8 B access [H14]
    tile = _ref_tile(a, analog, cost, dev.cell_area_f2)  # type: ignore[attr-defined]
    area = tile.array_mm2 + tile.adc_mm2 + tile.periphery_mm2
    out = []
    for i, sh in enumerate(layers):
        R, C, U = sh.rows, sh.cols, sh.uses_per_inference
        buf = (R + C) * U * cost.activation_bits / 8 * byte_pj
        if not analog:
            n_r = _ceil(R, a.rows)
            tiles = n_r * _ceil(C, a.cols)
            tree = (math.ceil(math.log2(n_r)) + 1) * clock_ns
            out.append(
                LayerCost(
                    array_pj=R * C * 8 / 8 * byte_pj,
                    adc_pj=0.0,
                    dac_pj=0.0,
                    shift_add_pj=R * C * U * (0.2 + 0.1) * dig,
                    buffer_pj=buf,
                    latency_ns=U * (cost.activation_bits * clock_ns + tree),
                    tiles=tiles,
                    area_mm2=tiles * area,
                    conversions=0,
                    macs=R * C * U,
                )
            )
            continue
        S = a.slices
        c = 1 if a.dac_bits is None or cost.input_encoding is InputEncoding.MULTI_BIT else a.dac_bits
        tiles = _ceil(R, a.rows) * _ceil(C * S, a.cols)
        if transposed:  # C·S driven lines, R converted lines, tiles T_c × T_r seen from the inputs
            driven, converted, t_in, t_out, adds = C * S, R, a.cols, a.rows, 1
        else:
            driven, converted, t_in, t_out, adds = R, C * S, a.rows, a.cols, S
        n_in, n_out = _ceil(driven, t_in), _ceil(converted, t_out)
        if reads is None:
            span = dev.g_max_us - dev.g_min_us  # type: ignore[attr-defined]
            f = 1.0 if a.mapping is Mapping.DIFFERENTIAL else g_frac
            g_pair, duty = 2 * dev.g_min_us + f * span, cost.input_duty  # type: ignore[attr-defined]
        else:
            g_pair, duty = reads[i].g_pair_us, reads[i].input_duty
        e_cell = cost.v_read_v**2 * g_pair * cost.t_read_ns * 1e-3  # V² (V) · µS · ns = 1e-3 pJ
        conv = n_in * converted * U * c if a.adc_bits is not None else 0
        e_adc = (
            _adc_pj(a.adc_bits, node, cost.adc_fom_fj_per_step, cost.adc_sample_rate_gsps) if conv else 0.0
        )
        if a.dac_bits is None:
            e_row = 0.0
        elif cost.input_encoding is InputEncoding.MULTI_BIT:
            e_row = DRIVE_PJ
        else:
            e_row = a.dac_bits * DRIVE_PJ
        t_conv = (a.adc_bits + 1) / (9 * cost.adc_sample_rate_gsps) if a.adc_bits is not None else 0.0
        serial = min(cost.adc_column_sharing, converted, t_out) if a.adc_bits is not None else 0
        tree = (math.ceil(math.log2(n_in * adds * c)) + 1) * clock_ns
        out.append(
            LayerCost(
                array_pj=driven * converted * U * c * duty * e_cell,
                adc_pj=conv * e_adc,
                dac_pj=driven * n_out * U * e_row,
                shift_add_pj=n_in * converted * U * c * 0.1 * dig,
                buffer_pj=buf,
                latency_ns=U * (c * (cost.t_read_ns + serial * t_conv) + tree),
                tiles=tiles,
                area_mm2=tiles * area,
                conversions=conv,
                macs=R * C * U,
            )
        )
    return out


def _assert_same(got: LayerCost | TileArea, want: LayerCost | TileArea, rel: float = REL) -> None:
    for field in dataclasses.fields(want):
        g, w = getattr(got, field.name), getattr(want, field.name)
        tol = 1e-14 if field.name == "array_pj" else rel
        if isinstance(w, int):
            assert g == w, field.name
        else:
            assert g == pytest.approx(w, rel=tol, abs=0.0), field.name


# ---------------------------------------------------------------- the cases

GMIN_DEVICE = dataclasses.replace(PCM, g_min_us=1.5, g_max_us=21.0)  # g_min > 0 so that 2·g_min matters
KNOBS = CostConfig(
    node_nm=22.0,
    adc_column_sharing=3,
    adc_fom_fj_per_step=5.0,
    adc_sample_rate_gsps=2.0,
    v_read_v=0.3,
    t_read_ns=7.0,
    input_duty=0.4,
    activation_bits=5,
    clock_ghz=0.7,
)
NET = [LayerShape(37, 11, 5), LayerShape(9, 2, 3), LayerShape(20, 30, 1), LayerShape(5, 1, 2)]
SLICED = AnalogConfig(
    device="pcm", tile_rows=16, tile_cols=8, adc_bits=6, dac_bits=4, binary_devices=1, multilevel_devices=1
)
ANALOG_CASES = {
    "sliced": (SLICED, KNOBS),
    "multi_bit": (SLICED, dataclasses.replace(KNOBS, input_encoding=InputEncoding.MULTI_BIT, node_nm=45.0)),
    "ideal_converters": (dataclasses.replace(SLICED, adc_bits=None, dac_bits=None), KNOBS),
    "differential": (
        AnalogConfig(
            device="pcm", tile_rows=8, tile_cols=16, adc_bits=11, dac_bits=3, mapping=Mapping.DIFFERENTIAL
        ),
        dataclasses.replace(KNOBS, adc_column_sharing=32, node_nm=65.0, adc_sample_rate_gsps=0.8),
    ),
}


@pytest.mark.parametrize("case", sorted(ANALOG_CASES))
@pytest.mark.parametrize("transposed", [False, True])
def test_analog_layers_match_the_documented_closed_forms(case: str, transposed: bool) -> None:
    analog, cost = ANALOG_CASES[case]
    got = layer_costs(analog, GMIN_DEVICE, NET, 0.3, cost, transposed=transposed)
    want = _ref_layers(analog, GMIN_DEVICE, NET, 0.3, cost, transposed=transposed)
    assert len(got) == len(want) == len(NET)
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)


@pytest.mark.parametrize("transposed", [False, True])
def test_measured_reads_replace_the_nominal_duty_and_conductance(transposed: bool) -> None:
    reads = [LayerReads(0.2, 9.0), LayerReads(0.7, 3.5), LayerReads(0.05, 30.0), LayerReads(1.0, 0.5)]
    got = layer_costs(SLICED, GMIN_DEVICE, NET, 0.3, KNOBS, transposed=transposed, reads=reads)
    want = _ref_layers(SLICED, GMIN_DEVICE, NET, 0.3, KNOBS, transposed=transposed, reads=reads)
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)
    # by hand, layer 2 forward: 9 rows × (2 cols × 2 slices) × 3 uses × 4 bits × 0.7 × 0.09 V² · 3.5 µS · 7 ns
    if not transposed:
        assert got[1].array_pj == pytest.approx(9 * 4 * 3 * 4 * 0.7 * 0.09 * 3.5 * 7.0 * 1e-3, rel=1e-14)


def test_reads_for_the_wrong_number_of_layers_are_refused() -> None:
    with pytest.raises(ValueError) as err:
        layer_costs(SLICED, PCM, NET, 0.3, KNOBS, reads=[LayerReads(0.5, 10.0)])
    assert str(err.value) == "1 layer reads for 4 layers"


def test_the_digital_baseline_ignores_the_converters_and_slices_nothing() -> None:
    # dac_bits stays at its default (8) as a normalized SRAM point keeps it: it must not set the cycles
    analog = AnalogConfig(device="sram", tile_rows=16, tile_cols=8)
    cost = dataclasses.replace(KNOBS, activation_bits=3)
    got = layer_costs(analog, SRAM, NET, 0.3, cost)
    for g, w in zip(got, _ref_layers(analog, SRAM, NET, 0.3, cost), strict=True):
        _assert_same(g, w)
    _assert_same(tile_area(analog, SRAM, cost), _ref_tile(analog, False, cost, SRAM.cell_area_f2))


def test_a_digital_design_maps_one_column_per_weight_whatever_its_slice_knobs() -> None:
    # an un-normalized SRAM design may carry bit-slice knobs: a digital word is not sliced
    sliced = AnalogConfig(device="sram", tile_rows=16, tile_cols=8, binary_devices=2, multilevel_devices=1)
    (c,) = layer_costs(sliced, SRAM, [LayerShape(37, 11, 5)], 0.3, KNOBS)
    assert c.tiles == 3 * 2  # ⌈37/16⌉ · ⌈11/8⌉, not ⌈33/8⌉ column tiles


def test_one_sram_layer_by_hand() -> None:
    # 37 × 11 weights, 5 uses, 16 × 8 tiles (3 row tiles, 2 column tiles), node 22, clock 0.7 GHz, 3-bit steps
    analog = AnalogConfig(device="sram", tile_rows=16, tile_cols=8)
    cost = dataclasses.replace(KNOBS, activation_bits=3)
    (c,) = layer_costs(analog, SRAM, [LayerShape(37, 11, 5)], 0.3, cost)
    dig = (22 / 45) ** 2
    assert c.latency_ns == pytest.approx(5 * (3 + (2 + 1)) / 0.7, rel=REL)  # ⌈log2 3⌉ + 1 levels
    assert c.shift_add_pj == pytest.approx(37 * 11 * 5 * 0.3 * dig, rel=REL)
    assert c.array_pj == pytest.approx(37 * 11 * 1.25 * dig, rel=REL)
    assert (c.tiles, c.conversions, c.adc_pj, c.dac_pj) == (6, 0, 0.0, 0.0)


@pytest.mark.parametrize("case", sorted(ANALOG_CASES))
def test_one_tile_area_matches_the_documented_table(case: str) -> None:
    analog, cost = ANALOG_CASES[case]
    _assert_same(
        tile_area(analog, GMIN_DEVICE, cost), _ref_tile(analog, True, cost, GMIN_DEVICE.cell_area_f2)
    )


def test_one_sram_tile_by_hand() -> None:
    # 16 × 8 tile at 64 nm, 4-bit activations: (64/32)² = 4 on ISAAC's periphery
    t = tile_area(
        AnalogConfig(device="sram", tile_rows=16, tile_cols=8),
        SRAM,
        CostConfig(node_nm=64.0, activation_bits=4),
    )
    assert t.adc_mm2 == 0.0 and t.adcs == 0
    assert t.array_mm2 == pytest.approx(16 * 8 * 8 * 150 * 0.064e-3**2, rel=REL)
    assert t.periphery_mm2 == pytest.approx(24 * 0.5 * 1.05e-6 * 4 + 8 * 6e-5 * 4, rel=REL)


# ---------------------------------------------------------------- converters, by hand [ISAAC, ACC]


def test_the_converter_defaults_are_the_32nm_anchor() -> None:
    assert adc_energy_pj(8) == adc_energy_pj(8, 32.0)
    assert adc_area_mm2(8) == adc_area_mm2(8, 32.0)
    assert adc_area_mm2(8) == pytest.approx((8 * 81.7 + 256 * 2.134) * 1e-6, rel=REL)
    assert adc_latency_ns(8) == pytest.approx(1 / 1.2, rel=REL)  # 9 cycles in 1/f_s [ISAAC]
    assert adc_latency_ns(3, 2.0) == pytest.approx(4 / 18, rel=REL)


def test_adc_area_scales_with_the_node_squared_and_doubles_above_ten_bits() -> None:
    assert adc_area_mm2(8, 64.0) == pytest.approx(4 * (8 * 81.7 + 256 * 2.134) * 1e-6, rel=REL)
    assert adc_area_mm2(12, 32.0) == pytest.approx(4 * (10 * 81.7 + 1024 * 2.134) * 1e-6, rel=REL)


@pytest.mark.parametrize("fn", [adc_energy_pj, adc_area_mm2])
def test_an_adc_of_no_bits_is_refused_with_the_value(fn: object) -> None:
    with pytest.raises(ValueError) as err:
        fn(0)  # type: ignore[operator]
    assert str(err.value) == "ADC bits must be ≥ 1, got 0"


def test_ideal_inputs_have_no_dac() -> None:
    assert dac_energy_pj_per_row(None, KNOBS) == 0.0
    assert dac_area_mm2(None, KNOBS) == 0.0


def test_dac_area_per_row_by_hand() -> None:
    serial = CostConfig(node_nm=64.0)
    assert dac_area_mm2(6, serial) == pytest.approx(1.66e-7 * 4, rel=REL)  # one 1-bit DAC, (64/32)²
    multi = CostConfig(node_nm=45.0, input_encoding=InputEncoding.MULTI_BIT)
    assert dac_area_mm2(6, multi) == pytest.approx(6 * 1.66e-7 * (45 / 32) ** 2, rel=REL)


# ---------------------------------------------------------------- network totals, by hand

ONE_TILE = AnalogConfig(device="rram", tile_rows=16, tile_cols=16, adc_bits=5, dac_bits=2)


def test_model_size_counts_no_digital_state_unless_given() -> None:
    assert model_size_bits(ONE_TILE, RRAM, 10)[1] == 0.0


def test_measured_reads_reach_the_forward_and_the_transposed_pass() -> None:
    layers, reads = [LayerShape(16, 8, 2)], [LayerReads(0.25, 6.0)]
    c = hardware_cost(ONE_TILE, RRAM, layers, 0.0, 0.0, 0.9, cost=KNOBS, train_samples=1, reads=reads)
    fwd = _ref_layers(ONE_TILE, RRAM, layers, 0.9, KNOBS, reads=reads)[0]
    bwd = _ref_layers(ONE_TILE, RRAM, layers, 0.9, KNOBS, transposed=True, reads=reads)[0]
    cell_pj = 16 * 8 * 2 * 2 * 0.25 * 0.09 * 6.0 * 7.0 * 1e-3  # R·C·U·c × duty × V²·G·t
    assert c.energy_array_pj == pytest.approx(cell_pj, rel=1e-14)
    assert fwd.array_pj == pytest.approx(cell_pj, rel=1e-14) and bwd.array_pj == pytest.approx(
        cell_pj, rel=1e-14
    )
    assert c.energy_training_read_j == pytest.approx((fwd.energy_pj + bwd.energy_pj) * 1e-12, rel=REL)


def test_one_training_sample_is_charged_and_every_pulse_costs_the_device_write_energy() -> None:
    c = hardware_cost(
        ONE_TILE, PCM, [LayerShape(16, 8)], 3.0, 1.0, cost=KNOBS, train_samples=1, write_attempts_total=40.0
    )
    assert c.energy_training_write_j == pytest.approx(40 * 17.5e-12, rel=REL)  # PCM: 17.5 pJ per pulse
    assert c.energy_training_read_j > 0.0


def test_one_write_wears_the_device() -> None:
    c = hardware_cost(ONE_TILE, RRAM, [LayerShape(16, 8)], 1.0, 1.0)
    assert c.lifetime_fraction_used == 1 / 1e6 and c.trainings_until_wear_out == 1e6


def test_an_empty_batch_pipeline_takes_no_time() -> None:
    c = hardware_cost(ONE_TILE, RRAM, [], 0.0, 0.0, cost=CostConfig(inference_batch=3))
    assert c.latency_per_batch_ns == 0.0


def test_figures_of_merit_of_a_network_under_one_pj_and_one_ns() -> None:
    # one SRAM weight at 7 nm and 100 GHz, 1-bit steps: well under 1 pJ and 1 ns, neither is infinite
    cost = CostConfig(node_nm=7.0, clock_ghz=100.0, activation_bits=1)
    c = hardware_cost(AnalogConfig(device="sram", tile_size=8), SRAM, [LayerShape(1, 1)], 0.0, 0.0, cost=cost)
    assert 0.0 < c.energy_per_inference_pj < 1.0 and 0.0 < c.latency_per_batch_ns < 1.0
    assert c.latency_per_batch_ns == pytest.approx((1 + 1) / 100.0, rel=REL)  # 1 step + one adder level
    assert c.tops_per_w == pytest.approx(2.0 / c.energy_per_inference_pj, rel=REL)
    assert c.tops_per_mm2 == pytest.approx(2.0 / c.latency_per_batch_ns / 1e3 / c.area_mm2, rel=REL)
