"""Hardware cost of a mapped network: a per-action energy table times action counts.

Pure functions, analytic and instant. Inputs are the analog configuration, the device
spec, the mapped layer shapes, the training's write counts and a :class:`CostConfig` of
cost-only knobs; the output is a frozen :class:`HardwareCost` with units in its field
names, one Parquet column per field. Every constant comes from
``models.cost.constants.CONSTANTS`` with its ``REFERENCES.md`` key. The formulas are
documented in ``docs/cost_model.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.config import AnalogConfig, CostConfig, Mapping
from models.cost.constants import CONSTANTS, Constant, const, constants_table
from models.cost.record import HardwareCost
from models.physics.crossbar import devices_per_weight, slice_caps
from models.physics.devices import DeviceSpec
from models.physics.tiling import tile_count

__all__ = [
    "CONSTANTS",
    "Constant",
    "CostConfig",
    "HardwareCost",
    "LayerShape",
    "adc_energy_pj",
    "adc_latency_ns",
    "constants_table",
    "hardware_cost",
]


def adc_energy_pj(
    bits: int, node_nm: float = 22.0, fom_fj_per_step: float | None = None, floor_pj: float | None = None
) -> float:
    """Energy of one conversion: max(E_floor, FoM·2^N), 4^N above ~10 bits, × (node/22)^1.88 [ACC]."""
    fom = (const("adc_fom_fj_per_step") if fom_fj_per_step is None else fom_fj_per_step) * 1e-3
    floor = const("adc_floor_pj") if floor_pj is None else floor_pj
    knee = int(const("adc_exp4_above_bits"))
    steps = 2.0**bits if bits <= knee else 2.0**knee * 4.0 ** (bits - knee)
    scale = (node_nm / const("adc_ref_node_nm")) ** const("adc_node_exponent")
    return max(floor, fom * steps) * scale


def adc_latency_ns(bits: int) -> float:
    """Time of one SAR conversion, (N+1) ns [NS]."""
    return (bits + 1) * const("adc_ns_per_bit")


@dataclass(frozen=True)
class LayerShape:
    """One mapped layer: its weight matrix and how many times it is applied per inference."""

    rows: int
    """Inputs (crossbar rows used)."""
    cols: int
    """Outputs (crossbar columns used)."""
    uses_per_inference: int = 1
    """Matrix-vector products per inference (1 for a dense layer; output pixels for a conv)."""


def _slices(analog: AnalogConfig, device: DeviceSpec) -> int:
    """Physical columns per weight column: one device pair per bit slice [HIC]; 1 for SRAM."""
    return analog.slices if device.analog else 1


def _cells_per_entry(device: DeviceSpec) -> int:
    """Cells at one crossbar (row, column) entry: a differential pair, or an SRAM word's bits."""
    return 2 if device.analog else devices_per_weight(device)


def _tiles(analog: AnalogConfig, device: DeviceSpec, layers: list[LayerShape]) -> int:
    """Tiles allocated: row tiles × column tiles, slices side by side in columns."""
    k = _slices(analog, device)
    return sum(tile_count(s.rows, analog.rows) * tile_count(s.cols * k, analog.cols) for s in layers)


def _entry_g_us(analog: AnalogConfig, device: DeviceSpec, g_frac: float) -> float:
    """Summed conductance of one device pair, µS, for a mean |w|/w_max of ``g_frac``.

    Sign pair: the device of the weight's sign sits at g_min + g_frac·span, its partner at
    g_min. Differential: g_mid ± w/2, so the pair always sums to g_min + g_max.
    """
    span = device.g_max_us - device.g_min_us
    if analog.mapping is Mapping.DIFFERENTIAL:
        return 2 * device.g_min_us + span
    return 2 * device.g_min_us + g_frac * span


@dataclass(frozen=True)
class _Pass:
    """Energy (pJ) and latency (ns) of one pass of every layer through the hardware."""

    array_pj: float
    adc_pj: float
    dac_pj: float
    digital_pj: float
    buffer_pj: float
    conversions: int
    layer_ns: tuple[float, ...]

    @property
    def energy_pj(self) -> float:
        return self.array_pj + self.adc_pj + self.dac_pj + self.digital_pj + self.buffer_pj


