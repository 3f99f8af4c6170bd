"""Per-layer cost: action counts of one pass of each mapped layer, priced by component.

The breakdown NeuroSim reports [NS]: for every layer, energy by component (array read, ADC,
DAC, shift-add accumulation, activation buffer), latency, tiles and area. :mod:`models.cost.model`
sums these into the network's :class:`~models.cost.record.HardwareCost`; ``dse cost`` prints them.
Every price comes from :mod:`models.cost.periphery` or :data:`~models.cost.constants.CONSTANTS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.config import AnalogConfig, CostConfig, Mapping
from models.cost.constants import const
from models.cost.periphery import (
    adc_area_mm2,
    adc_energy_pj,
    adc_latency_ns,
    dac_area_mm2,
    dac_energy_pj_per_row,
    input_cycles,
)
from models.physics.crossbar import devices_per_weight
from models.physics.devices import DeviceSpec
from models.physics.tiling import tile_count

__all__ = [
    "LayerCost",
    "LayerReads",
    "LayerShape",
    "TileArea",
    "cells_per_entry",
    "layer_costs",
    "slices",
    "tile_area",
]


@dataclass(frozen=True)
class LayerShape:
    """One mapped layer: its weight matrix and how many times it is applied per inference."""

    rows: int
    """Inputs (crossbar rows used)."""
    cols: int
    """Outputs (crossbar columns used)."""
    uses_per_inference: int = 1
    """Matrix-vector products per inference (1 for a dense layer; output pixels for a conv)."""


@dataclass(frozen=True)
class LayerReads:
    """What one layer's cell reads were measured to be on the evaluated chip (``dse/engine/trial.py``)."""

    input_duty: float
    """Fraction of (row, read pulse) pairs that were driven: the 1-bit density of the DAC codes the
    layer converted (bit-serial) or their mean over full scale (pulse-width) [NS]."""
    g_pair_us: float
    """Mean conductance of the devices at one (row, physical column) entry, summed over the pair
    (µS): the evaluated chip's devices over the layer's weights × slices."""


@dataclass(frozen=True)
class LayerCost:
    """One pass of one layer: energy by component (pJ), latency (ns), tiles and area (mm²)."""

    array_pj: float
    adc_pj: float
    dac_pj: float
    shift_add_pj: float
    buffer_pj: float
    latency_ns: float
    tiles: int
    area_mm2: float
    conversions: int
    macs: int

    @property
    def energy_pj(self) -> float:
        """Sum of the five energy components."""
        return self.array_pj + self.adc_pj + self.dac_pj + self.shift_add_pj + self.buffer_pj


@dataclass(frozen=True)
class TileArea:
    """Area of one tile (mm²) by part, and its ADC count."""

    array_mm2: float
    adc_mm2: float
    periphery_mm2: float
    adcs: int

    @property
    def total_mm2(self) -> float:
        return self.array_mm2 + self.adc_mm2 + self.periphery_mm2


def slices(analog: AnalogConfig, device: DeviceSpec) -> int:
    """Physical columns per weight column: one device pair per bit slice [HIC]; 1 for SRAM."""
    return analog.slices if device.analog else 1


def cells_per_entry(device: DeviceSpec) -> int:
    """Cells at one crossbar (row, column) entry: a differential pair, or an SRAM word's bits."""
    return 2 if device.analog else devices_per_weight(device)


def tile_area(analog: AnalogConfig, device: DeviceSpec, cost: CostConfig) -> TileArea:
    """Area of one allocated tile: cells (F² of the device [X, NS]), ADCs, and ISAAC's periphery
    at 32 nm scaled (node/32)² (est.): DACs, sample-and-hold, shift-add, I/O registers [ISAAC]."""
    f_mm = cost.node_nm * 1e-6
    t_r, t_c = analog.rows, analog.cols
    array = t_r * t_c * cells_per_entry(device) * device.cell_area_f2 * f_mm**2
    s = (cost.node_nm / const("periphery_ref_node_nm")) ** 2
    regs = (t_r + t_c) * cost.activation_bits / 8.0 * const("register_area_mm2_per_byte") * s
    if not device.analog:  # one accumulator per column
        return TileArea(array, 0.0, regs + t_c * const("shift_add_area_mm2") * s, 0)
    adcs = tile_count(t_c, cost.adc_column_sharing) if analog.adc_bits else 0
    adc = adcs * adc_area_mm2(analog.adc_bits, cost.node_nm) if analog.adc_bits else 0.0
    periphery = regs + t_c * const("sample_hold_area_mm2") * s + adcs * const("shift_add_area_mm2") * s
    periphery += t_r * dac_area_mm2(analog.dac_bits, cost)
    return TileArea(array, adc, periphery, adcs)


def _entry_g_us(analog: AnalogConfig, device: DeviceSpec, g_frac: float) -> float:
    """Summed conductance of one device pair (µS) for a mean |w|/w_max of ``g_frac``: sign pair,
    g_min + g_frac·span and g_min; differential, g_mid ± w/2, summing to g_min + g_max."""
    span = device.g_max_us - device.g_min_us
    if analog.mapping is Mapping.DIFFERENTIAL:
        return 2 * device.g_min_us + span
    return 2 * device.g_min_us + g_frac * span


