"""Hardware cost of a mapped network: a per-action energy table times action counts.

Pure functions. Inputs are the analog configuration, the device spec, the mapped layer
shapes and the write counts of training; the output is a frozen :class:`HardwareCost`
with units in its field names. Every constant sits in :data:`CONSTANTS` with its
source key from ``REFERENCES.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.config import AnalogConfig
from models.crossbar import devices_per_weight, tile_count
from models.devices import DeviceSpec


@dataclass(frozen=True)
class Constant:
    """A cited cost-model constant."""

    value: float
    unit: str
    source: str


CONSTANTS: dict[str, Constant] = {
    "v_read": Constant(0.5, "V", "[NS] read voltage 0.5 V"),
    "t_read_ns": Constant(10.0, "ns", "[NS] read pulse 10 ns"),
    "adc_fom_fj_per_step": Constant(3.3, "fJ/step", "[ACC] FoM_W 1–5 fJ/step at 22 nm; 3.3 puts 8 b at 0.85 pJ"),
    "adc_floor_pj": Constant(0.46, "pJ", "[ACC] E_floor 0.1–0.5 pJ at 22 nm; 0.46 pJ is the fitted 4-bit figure"),
    "adc_node_exponent": Constant(1.88, "", "[ACC] energy scales as (node/22 nm)^1.88"),
    "adc_ref_node_nm": Constant(22.0, "nm", "[ACC] reference node of the fit"),
    "dac_pj_per_drive_8b": Constant(0.4, "pJ", "[REF: ISAAC] ~0.4 pJ per bit-line drive, multi-bit DAC"),
    "int_add_pj_45nm": Constant(0.1, "pJ", "[H14] 32-bit integer add at 45 nm"),
    "int8_mult_pj_45nm": Constant(0.2, "pJ", "[H14] 8-bit integer multiply at 45 nm"),
    "sram_64b_access_pj_45nm": Constant(10.0, "pJ", "[H14] 64-bit access to an 8 kB SRAM at 45 nm"),
}


def adc_energy_pj(bits: int, node_nm: float = 22.0) -> float:
    """Energy of one conversion: max(E_floor, FoM·2^N), 4^N above 10 bits, node-scaled [ACC]."""
    fom = CONSTANTS["adc_fom_fj_per_step"].value * 1e-3
    steps = 2.0**bits if bits <= 10 else 2.0**10 * 4.0 ** (bits - 10)
    energy = max(CONSTANTS["adc_floor_pj"].value, fom * steps)
    scale = (node_nm / CONSTANTS["adc_ref_node_nm"].value) ** CONSTANTS["adc_node_exponent"].value
    return energy * scale


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
class HardwareCost:
    """Cost figures of one design point."""

    energy_per_inference_pj: float
    energy_array_pj: float
    energy_adc_pj: float
    energy_dac_pj: float
    energy_digital_pj: float
    macs_per_inference: int
    tops_per_w: float
    model_size_bits: float
    devices: int
    tiles: int
    energy_training_j: float
    max_writes_per_device: float
    mean_writes_per_device: float
    endurance_cycles: float
    lifetime_fraction_used: float
    trainings_until_wear_out: float


def hardware_cost(
    analog: AnalogConfig,
    device: DeviceSpec,
    layers: list[LayerShape],
    writes_max: float,
    writes_mean: float,
    mean_g_fraction: float = 0.5,
    node_nm: float = 22.0,
) -> HardwareCost:
    """Energy per inference, model size and endurance of a network mapped on ``device``.

    Array read: cells × V²·G·t with G the mean programmed conductance [NS]. ADC: one
    conversion per column per row tile. DAC: one drive per row per column tile, scaled
    with bits relative to 8 (est.). Digital: the adds that sum row-tile partial sums
    [H14]. The SRAM baseline is digital: int8 multiply + add per MAC and one weight read.
    """
    c = {k: v.value for k, v in CONSTANTS.items()}
    macs = sum(s.rows * s.cols * s.uses_per_inference for s in layers)
    n_weights = sum(s.rows * s.cols for s in layers)
    per_weight = devices_per_weight(device)
    devices = n_weights * per_weight
    tiles = sum(tile_count(s.rows, analog.tile_rows) * tile_count(s.cols, analog.tile_cols) for s in layers)
    node = (node_nm / 45.0) ** 2  # dynamic energy ~ C·V², scaled quadratically with node from 45 nm (est.)
    if device.analog:
        g_mean_s = (device.g_min_us + mean_g_fraction * (device.g_max_us - device.g_min_us)) * 1e-6
        e_cell_pj = c["v_read"] ** 2 * g_mean_s * c["t_read_ns"] * 1e-9 * 1e12
        e_array = sum(2 * s.rows * s.cols * s.uses_per_inference for s in layers) * e_cell_pj
        conversions = sum(tile_count(s.rows, analog.tile_rows) * s.cols * s.uses_per_inference for s in layers)
        e_adc = conversions * (adc_energy_pj(analog.adc_bits, node_nm) if analog.adc_bits else 0.0)
        drives = sum(s.rows * tile_count(s.cols, analog.tile_cols) * s.uses_per_inference for s in layers)
        e_dac = drives * c["dac_pj_per_drive_8b"] * ((analog.dac_bits or 8) / 8.0)
        adds = sum((tile_count(s.rows, analog.tile_rows) - 1) * s.cols * s.uses_per_inference for s in layers)
        e_digital = adds * c["int_add_pj_45nm"] * node
    else:
        e_array = n_weights * c["sram_64b_access_pj_45nm"] / 8.0 * node
        e_adc = e_dac = 0.0
        e_digital = macs * (c["int8_mult_pj_45nm"] + c["int_add_pj_45nm"]) * node
    energy = e_array + e_adc + e_dac + e_digital
    endurance = device.endurance_cycles
    lifetime = writes_max / endurance if math.isfinite(endurance) else 0.0
    return HardwareCost(
        energy_per_inference_pj=energy,
        energy_array_pj=e_array,
        energy_adc_pj=e_adc,
        energy_dac_pj=e_dac,
        energy_digital_pj=e_digital,
        macs_per_inference=macs,
        tops_per_w=(2 * macs / (energy * 1e-12)) / 1e12 if energy > 0 else math.inf,
        model_size_bits=devices * device.bits_per_cell / (1 if device.analog else per_weight),
        devices=devices,
        tiles=tiles,
        energy_training_j=writes_mean * devices * device.write_energy_pj * 1e-12,
        max_writes_per_device=writes_max,
        mean_writes_per_device=writes_mean,
        endurance_cycles=endurance,
        lifetime_fraction_used=lifetime,
        trainings_until_wear_out=endurance / writes_max if writes_max > 0 else math.inf,
    )