def _pass(
    analog: AnalogConfig,
    device: DeviceSpec,
    layers: list[LayerShape],
    g_frac: float,
    cost: CostConfig,
    transposed: bool = False,
) -> _Pass:
    """Count actions of one forward (or transposed backward) pass and price them.

    Each bit slice [HIC] is a device pair in its own column, converted and shift-added
    digitally, as in ISAAC's bit-sliced columns.
    """
    t_rows, t_cols = (analog.cols, analog.rows) if transposed else (analog.rows, analog.cols)
    digital = (cost.node_nm / const("digital_ref_node_nm")) ** const("digital_node_exponent")
    clock_ns = 1.0 / cost.clock_ghz
    byte_pj = const("sram_64b_access_pj") / 8.0 * digital
    adc_bits = analog.adc_bits if device.analog else None
    dac_bits = analog.dac_bits if device.analog else None
    e_adc = (
        adc_energy_pj(adc_bits, cost.node_nm, cost.adc_fom_fj_per_step, cost.adc_floor_pj)
        if adc_bits
        else 0.0
    )
    t_conv_ns = adc_latency_ns(adc_bits) if adc_bits else 0.0
    e_dac = const("dac_pj_per_drive_8b") * dac_bits / 8.0 if dac_bits else 0.0
    e_entry = cost.v_read_v**2 * _entry_g_us(analog, device, g_frac) * 1e-6 * cost.t_read_ns * 1e-9
    e_entry *= cost.input_duty * 1e12  # pJ per (row, column) entry read
    per_entry, k = _cells_per_entry(device), _slices(analog, device)
    array = adc = dac = dig = buf = 0.0
    conversions = 0
    layer_ns: list[float] = []
    for s in layers:
        uses = s.uses_per_inference
        buf += (s.rows + s.cols) * uses * cost.activation_bits / 8.0 * byte_pj
        rows, cols = (s.cols * k, s.rows) if transposed else (s.rows, s.cols * k)  # physical, slices in cols
        n_r, n_c = tile_count(rows, t_rows), tile_count(cols, t_cols)
        macs = rows * cols * uses
        partials = n_r * (1 if transposed else k)  # partial sums shift-added per output
        tree_ns = (math.ceil(math.log2(partials)) + 1) * clock_ns  # adder tree + buffer write (est.)
        if device.analog:
            array += macs * e_entry
            conversions += n_r * cols * uses if adc_bits else 0  # one per used column per row tile
            adc += n_r * cols * uses * e_adc
            dac += rows * n_c * uses * e_dac
            dig += n_r * cols * uses * const("int32_add_pj") * digital
            serial = min(cost.adc_column_sharing, cols, t_cols) if adc_bits else 0
            mvm_ns = cost.t_read_ns + serial * t_conv_ns + tree_ns  # pulse, conversions in series, sum
        else:  # digital SRAM: weights fetched once per inference (weight-stationary), int8 MACs [H14]
            array += rows * cols * per_entry / 8.0 * byte_pj
            dig += macs * (const("int8_mult_pj") + const("int32_add_pj")) * digital
            mvm_ns = cost.activation_bits * clock_ns + tree_ns  # bit-serial digital MVM (est.)
        layer_ns.append(uses * mvm_ns)
    return _Pass(array, adc, dac, dig, buf, conversions, tuple(layer_ns))


def _area_mm2(
    analog: AnalogConfig, device: DeviceSpec, tiles: int, cost: CostConfig
) -> tuple[float, float, float, int]:
    """(array, ADC, periphery) area in mm² and the ADC count of ``tiles`` allocated tiles."""
    f_mm = cost.node_nm * 1e-6
    array = tiles * analog.rows * analog.cols * _cells_per_entry(device) * device.cell_area_f2 * f_mm**2
    s = (cost.node_nm / const("periphery_ref_node_nm")) ** 2
    regs = tiles * (analog.rows + analog.cols) * cost.activation_bits / 8.0
    periphery = regs * const("register_area_mm2_per_byte") * s
    if not device.analog:  # one accumulator per column
        return array, 0.0, periphery + tiles * analog.cols * const("shift_add_area_mm2") * s, 0
    adcs = tiles * tile_count(analog.cols, cost.adc_column_sharing) if analog.adc_bits else 0
    adc = adcs * const("adc_area_mm2_8b") * 2.0 ** ((analog.adc_bits or 8) - 8) * s
    periphery += tiles * analog.cols * const("sample_hold_area_mm2") * s
    periphery += adcs * const("shift_add_area_mm2") * s
    if analog.dac_bits:
        periphery += tiles * analog.rows * analog.dac_bits * const("dac_area_mm2_per_bit") * s
    return array, adc, periphery, adcs


