"""The figures of one design point's hardware cost: a frozen record with units in its names.

Computed by :func:`models.cost.model.hardware_cost`; every field becomes a Parquet column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class HardwareCost:
    """Cost figures of one design point; every field is one Parquet column."""

    energy_per_inference_pj: float
    """Sum of the five energy parts below."""
    energy_array_pj: float
    """Cell reads, V²·G·t per device [NS]; for SRAM, weight fetches from SRAM [H14]."""
    energy_adc_pj: float
    """ADC conversions [ACC]; 0 when the ADC is off or the device is digital."""
    energy_dac_pj: float
    """Row drives [ISAAC]: per row per column tile per input vector, ×input bits when bit-serial;
    0 when the DAC is off (ideal inputs) or the device is digital."""
    energy_digital_pj: float
    """Shift-add accumulation of partial sums; for SRAM, the int8 MACs themselves [H14]."""
    energy_buffer_pj: float
    """Activation buffer reads and writes [H14]."""
    energy_per_batch_pj: float
    """energy_per_inference_pj × inference_batch."""
    macs_per_inference: int
    """Multiply-accumulates of one inference (2 ops each)."""
    adc_conversions_per_inference: int
    """One per used column per row tile per read cycle (×input bits when bit-serial); 0 when the
    ADC is off or the device is digital."""
    tops_per_w: float
    """Energy efficiency, 2·MACs / energy (tera-ops per joule per second)."""
    tops_per_mm2: float
    """Area efficiency at inference_batch: 2·MACs·batch / latency_per_batch / area."""
    latency_per_inference_ns: float
    """One inference, layers in series, all tiles of a layer in parallel."""
    latency_per_batch_ns: float
    """Layers pipelined: first latency + (batch−1) × slowest layer."""
    area_mm2: float
    """Sum of the three area parts below."""
    area_array_mm2: float
    """Allocated tiles × rows × cols × devices per weight × cell F² [device]."""
    area_adc_mm2: float
    """ADCs, one per adc_column_sharing columns [ISAAC, NS]."""
    area_periphery_mm2: float
    """DACs, sample-and-hold, shift-add units and I/O registers [ISAAC]."""
    adcs: int
    """ADCs on the chip."""
    model_size_bits: float
    """Kept equal to model_size_device_bits (the meaning it always had), for existing spaces."""
    model_size_device_bits: float
    """Physical storage: devices × log2(levels per device) (1 per SRAM cell) + model_size_digital_bits."""
    model_size_digital_bits: float
    """Digital state that really persists beside the array: accumulators, χ, digital momentum."""
    model_size_info_bits: float
    """Information: weights × log2(distinct values a weight can take); a sign pair of L-level
    devices holds 2L−1 values."""
    weights: int
    """Weights of the network (mapped matrix entries)."""
    devices: int
    """Devices holding the weights (a differential pair, or the bit cells of a word)."""
    tiles: int
    """Crossbar tiles allocated."""
    energy_training_j: float
    """energy_training_read_j + energy_training_write_j."""
    energy_training_read_j: float
    """train_samples × (forward + transposed backward pass through the arrays)."""
    energy_training_write_j: float
    """write_attempts_total × device write energy per pulse."""
    latency_training_s: float
    """train_samples × (forward + backward latency) + programming time (row-serial, tiles parallel)."""
    writes_total: float
    """State changes (switches: what wears a device) summed over devices."""
    max_writes_per_device: float
    """State changes of the most-written device (sets lifetime_fraction_used)."""
    mean_writes_per_device: float
    """State changes averaged over devices."""
    write_attempts_total: float
    """Write pulses summed over devices, switching or not (set write energy and time)."""
    max_write_attempts_per_device: float
    """Write pulses of the most-pulsed device."""
    mean_write_attempts_per_device: float
    """Write pulses averaged over devices."""
    endurance_cycles: float
    """Device endurance (``inf`` for SRAM)."""
    lifetime_fraction_used: float
    """max_writes_per_device / endurance_cycles (0 for unlimited endurance)."""
    trainings_until_wear_out: float
    """endurance_cycles / max_writes_per_device (``inf`` without writes or wear)."""

    def as_row(self) -> dict[str, float | int]:
        """The figures as a flat column → value mapping, for a TrialRecord."""
        return dataclasses.asdict(self)