def layer_costs(
    analog: AnalogConfig,
    device: DeviceSpec,
    layers: list[LayerShape],
    g_frac: float,
    cost: CostConfig,
    transposed: bool = False,
    reads: Sequence[LayerReads] | None = None,
) -> list[LayerCost]:
    """Count the actions of one forward (or transposed backward) pass per layer and price them.

    Analog: each bit slice [HIC] is a device pair in its own column, converted and shift-added
    digitally as in ISAAC. Per input vector a row tile's rows are driven ``c`` times (``c`` =
    input bits when bit-serial [ISAAC], 1 for multi-bit inputs); a drive reads the cells of the rows
    it drives, a fraction ``input_duty`` of them (a row whose input bit is 0 carries no current
    [NS]), and every used column of every row tile is converted once per drive. ``reads`` (one
    per layer), when given, replace the nominal duty and conductance (``cost.input_duty``,
    ``g_frac``) by each layer's measured ones; the transposed pass charges them too (est.: its
    ∂y codes are not counted).
    SRAM: weights fetched once per pass, int8 MACs [H14].
    """
    if reads is not None and len(reads) != len(layers):
        raise ValueError(f"{len(reads)} layer reads for {len(layers)} layers")
    t_rows, t_cols = (analog.cols, analog.rows) if transposed else (analog.rows, analog.cols)
    digital = (cost.node_nm / const("digital_ref_node_nm")) ** const("digital_node_exponent")
    clock_ns = 1.0 / cost.clock_ghz
    byte_pj = const("sram_64b_access_pj") / 8.0 * digital
    adc_bits = analog.adc_bits if device.analog else None
    dac_bits = analog.dac_bits if device.analog else None
    cycles = input_cycles(dac_bits, cost)
    e_adc = adc_energy_pj(adc_bits, cost.node_nm, cost) if adc_bits else 0.0
    t_conv_ns = adc_latency_ns(adc_bits, cost.adc_sample_rate_gsps) if adc_bits else 0.0
    e_row = dac_energy_pj_per_row(dac_bits, cost)
    e_volt_pj = cost.v_read_v**2 * 1e-6 * cost.t_read_ns * 1e-9 * 1e12  # V²·t, pJ per µS [NS]
    k = slices(analog, device)
    area = tile_area(analog, device, cost).total_mm2
    out: list[LayerCost] = []
    for i, s in enumerate(layers):
        uses = s.uses_per_inference
        # pJ per (row, column) entry per read pulse: driven rows only [NS]
        if reads is None:
            e_entry = e_volt_pj * _entry_g_us(analog, device, g_frac) * cost.input_duty
        else:
            e_entry = e_volt_pj * reads[i].g_pair_us * reads[i].input_duty
        buf = (s.rows + s.cols) * uses * cost.activation_bits / 8.0 * byte_pj
        rows, cols = (s.cols * k, s.rows) if transposed else (s.rows, s.cols * k)  # slices in columns
        n_r, n_c = tile_count(rows, t_rows), tile_count(cols, t_cols)
        tiles = tile_count(s.rows, analog.rows) * tile_count(s.cols * k, analog.cols)
        partials = n_r * (1 if transposed else k) * cycles  # partial sums shift-added per output
        tree_ns = (math.ceil(math.log2(partials)) + 1) * clock_ns  # adder tree + buffer write (est.)
        if device.analog:
            conversions = n_r * cols * uses * cycles if adc_bits else 0
            serial = min(cost.adc_column_sharing, cols, t_cols) if adc_bits else 0
            mvm_ns = cycles * (cost.t_read_ns + serial * t_conv_ns) + tree_ns
            out.append(
                LayerCost(
                    array_pj=rows * cols * uses * cycles * e_entry,
                    adc_pj=conversions * e_adc,
                    dac_pj=rows * n_c * uses * e_row,
                    shift_add_pj=n_r * cols * uses * cycles * const("int32_add_pj") * digital,
                    buffer_pj=buf,
                    latency_ns=uses * mvm_ns,
                    tiles=tiles,
                    area_mm2=tiles * area,
                    conversions=conversions,
                    macs=s.rows * s.cols * uses,
                )
            )
        else:
            macs = rows * cols * uses
            out.append(
                LayerCost(
                    array_pj=rows * cols * cells_per_entry(device) / 8.0 * byte_pj,
                    adc_pj=0.0,
                    dac_pj=0.0,
                    shift_add_pj=macs * (const("int8_mult_pj") + const("int32_add_pj")) * digital,
                    buffer_pj=buf,
                    latency_ns=uses * (cost.activation_bits * clock_ns + tree_ns),  # bit-serial MVM (est.)
                    tiles=tiles,
                    area_mm2=tiles * area,
                    conversions=0,
                    macs=macs,
                )
            )
    return out