def hardware_cost(
    analog: AnalogConfig,
    device: DeviceSpec,
    layers: list[LayerShape],
    writes_max: float,
    writes_mean: float,
    mean_g_fraction: float = 0.5,
    *,
    cost: CostConfig = CostConfig(),
    writes_total: float | None = None,
    train_samples: int = 0,
    digital_state_bits_per_weight: float = 0.0,
) -> HardwareCost:
    """Energy, latency, area, model size and endurance of a network mapped on ``device``.

    Args:
        analog: tile size and converter resolutions (``adc_bits=None``: no ADC energy).
        device: the technology; ``device.analog`` is False for the SRAM digital baseline.
        layers: mapped weight matrices and their uses per inference.
        writes_max: programming pulses of the most-written device during training.
        writes_mean: pulses averaged over devices.
        mean_g_fraction: mean |w|/w_max, i.e. the mean conductance of the weight's
            device above g_min as a fraction of g_max − g_min (its partner sits at g_min
            under the sign-pair mapping); sets the cell read energy.
        cost: cost-only knobs (node, ADC sharing, read pulse, clock, batch size).
        writes_total: pulses summed over devices; defaults to writes_mean × devices.
        train_samples: examples passed forward and backward through the arrays during
            training (on-chip modes); 0 for off-chip modes, which only program.
        digital_state_bits_per_weight: persistent digital state per weight (update
            accumulator, χ, digital momentum) counted in the model size.
    """
    if not 0.0 <= mean_g_fraction <= 1.0:
        raise ValueError(f"mean_g_fraction must be in [0, 1], got {mean_g_fraction!r}")
    weights = sum(s.rows * s.cols for s in layers)
    macs = sum(s.rows * s.cols * s.uses_per_inference for s in layers)
    per_weight = devices_per_weight(device, analog)
    devices = weights * per_weight
    tiles = _tiles(analog, device, layers)
    fwd = _pass(analog, device, layers, mean_g_fraction, cost)
    energy = fwd.energy_pj
    latency = sum(fwd.layer_ns)
    latency_batch = latency + (cost.inference_batch - 1) * max(fwd.layer_ns, default=0.0)
    a_array, a_adc, a_periph, adcs = _area_mm2(analog, device, tiles, cost)
    area = a_array + a_adc + a_periph
    writes_sum = writes_mean * devices if writes_total is None else writes_total
    e_write_j = writes_sum * device.write_energy_pj * 1e-12
    if train_samples > 0:
        bwd = _pass(analog, device, layers, mean_g_fraction, cost, transposed=True)
        e_read_j = train_samples * (energy + bwd.energy_pj) * 1e-12
        t_read_s = train_samples * (latency + sum(bwd.layer_ns)) * 1e-9
    else:
        e_read_j = t_read_s = 0.0
    parallel_writes = max(
        tiles * analog.cols * _cells_per_entry(device), 1
    )  # one row at a time per tile (est.)
    t_prog_s = writes_sum / parallel_writes * device.write_latency_ns * 1e-9
    if device.analog:  # a pair per slice, each device log2(levels of its slice) bits
        device_bits = weights * 2 * sum(math.log2(cap + 1) for cap in slice_caps(device, analog))
    else:
        device_bits = float(weights * per_weight)  # one bit per SRAM cell
    digital_bits = weights * digital_state_bits_per_weight
    endurance = device.endurance_cycles
    wears = math.isfinite(endurance) and writes_max > 0
    return HardwareCost(
        energy_per_inference_pj=energy,
        energy_array_pj=fwd.array_pj,
        energy_adc_pj=fwd.adc_pj,
        energy_dac_pj=fwd.dac_pj,
        energy_digital_pj=fwd.digital_pj,
        energy_buffer_pj=fwd.buffer_pj,
        energy_per_batch_pj=energy * cost.inference_batch,
        macs_per_inference=macs,
        adc_conversions_per_inference=fwd.conversions,
        tops_per_w=2.0 * macs / energy if energy > 0 else math.inf,  # ops/pJ = TOPS/W
        tops_per_mm2=2.0 * macs * cost.inference_batch / latency_batch / 1e3 / area
        if latency_batch > 0
        else math.inf,
        latency_per_inference_ns=latency,
        latency_per_batch_ns=latency_batch,
        area_mm2=area,
        area_array_mm2=a_array,
        area_adc_mm2=a_adc,
        area_periphery_mm2=a_periph,
        adcs=adcs,
        model_size_bits=device_bits + digital_bits,
        model_size_device_bits=device_bits,
        model_size_digital_bits=digital_bits,
        weights=weights,
        devices=devices,
        tiles=tiles,
        energy_training_j=e_read_j + e_write_j,
        energy_training_read_j=e_read_j,
        energy_training_write_j=e_write_j,
        latency_training_s=t_read_s + t_prog_s,
        writes_total=writes_sum,
        max_writes_per_device=writes_max,
        mean_writes_per_device=writes_mean,
        endurance_cycles=endurance,
        lifetime_fraction_used=writes_max / endurance if wears else 0.0,
        trainings_until_wear_out=endurance / writes_max if wears else math.inf,
    )
