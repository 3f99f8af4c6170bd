"""The cited constants of the hardware cost model, in one table.

Every number the cost model uses that is not a device property (those live in
``models.physics.devices``) or a caller's knob (``models.cost.model.CostConfig``) sits here with its
unit and its source key from ``docs/references.md``. ``[ISAAC]`` is Shafiee et al., ISCA 2016,
Table I (32 nm), which ``docs/references.md`` cites for its ADC and DAC cross-checks. Values
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
    """Source key from docs/references.md and what it says, or "(est.)" for our estimates."""


CONSTANTS: dict[str, Constant] = {
    # ---- array read: E_cell = V²·G·t
    "v_read_v": Constant(0.5, "V", "[NS] read voltage 0.5 V"),
    "t_read_ns": Constant(
        10.0,
        "ns",
        "[NS] Param.cpp readPulseWidth 10 ns (0.5 V, 10 µS, 10 ns → 25 fJ per driven cell); NeuroSim "
        "V1.4's own read charges a 1.24 ns sensing window instead (docs/validation.md, Cell reads)",
    ),
    # A row whose input bit is 0 is not driven: no voltage across its cells, no current. NeuroSim
    # adds a cell's conductance to its column only where the row's input bit is 1 [NS]
    # (ProcessingUnit.cpp GetColumnResistance; MLP+NeuroSim V3 Test.cpp sums I·V·t over 1-bits).
    "input_duty": Constant(
        0.5,
        "",
        "[NS] only rows with input bit 1 conduct; ½ is the mean 1-bit density (and mean pulse width "
        "over t_read) of uniformly distributed input codes (est. for real activations)",
    ),
    # ---- ADC: a SAR ADC costs N comparator decisions plus a capacitive DAC that grows as 2^N
    # [ISAAC, ACC]: ISAAC's 8-bit ADC (Kull et al., ISSCC 2013: 16 mW per 8 ADCs at 1.2 GS/s,
    # 1.67 pJ/conversion, 1200 µm² at 32 nm), scaled by resolution after Saberi et al. (TCAS-I
    # 2011) in Accelergy's component library. E(N) = N·e_cmp + 2^N·e_cdac fits that 4–10-bit
    # table within 0.5 % (docs/validation.md, "ADC").
    "adc_cmp_pj_per_bit": Constant(
        0.1959, "pJ", "[ISAAC, ACC] comparator + SAR logic energy per bit decision, 32 nm, 1.2 GS/s"
    ),
    "adc_cdac_pj_per_unit": Constant(
        4.116e-4, "pJ", "[ISAAC, ACC] capacitive-DAC switching energy per unit (×2^N), 32 nm"
    ),
    "adc_cmp_um2_per_bit": Constant(81.7, "µm²", "[ISAAC, ACC] comparator + SAR logic area per bit, 32 nm"),
    "adc_cdac_um2_per_unit": Constant(
        2.134, "µm²", "[ISAAC, ACC] capacitive-DAC area per unit capacitor (×2^N), 32 nm"
    ),
    "adc_fom_fj_per_step": Constant(
        (8 * 0.1959 + 2**8 * 4.116e-4) / 2**8 * 1e3,
        "fJ/step",
        "[ISAAC] Walden FoM of the 8-bit anchor, E(8)/2^8 ≈ 1.67 pJ/256 (default of CostConfig)",
    ),
    "adc_ref_bits": Constant(8.0, "bit", "[ISAAC] resolution of the anchor ADC (Walden FoM defined there)"),
    "adc_ref_node_nm": Constant(32.0, "nm", "[ISAAC] node of the ADC anchor"),
    "adc_ref_rate_gsps": Constant(1.2, "GS/s", "[ISAAC] sample rate of the anchor ADC"),
    "adc_exp4_above_bits": Constant(
        10.0, "bit", "[ACC] thermal-noise-limited regime: energy ×4 per bit above about 10 bits"
    ),
    "adc_node_exponent": Constant(1.88, "", "[ACC] ADC energy scales as (node/32 nm)^1.88"),
    "adc_column_sharing": Constant(
        8.0, "columns/ADC", "[NS] Param.cpp numColMuxed = 8 (default of CostConfig)"
    ),
    # ---- DAC / row drivers [ISAAC]: 1,024 1-bit DACs draw 4 mW at a 100 ns cycle
    "dac_pj_per_1bit_drive": Constant(
        4.0e-3 * 100e-9 / 1024 * 1e12, "pJ", "[ISAAC] 4 mW × 100 ns / 1024 DACs: one 1-bit drive of one row"
    ),
    "dac_pj_per_pulse_drive": Constant(
        4.0e-3 * 100e-9 / 1024 * 1e12,
        "pJ",
        "(est.) a pulse-width (multi-bit) input charges its row once, like one [ISAAC] 1-bit drive",
    ),
    "dac_area_mm2_1bit": Constant(
        1.66e-7, "mm²", "[ISAAC] 8×128 1-bit DACs 0.00017 mm² at 32 nm; multi-bit ×bits (est.)"
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
