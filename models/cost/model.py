"""Hardware cost of a mapped network: a per-action energy table times action counts.

Pure functions, analytic and instant. Inputs are the analog configuration, the device
spec, the mapped layer shapes, the training's write counts and a :class:`CostConfig` of
cost-only knobs; the output is a frozen :class:`HardwareCost` with units in its field
names, one Parquet column per field. Every constant comes from
``models.cost.constants.CONSTANTS`` with its ``docs/references.md`` key. The formulas are
documented in ``docs/cost_model.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.config import AnalogConfig, CostConfig
from models.cost.breakdown import LayerCost, LayerReads, LayerShape, cells_per_entry, layer_costs, tile_area
from models.cost.constants import CONSTANTS, Constant, constants_table
from models.cost.periphery import adc_area_mm2, adc_energy_pj, adc_latency_ns
from models.cost.record import HardwareCost
from models.physics.crossbar import devices_per_weight, slice_caps, weight_levels
from models.physics.devices import DeviceSpec

__all__ = [
    "CONSTANTS",
    "Constant",
    "CostConfig",
    "HardwareCost",
    "LayerCost",
    "LayerReads",
    "LayerShape",
    "adc_area_mm2",
    "adc_energy_pj",
    "adc_latency_ns",
    "constants_table",
    "hardware_cost",
    "layer_costs",
    "model_size_bits",
]


def model_size_bits(
    analog: AnalogConfig, device: DeviceSpec, weights: int, digital_state_bits_per_weight: float = 0.0
) -> tuple[float, float, float]:
    """(device, digital, information) bits of a network of ``weights`` weights.

    Device bits are physical storage: every device × log2 of its levels (1 per SRAM cell), plus
    the digital state really kept beside the array (``digital_state_bits_per_weight``).
    Information bits are log2 of the distinct values one weight can take × weights: a sign pair
    of L-level devices holds 2L−1 values, not L² (``models.physics.crossbar.weight_levels``).
    """
    if device.analog:
        per_weight = 2 * sum(math.log2(cap + 1) for cap in slice_caps(device, analog))
    else:
        per_weight = float(devices_per_weight(device, analog))
    digital = weights * digital_state_bits_per_weight
    info = weights * math.log2(weight_levels(device, analog))
    return weights * per_weight + digital, digital, info


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
    write_attempts_total: float | None = None,
    write_attempts_max: float | None = None,
    reads: Sequence[LayerReads] | None = None,
) -> HardwareCost:
    """Energy, latency, area, model size and endurance of a network mapped on ``device``.

    Args:
        analog: tile size and converter resolutions (``adc_bits=None``: no ADC energy).
        device: the technology; ``device.analog`` is False for the SRAM digital baseline.
        layers: mapped weight matrices and their uses per inference.
        writes_max: state changes (switches; they wear the device) of the most-written device.
        writes_mean: state changes averaged over devices.
        mean_g_fraction: nominal mean over device pairs (weight × slice) of the pair's
            conductance above 2·g_min as a fraction of g_max − g_min (without slicing: mean
            |w|/w_max, the partner sitting at g_min); sets the cell read energy when ``reads``
            is None (published-figure checks, the pre-check's bounds).
        cost: cost-only knobs (node, ADC sharing, read pulse, clock, batch size).
        writes_total: state changes summed over devices; defaults to writes_mean × devices.
        train_samples: examples passed forward and backward through the arrays during
            training (on-chip modes); 0 for off-chip modes, which only program.
        digital_state_bits_per_weight: persistent digital state per weight (update
            accumulator, χ, digital momentum) counted in the model size.
        write_attempts_total: write pulses summed over devices, switching or not (they set
            write energy and programming time); defaults to ``writes_total``.
        write_attempts_max: write pulses of the most-pulsed device; defaults to ``writes_max``.
        reads: per layer, the input duty and device-pair conductance measured on the evaluated
            chip (:class:`LayerReads`); they replace ``mean_g_fraction`` and ``cost.input_duty``.
    """
    if not 0.0 <= mean_g_fraction <= 1.0:
        raise ValueError(f"mean_g_fraction must be in [0, 1], got {mean_g_fraction!r}")
    weights = sum(s.rows * s.cols for s in layers)
    devices = weights * devices_per_weight(device, analog)
    fwd = layer_costs(analog, device, layers, mean_g_fraction, cost, reads=reads)
    macs = sum(c.macs for c in fwd)
    tiles = sum(c.tiles for c in fwd)
    energy = sum(c.energy_pj for c in fwd)
    latency = sum(c.latency_ns for c in fwd)
    latency_batch = latency + (cost.inference_batch - 1) * max((c.latency_ns for c in fwd), default=0.0)
    per_tile = tile_area(analog, device, cost)
    area = tiles * per_tile.total_mm2
    writes_sum = writes_mean * devices if writes_total is None else writes_total
    attempts_sum = writes_sum if write_attempts_total is None else write_attempts_total
    e_write_j = attempts_sum * device.write_energy_pj * 1e-12  # every pulse costs, switching or not
    if train_samples > 0:
        bwd = layer_costs(analog, device, layers, mean_g_fraction, cost, transposed=True, reads=reads)
        e_read_j = train_samples * (energy + sum(c.energy_pj for c in bwd)) * 1e-12
        t_read_s = train_samples * (latency + sum(c.latency_ns for c in bwd)) * 1e-9
    else:
        e_read_j = t_read_s = 0.0
    parallel_writes = max(tiles * analog.cols * cells_per_entry(device), 1)  # row-serial (est.)
    t_prog_s = attempts_sum / parallel_writes * device.write_latency_ns * 1e-9
    size_device, size_digital, size_info = model_size_bits(
        analog, device, weights, digital_state_bits_per_weight
    )
    endurance = device.endurance_cycles
    wears = math.isfinite(endurance) and writes_max > 0
    return HardwareCost(
        energy_per_inference_pj=energy,
        energy_array_pj=sum(c.array_pj for c in fwd),
        energy_adc_pj=sum(c.adc_pj for c in fwd),
        energy_dac_pj=sum(c.dac_pj for c in fwd),
        energy_digital_pj=sum(c.shift_add_pj for c in fwd),
        energy_buffer_pj=sum(c.buffer_pj for c in fwd),
        energy_per_batch_pj=energy * cost.inference_batch,
        macs_per_inference=macs,
        adc_conversions_per_inference=sum(c.conversions for c in fwd),
        tops_per_w=2.0 * macs / energy if energy > 0 else math.inf,  # ops/pJ = TOPS/W
        tops_per_mm2=2.0 * macs * cost.inference_batch / latency_batch / 1e3 / area
        if latency_batch > 0
        else math.inf,
        latency_per_inference_ns=latency,
        latency_per_batch_ns=latency_batch,
        area_mm2=area,
        area_array_mm2=tiles * per_tile.array_mm2,
        area_adc_mm2=tiles * per_tile.adc_mm2,
        area_periphery_mm2=tiles * per_tile.periphery_mm2,
        adcs=tiles * per_tile.adcs,
        model_size_bits=size_device,
        model_size_device_bits=size_device,
        model_size_digital_bits=size_digital,
        model_size_info_bits=size_info,
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
        write_attempts_total=attempts_sum,
        max_write_attempts_per_device=writes_max if write_attempts_max is None else write_attempts_max,
        mean_write_attempts_per_device=attempts_sum / devices if devices else 0.0,
        endurance_cycles=endurance,
        lifetime_fraction_used=writes_max / endurance if wears else 0.0,
        trainings_until_wear_out=endurance / writes_max if wears else math.inf,
    )
