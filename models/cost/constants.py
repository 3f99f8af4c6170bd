"""The cited constants of the hardware cost model, in one table.

Every number the cost model uses that is not a device property (those live in
``models.physics.devices``) or a caller's knob (``models.cost.model.CostConfig``) sits here with its
unit and its source key from ``REFERENCES.md``. ``[ISAAC]`` is Shafiee et al., ISCA 2016,
Table 2 (32 nm), which ``REFERENCES.md`` cites for its ADC and DAC cross-checks. Values
marked (est.) are our own estimates. ``dse devices --costs`` prints :func:`constants_table`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    """A cited cost-model constant."""

    value: float
    """The number, in ``unit``."""
    unit: str
    """Unit of ``value`` ("" when dimensionless)."""
    source: str
    """Source key from REFERENCES.md and what it says, or "(est.)" for our estimates."""


CONSTANTS: dict[str, Constant] = {
    # ---- array read: E_cell = V²·G·t
    "v_read_v": Constant(0.5, "V", "[NS] read voltage 0.5 V"),
    "t_read_ns": Constant(10.0, "ns", "[NS] read pulse 10 ns (0.5 V, 10 µS, 10 ns → 25 fJ per cell)"),
    # ---- ADC: E = max(E_floor, FoM·2^N), 4^N above ~10 b, × (node/22 nm)^1.88
    "adc_fom_fj_per_step": Constant(
        3.3, "fJ/step", "[ACC] FoM_W 1–5 fJ/step at 22 nm; 3.3 puts 8 b at the fitted 0.85 pJ"
    ),
    "adc_floor_pj": Constant(
        0.46, "pJ", "[ACC] E_floor 0.1–0.5 pJ at 22 nm; 0.46 pJ is the fitted 4-bit figure"
    ),
    "adc_exp4_above_bits": Constant(
        10.0, "bit", "[ACC] thermal-noise-limited 4^N scaling above about 10 bits"
    ),
    "adc_node_exponent": Constant(1.88, "", "[ACC] ADC energy scales as (node/22 nm)^1.88"),
    "adc_ref_node_nm": Constant(22.0, "nm", "[ACC] reference node of the ADC energy fit"),
    "adc_ns_per_bit": Constant(1.0, "ns", "[NS] SAR ADC conversion takes (N+1) ns"),
    "adc_column_sharing": Constant(
        8.0, "columns/ADC", "[NS] Param.cpp numColMuxed = 8 (default of CostConfig)"
    ),
    "adc_area_mm2_8b": Constant(
        0.0012, "mm²", "[ISAAC] 8 ADCs (8 b, 1.28 GS/s) 0.0096 mm² at 32 nm; ×2^(N−8) (est.)"
    ),
    # ---- DAC / row drivers
    "dac_pj_per_drive_8b": Constant(
        0.4, "pJ", "[ISAAC] ~0.4 pJ per bit-line drive of a multi-bit DAC; ×bits/8 (est.)"
    ),
    "dac_area_mm2_per_bit": Constant(
        1.66e-7, "mm²", "[ISAAC] 8×128 1-bit DACs 0.00017 mm² at 32 nm; ×bits (est.)"
    ),
    # ---- periphery area at 32 nm [ISAAC]
    "sample_hold_area_mm2": Constant(
        3.9e-8, "mm²", "[ISAAC] 8×128 sample-and-hold 0.00004 mm² at 32 nm, per column"
    ),
    "shift_add_area_mm2": Constant(
        6.0e-5, "mm²", "[ISAAC] one shift-and-add unit 0.00006 mm² at 32 nm, per ADC"
    ),
    "register_area_mm2_per_byte": Constant(
        1.05e-6, "mm²/B", "[ISAAC] 2 KB input register 0.0021 mm² at 32 nm"
    ),
    "periphery_ref_node_nm": Constant(
        32.0, "nm", "[ISAAC] node of the periphery areas; scaled (node/32)² (est.)"
    ),
    # ---- digital arithmetic and buffers at 45 nm [H14]
    "int8_mult_pj": Constant(0.2, "pJ", "[H14] 8-bit integer multiply at 45 nm"),
    "int32_add_pj": Constant(0.1, "pJ", "[H14] 32-bit integer add at 45 nm (partial-sum accumulation)"),
    "sram_64b_access_pj": Constant(
        10.0, "pJ", "[H14] 64-bit access to an 8 kB SRAM at 45 nm (activation buffer)"
    ),
    "digital_ref_node_nm": Constant(45.0, "nm", "[H14] node of the digital energies"),
    "digital_node_exponent": Constant(2.0, "", "(est.) digital C·V² energy scaled as (node/45 nm)^2"),
    "clock_ghz": Constant(1.0, "GHz", "(est.) digital clock, the 1 ns step of NeuroSim's SAR timing [NS]"),
}
"""All cost constants by name. ``models.cost.model`` reads values only from here."""


def constants_table() -> list[tuple[str, float, str, str]]:
    """Rows ``(name, value, unit, source)`` of :data:`CONSTANTS`, in table order, for the CLI."""
    return [(name, c.value, c.unit, c.source) for name, c in CONSTANTS.items()]


def const(name: str) -> float:
    """The value of one constant."""
    return CONSTANTS[name].value
