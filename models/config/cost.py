"""The cost group: circuit and technology knobs that change no accuracy."""

from __future__ import annotations

from dataclasses import dataclass

from models.config.choices import InputDutySource, InputEncoding
from models.config.knob import knob
from models.cost.constants import const


@dataclass(frozen=True)
class CostConfig:
    """Cost-only knobs: circuit and technology choices that change no accuracy [NS, ACC, ISAAC]."""

    node_nm: float = knob(
        22.0,
        "technology node (nm): sets F for cell area and scales ADC, digital and periphery figures",
        lo=1.0,
        hi=180.0,
    )
    adc_column_sharing: int = knob(
        int(const("adc_column_sharing")),
        "columns multiplexed onto one ADC [NS]: fewer ADCs (area), more conversions in series (latency)",
        lo=1,
        hi=4096,
        analog_only=True,
    )
    adc_fom_fj_per_step: float = knob(
        const("adc_fom_fj_per_step"),
        "Walden figure of merit of the 8-bit ADC at 32 nm and adc_sample_rate_gsps (fJ/step); "
        "scales the whole ADC energy curve [ISAAC, ACC]",
        lo=0.0,
        hi=1000.0,
        lo_open=True,
        analog_only=True,
    )
    adc_sample_rate_gsps: float = knob(
        const("adc_ref_rate_gsps"),
        "sample rate of the 8-bit ADC (GS/s) [ISAAC]: sets conversion time; above 1.2 GS/s energy "
        "grows in proportion (est., speed-limited regime [ACC])",
        lo=0.0,
        hi=100.0,
        lo_open=True,
        analog_only=True,
    )
    input_encoding: InputEncoding = knob(
        InputEncoding.BIT_SERIAL,
        "how inputs reach the rows: bit_serial (1-bit drive, read and conversion per input bit, "
        "ISAAC/NeuroSim) or multi_bit (one pulse-width drive per input)",
        choices=InputEncoding,
        analog_only=True,
    )
    v_read_v: float = knob(
        const("v_read_v"),
        "read voltage across a cell (V) [NS]",
        lo=0.0,
        hi=10.0,
        lo_open=True,
        analog_only=True,
    )
    t_read_ns: float = knob(
        const("t_read_ns"),
        "read (input) pulse duration (ns) [NS]; also the DAC time of one MVM",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        analog_only=True,
    )
    input_duty_source: InputDutySource = knob(
        InputDutySource.MEASURED,
        "where the cell reads' input duty comes from: measured (per layer, from the DAC codes of the "
        "test-set evaluation) or fixed (the input_duty knob)",
        choices=InputDutySource,
        analog_only=True,
    )
    input_duty: float = knob(
        const("input_duty"),
        "with input_duty_source = fixed (its default also serves inputs without a DAC): the fraction "
        "of read pulses a row is driven (1-bit density of bit-serial codes, mean pulse width over "
        "t_read of pulse-width ones); rows at 0 draw no cell current [NS]; 0.5 for uniform codes, "
        "1 only at full scale",
        lo=0.0,
        hi=1.0,
        analog_only=True,
        acts_if=("input_duty_source", ("fixed",)),
    )
    activation_bits: int = knob(
        8, "bits per activation in the buffers (and per bit-serial step of the digital baseline)", lo=1, hi=32
    )
    clock_ghz: float = knob(
        const("clock_ghz"),
        "digital clock (GHz) (est.): accumulation, buffers, SRAM MACs",
        lo=0.0,
        hi=100.0,
        lo_open=True,
    )
    inference_batch: int = knob(
        1,
        "inferences per batch, for energy_per_batch_pj and the pipelined latency_per_batch_ns",
        lo=1,
        hi=1_000_000,
    )

    def __post_init__(self) -> None:
        for name in (
            "node_nm",
            "adc_column_sharing",
            "v_read_v",
            "t_read_ns",
            "activation_bits",
            "clock_ghz",
            "inference_batch",
            "adc_fom_fj_per_step",
            "adc_sample_rate_gsps",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"CostConfig.{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.input_duty <= 1.0:
            raise ValueError(f"CostConfig.input_duty must be in [0, 1], got {self.input_duty!r}")
