"""The hardware group: how weights map onto crossbar tiles, are read out and evaluated."""

from __future__ import annotations

from dataclasses import dataclass

from models.config.choices import AdcRange, Mapping, RangeScope
from models.config.knob import READ_TIMES, knob


@dataclass(frozen=True)
class AnalogConfig:
    """How a network's weights are mapped onto crossbar tiles, read out and evaluated."""

    device: str = knob(
        "pcm", "device technology (models.physics.devices.DEVICES)", choices="models.physics.devices:DEVICES"
    )
    tile_size: int = knob(256, "crossbar rows and columns per tile", lo=8, hi=4096)
    tile_rows: int = knob(0, "crossbar rows (inputs) per tile; 0 = tile_size", lo=0, hi=4096)
    tile_cols: int = knob(0, "crossbar columns (outputs) per tile; 0 = tile_size", lo=0, hi=4096)
    adc_bits: int | None = knob(
        8, "ADC resolution per tile partial sum (bits)", lo=1, hi=16, analog_only=True
    )
    dac_bits: int | None = knob(8, "DAC (input) resolution (bits)", lo=1, hi=16, analog_only=True)
    adc_range: AdcRange = knob(
        AdcRange.CALIBRATED,
        "ADC range: calibrated percentile or fixed full scale",
        choices=AdcRange,
        analog_only=True,
    )
    adc_percentile: float = knob(
        99.99,
        "percentile of |partial sums| that sets a calibrated ADC range",
        lo=0.0,
        hi=100.0,
        lo_open=True,
        analog_only=True,
    )
    prog_noise_scale: float = knob(
        1.0, "multiplier on the device's programming noise (0 = off)", lo=0.0, hi=10.0, analog_only=True
    )
    read_noise_scale: float = knob(
        1.0, "multiplier on the device's read noise (0 = off)", lo=0.0, hi=10.0, analog_only=True
    )
    drift: bool = knob(True, "apply the device's drift law at read times", analog_only=True)
    adc_scope: RangeScope = knob(
        RangeScope.TILE, "which outputs share an ADC range", choices=RangeScope, analog_only=True
    )
    dac_range: AdcRange = knob(
        AdcRange.CALIBRATED,
        "DAC range: calibrated percentile of |inputs| or fixed dac_full_scale",
        choices=AdcRange,
        analog_only=True,
    )
    dac_percentile: float = knob(
        100.0,
        "percentile of |inputs| that sets a calibrated DAC range",
        lo=0.0,
        hi=100.0,
        lo_open=True,
        analog_only=True,
    )
    dac_full_scale: float = knob(
        1.0,
        "fixed DAC range: the input magnitude mapped to the largest code",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        analog_only=True,
    )
    mapping: Mapping = knob(
        Mapping.SIGN_PAIR, "weight-to-conductance mapping of each slice", choices=Mapping, analog_only=True
    )
    binary_devices: int = knob(
        0,
        "bit slicing [HIC]: binary (most significant) device pairs per weight",
        lo=0,
        hi=16,
        analog_only=True,
    )
    multilevel_devices: int = knob(
        1, "bit slicing [HIC]: multi-level device pairs per weight", lo=0, hi=16, analog_only=True
    )
    slice_levels: int = knob(
        0, "levels of each multi-level slice device; 0 = the device's own", lo=0, hi=4096, analog_only=True
    )
    slice_base: float = knob(
        0.0, "significance ratio of consecutive slices; 0 = positional", lo=0.0, hi=4096.0, analog_only=True
    )
    read_time: str = knob(
        "1s", "read time after programming of the headline accuracy", choices="models.config:READ_TIMES"
    )
    gdc: bool = knob(True, "global drift compensation per tile at evaluation [A, J20]", analog_only=True)
    stuck_off_fraction: float = knob(
        0.0, "fraction of devices stuck at g_min", lo=0.0, hi=1.0, analog_only=True
    )
    stuck_on_fraction: float = knob(
        0.0, "fraction of devices stuck at g_max", lo=0.0, hi=1.0, analog_only=True
    )
    ir_drop: float = knob(
        0.0,
        "first-order IR drop: wire resistance per cell × g_max (0 = off)",
        lo=0.0,
        hi=1.0,
        analog_only=True,
    )
    hardware_seeds: int = knob(3, "independently programmed chips averaged at evaluation", lo=1, hi=1000)

    def __post_init__(self) -> None:
        for name, value in (("adc_bits", self.adc_bits), ("dac_bits", self.dac_bits)):
            if value is not None and not 1 <= value <= 16:
                raise ValueError(f"{name} must be None or an integer in 1..16, got {value!r}")
        if self.tile_size < 1 or self.tile_rows < 0 or self.tile_cols < 0:
            raise ValueError("tile_size must be positive, tile_rows and tile_cols ≥ 0 (0: tile_size)")
        if self.binary_devices < 0 or self.multilevel_devices < 0 or self.slices < 1:
            raise ValueError(
                "binary_devices and multilevel_devices must be ≥ 0 with at least one slice "
                f"(got binary_devices={self.binary_devices}, multilevel_devices={self.multilevel_devices})"
            )
        if self.slices > 1 and self.mapping is not Mapping.SIGN_PAIR:
            raise ValueError("bit slicing needs mapping='sign_pair'")
        if self.slice_levels != 0 and self.slice_levels < 2:
            raise ValueError(f"slice_levels must be 0 (the device's) or ≥ 2, got {self.slice_levels!r}")
        if self.slice_base != 0.0 and not self.slice_base > 1.0:
            raise ValueError(f"slice_base must be 0 (positional) or > 1, got {self.slice_base!r}")
        for name, value in (
            ("stuck_off_fraction", self.stuck_off_fraction),
            ("stuck_on_fraction", self.stuck_on_fraction),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.stuck_off_fraction + self.stuck_on_fraction > 1.0:
            raise ValueError("stuck_off_fraction + stuck_on_fraction must be ≤ 1")
        for name, value in (("adc_percentile", self.adc_percentile), ("dac_percentile", self.dac_percentile)):
            if not 0.0 < value <= 100.0:
                raise ValueError(f"{name} must be in (0, 100], got {value!r}")
        if self.read_time not in READ_TIMES:
            raise ValueError(f"read_time {self.read_time!r}; allowed: {', '.join(READ_TIMES)}")
        if not self.ir_drop >= 0 or not self.dac_full_scale > 0:
            raise ValueError("ir_drop must be ≥ 0 and dac_full_scale > 0")

    @property
    def rows(self) -> int:
        """Crossbar rows (inputs) per tile: ``tile_rows``, or ``tile_size`` when it is 0."""
        return self.tile_rows or self.tile_size

    @property
    def cols(self) -> int:
        """Crossbar columns (outputs) per tile: ``tile_cols``, or ``tile_size`` when it is 0."""
        return self.tile_cols or self.tile_size

    @property
    def slices(self) -> int:
        """Device pairs per weight (1 without bit slicing)."""
        return self.binary_devices + self.multilevel_devices

    @property
    def read_time_s(self) -> float:
        """The headline read time in seconds."""
        return READ_TIMES[self.read_time]
