"""Converter costs: energy, area and time of one ADC conversion and one row drive.

Pure functions of resolution, node and the cost knobs. The ADC follows ISAAC's 8-bit SAR ADC
scaled by resolution as in Accelergy's component library [ISAAC, ACC]: N comparator
decisions (``N·e_cmp``) plus a capacitive DAC whose switching energy and area grow as 2^N
(``2^N·e_cdac``), so both rise strictly with every bit. Above about 10 bits the thermal-noise
limit makes energy grow ×4 per bit [ACC]. The DAC is ISAAC's 1-bit row driver [ISAAC].
Formulas and their validation: ``docs/cost_model.md`` and ``docs/validation.md``.
"""

from __future__ import annotations

from models.config import CostConfig, InputEncoding
from models.cost.constants import const

__all__ = [
    "adc_area_mm2",
    "adc_energy_pj",
    "adc_latency_ns",
    "adc_reference_fom_fj_per_step",
    "dac_area_mm2",
    "dac_energy_pj_per_row",
    "input_cycles",
]


def _sar(bits: int, per_bit: float, per_unit: float) -> float:
    """N·per_bit + 2^N·per_unit, ×4 per bit above the thermal knee [ACC]."""
    knee = int(const("adc_exp4_above_bits"))
    n = min(bits, knee)
    return (n * per_bit + 2.0**n * per_unit) * 4.0 ** max(0, bits - knee)


def adc_reference_fom_fj_per_step() -> float:
    """Walden FoM of the anchor (8 bits, 32 nm, 1.2 GS/s): E(8)/2^8, ≈ 6.5 fJ/step [ISAAC]."""
    bits = int(const("adc_ref_bits"))
    e_pj = _sar(bits, const("adc_cmp_pj_per_bit"), const("adc_cdac_pj_per_unit"))
    return e_pj * 1e3 / 2.0**bits


def adc_energy_pj(bits: int, node_nm: float = 32.0, cost: CostConfig | None = None) -> float:
    """Energy of one conversion (pJ), strictly increasing in ``bits``.

    ``(N·e_cmp + 2^N·e_cdac)`` at 32 nm and 1.2 GS/s [ISAAC, ACC], × FoM / FoM_ref (the knob
    ``adc_fom_fj_per_step`` scales the whole curve), × (node/32)^1.88 [ACC], × max(1, f_s/1.2 GS/s)
    (est.: above the anchor's rate the ADC is speed-limited and energy per conversion grows).
    """
    if bits < 1:
        raise ValueError(f"ADC bits must be ≥ 1, got {bits!r}")
    e = _sar(bits, const("adc_cmp_pj_per_bit"), const("adc_cdac_pj_per_unit"))
    e *= (node_nm / const("adc_ref_node_nm")) ** const("adc_node_exponent")
    if cost is not None:
        e *= cost.adc_fom_fj_per_step / adc_reference_fom_fj_per_step()
        e *= max(1.0, cost.adc_sample_rate_gsps / const("adc_ref_rate_gsps"))
    return e


def adc_area_mm2(bits: int, node_nm: float = 32.0) -> float:
    """Area of one ADC (mm²): ``N·a_cmp + 2^N·a_cdac`` µm² at 32 nm [ISAAC, ACC], × (node/32)² (est.)."""
    if bits < 1:
        raise ValueError(f"ADC bits must be ≥ 1, got {bits!r}")
    knee = int(const("adc_exp4_above_bits"))
    n = min(bits, knee)
    um2 = n * const("adc_cmp_um2_per_bit") + 2.0**n * const("adc_cdac_um2_per_unit")
    um2 *= 2.0 ** max(0, bits - knee)  # capacitor array doubles per bit beyond the knee
    return um2 * 1e-6 * (node_nm / const("adc_ref_node_nm")) ** 2


def adc_latency_ns(bits: int, sample_rate_gsps: float | None = None) -> float:
    """Time of one SAR conversion (ns): (N+1) cycles [NS], with the 8-bit ADC's (8+1) cycles
    taking 1/f_s [ISAAC]: ``(N+1)/(9·f_s)``."""
    rate = const("adc_ref_rate_gsps") if sample_rate_gsps is None else sample_rate_gsps
    return (bits + 1) / ((const("adc_ref_bits") + 1) * rate)


def input_cycles(dac_bits: int | None, cost: CostConfig) -> int:
    """Array read cycles per input vector: ``dac_bits`` when bit-serial [ISAAC], else 1."""
    if dac_bits is None or cost.input_encoding is InputEncoding.MULTI_BIT:
        return 1
    return dac_bits


def dac_energy_pj_per_row(dac_bits: int | None, cost: CostConfig) -> float:
    """Energy to apply one input to one row (pJ): ``dac_bits`` 1-bit drives of 0.39 pJ when
    bit-serial [ISAAC] (8 bits: 3.1 pJ), one pulse-width drive when multi-bit (est.); 0 for ideal
    inputs (``dac_bits`` None). Not node-scaled: the row wire, not the logic, sets it (est.)."""
    if dac_bits is None:
        return 0.0
    if cost.input_encoding is InputEncoding.MULTI_BIT:
        return const("dac_pj_per_pulse_drive")
    return dac_bits * const("dac_pj_per_1bit_drive")


def dac_area_mm2(dac_bits: int | None, cost: CostConfig) -> float:
    """Area of one row's input driver (mm², 32 nm): a 1-bit DAC when bit-serial [ISAAC];
    a multi-bit driver grows with its bits (est.), × (node/32)² (est.)."""
    if dac_bits is None:
        return 0.0
    bits = 1 if cost.input_encoding is InputEncoding.BIT_SERIAL else dac_bits
    return bits * const("dac_area_mm2_1bit") * (cost.node_nm / const("adc_ref_node_nm")) ** 2
