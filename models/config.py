"""Frozen configurations consumed by ``models/``: analog hardware, network, training and cost.

Every searchable parameter is declared once, here, as a field made by :func:`knob`: its type,
default, allowed values and doc. The engine's registry (``dse.schema.point``) composes its
design point from these configs and reads their metadata to validate spaces, build Parquet
columns and key the weights cache; nothing is copied by hand in between. The configs live
in ``models/`` because ``models/`` must not import the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from models.cost.constants import const

READ_TIMES: dict[str, float] = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 365.0 * 86400.0}
"""Evaluation read times after programming, by label (the ``accuracy_t_<label>`` columns)."""
FLOAT_UPDATE_BITS = 32
"""``update_bits`` of 32 or more means floating-point updates."""
ON_CHIP = ("onchip_sgd", "mixed_precision", "hic", "qnn", "pcm_2t1c")
"""Training modes that write the devices while training (knobs that act only there name these)."""


def knob(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    choices: type[StrEnum] | str | None = None,
    cached: bool = True,
    modes: tuple[str, ...] = (),
    analog_only: bool = False,
) -> Any:
    """A searchable parameter: a config field whose metadata the engine's registry reads.

    Args:
        default: the value when a space does not set it (it must itself validate).
        doc: one line for error messages, ``dse params`` and the docs.
        lo: inclusive lower bound of a number (``lo_open``: excluded); NaN never passes.
        hi: inclusive upper bound of a number.
        lo_open: exclude ``lo`` itself.
        choices: an enum (its values are allowed), or ``"module:NAME"`` naming a registry (a
            dict or sequence) whose keys are the allowed values, looked up only when asked, so
            this module imports none of the modules that consume it.
        cached: False for training knobs that act after the cacheable training stage (apt's
            calibration), so the weights cache ignores them.
        modes: the training modes in which this knob acts; empty means every mode.
        analog_only: the knob acts only on analog devices (the SRAM baseline ignores it).

    A knob a design ignores (``modes``, ``analog_only``) is neither sampled nor recorded for
    that design: the engine resets it to its default and stores null.
    """
    meta = {
        "doc": doc,
        "lo": lo,
        "hi": hi,
        "lo_open": lo_open,
        "choices": choices,
        "cached": cached,
        "modes": modes,
        "analog_only": analog_only,
    }
    return field(default=default, metadata=meta)


def derived(default: Any, doc: str) -> Any:
    """A config field the engine sets from the data: never searched, never recorded."""
    return field(default=default, metadata={"doc": doc, "derived": True})


class AdcRange(StrEnum):
    """How the ADC's full-scale range is chosen."""

    CALIBRATED = "calibrated"
    """A percentile of partial sums observed on calibration data, per tile."""
    FIXED = "fixed"
    """Full scale: rows × w_max × x_max; makes tile size and drift matter."""


class RangeScope(StrEnum):
    """Which outputs share one ADC range."""

    TILE = "tile"
    """One range per crossbar tile (per row tile × column tile)."""
    LAYER = "layer"
    """One range for the whole layer (the largest tile range)."""


class Mapping(StrEnum):
    """How a signed weight becomes device conductances (two devices per slice either way)."""

    SIGN_PAIR = "sign_pair"
    """One device per sign: the device of the weight's sign carries |w|, its partner stays
    at g_min (aihwkit's default mapping [A]); 2L-1 weight levels per slice."""
    DIFFERENTIAL = "differential"
    """Both devices programmed symmetrically about mid-span, g± = g_mid ± w/2 (L weight
    levels); drift of the common mode shows up as a ν mismatch."""


class TrainMode(StrEnum):
    """Training algorithm (the search axis ``mode``)."""

    HWA = "hwa"
    """Off-chip hardware-aware training with noise injection, then one programming [J20]."""
    APT = "apt"
    """Off-chip floating-point training, programming, then analog-aware post-training of
    normalization affine terms and per-output scales (source 000)."""
    ONCHIP_SGD = "onchip_sgd"
    """On-chip SGD: forward and backward through the crossbars, updates as device pulses [A, G19]."""
    MIXED_PRECISION = "mixed_precision"
    """Digital accumulator χ; pulses when |χ| ≥ ε, the device step [N20]."""
    HIC = "hic"
    """Binary (MSB) + multi-level (LSB) devices fed by a low-precision accumulator's carry [HIC]."""
    QNN = "qnn"
    """Binary/ternary weights, stochastic (GXNOR) updates by binary STT-MRAM switching [G21]."""
    PCM_2T1C = "pcm_2t1c"
    """2PCM + 3T1C cell: updates on a volatile capacitor pair, transferred to the PCM pair
    periodically with polarity inversion; W = F·(G⁺ − G⁻) + (g − g_shared) [A18]."""


class AptTarget(StrEnum):
    """What APT calibrates its digital parameters against (source 000)."""

    CHIP = "chip"
    """The programmed chip: programmed once, then read at every calibration step."""
    NOISE = "noise"
    """The device's programming-noise statistics, as output-referred noise per step (cheap)."""


class BackwardPass(StrEnum):
    """How on-chip training computes the error of a layer's inputs, ∂x = ∂y·Wᵀ."""

    ANALOG = "analog"
    """A transposed read of the same array: DAC on ∂y, per-tile partial sums with the array's
    read noise, ADC per tile, digital sum (as aihwkit's analog backward pass [A])."""
    IDEAL = "ideal"
    """The exact floating-point product with the weights the devices hold."""


class MomentumPlacement(StrEnum):
    """Where the momentum state of on-chip SGD lives [G19]."""

    NONE = "none"
    """Plain SGD."""
    DIGITAL = "digital"
    """A digital register beside the array (32 bits per weight)."""
    IN_MEMORY = "in_memory"
    """An extra device set of the same technology, updated by pulses (its writes count)."""


class QnnWeights(StrEnum):
    """Weight set of the quantized network [G21]."""

    BINARY = "binary"
    """{-1, +1}·α."""
    TERNARY = "ternary"
    """{-1, 0, +1}·α."""


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


@dataclass(frozen=True)
class NetworkConfig:
    """Which network to build and how wide."""

    model: str = knob(
        "mlp", "network architecture (models.nn.networks.NETWORKS)", choices="models.nn.networks:NETWORKS"
    )
    width_mult: float = knob(1.0, "multiplier on every hidden width", lo=0.0, hi=16.0, lo_open=True)
    hidden: tuple[int, ...] = knob((128, 128), "MLP hidden widths at width_mult 1")
    in_features: int = derived(64, "flattened input size (from the dataset)")
    in_shape: tuple[int, ...] = derived((64,), "input tensor shape without the batch (from the dataset)")
    classes: int = derived(10, "number of output classes (from the dataset)")


@dataclass(frozen=True)
class TrainConfig:
    """How the network is trained."""

    mode: TrainMode = knob(TrainMode.HWA, "training mode", choices=TrainMode)
    epochs: int = knob(10, "passes over the training split", lo=1, hi=10_000)
    batch_size: int = knob(64, "mini-batch size", lo=1, hi=65_536)
    lr: float = knob(0.05, "learning rate of SGD", lo=0.0, hi=10.0, lo_open=True)
    momentum: float = knob(0.9, "SGD momentum", lo=0.0, hi=0.999)
    eta_train: float = knob(
        0.04,
        "hwa: injected weight-noise std as a fraction of each layer's w_max [J20]",
        lo=0.0,
        hi=1.0,
        modes=("hwa",),
    )
    update_bits: int = knob(
        FLOAT_UPDATE_BITS,
        "weight-update precision (bits; 32 = float): the update resolution (hwa, onchip_sgd), "
        "the χ register (mixed_precision) or the carry accumulator (hic)",
        lo=1,
        hi=64,
        modes=("hwa", "apt", "onchip_sgd", "mixed_precision", "hic"),
    )
    seed: int = knob(0, "training seed: initialisation, shuffling, injected noise", lo=0, hi=2**31 - 1)
    train_weight_bits: int = knob(
        0,
        "hwa: fake-quantize weights to these signed bits while training; 0 = off",
        lo=0,
        hi=16,
        modes=("hwa",),
    )
    hwa_converters_in_loop: bool = knob(
        False,
        "hwa: train through the point's analog forward (weights then depend on hardware)",
        modes=("hwa",),
    )
    momentum_placement: MomentumPlacement = knob(
        MomentumPlacement.DIGITAL,
        "on-chip modes: momentum none, digital (beside the array) or in_memory (onchip_sgd only) [G19]",
        choices=MomentumPlacement,
        modes=("onchip_sgd", "mixed_precision"),
    )
    apt_data_fraction: float = knob(
        0.01,
        "apt: fraction of the training split used for calibration",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        cached=False,
        modes=("apt",),
    )
    apt_steps: int = knob(100, "apt: calibration steps", lo=1, hi=100_000, cached=False, modes=("apt",))
    apt_lr: float = knob(
        0.001,
        "apt: learning rate of the calibrated parameters (Adam)",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        cached=False,
        modes=("apt",),
    )
    pcm_gain: float = knob(
        3.0,
        "pcm_2t1c: significance F of the PCM pair over the capacitors, W = F·(G⁺−G⁻) + (g−g_shared) [A18]",
        lo=1.0,
        hi=100.0,
        modes=("pcm_2t1c",),
    )
    transfer_images: int = knob(
        8000,
        "pcm_2t1c: training images between transfers of the capacitors onto the PCM pairs [A18]",
        lo=1,
        hi=10_000_000,
        modes=("pcm_2t1c",),
    )
    cap_retention_images: float = knob(
        80_000.0,
        "pcm_2t1c: capacitor leak time constant in training images, g−g_shared ∝ e^(−images/τ); "
        "0 = no leak (est.: 10 transfer intervals)",
        lo=0.0,
        hi=1e9,
        modes=("pcm_2t1c",),
    )
    cap_update_bits: int = knob(
        8,
        "pcm_2t1c: capacitor update precision: charge steps of 2^-(b-1) of its half range (est.)",
        lo=1,
        hi=16,
        modes=("pcm_2t1c",),
    )
    apt_target: AptTarget = knob(
        AptTarget.CHIP,
        "apt: calibrate against the programmed chip (once, no reprogramming) or the noise statistics",
        choices=AptTarget,
        cached=False,
        modes=("apt",),
    )
    backward: BackwardPass = knob(
        BackwardPass.ANALOG,
        "on-chip: backward pass as a transposed read of the array (analog) or exact (ideal)",
        choices=BackwardPass,
        modes=ON_CHIP,
    )
    range_recalibration_steps: int = knob(
        10,
        "on-chip: steps between re-calibrations of the converter ranges on the calibration batch "
        "(0 = once, before training)",
        lo=0,
        hi=10_000_000,
        modes=ON_CHIP,
    )
    qnn_weights: QnnWeights = knob(
        QnnWeights.TERNARY, "qnn: binary or ternary weights [G21]", choices=QnnWeights, modes=("qnn",)
    )

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs must be ≥ 0, batch_size ≥ 1 and lr > 0")
        if self.update_bits < 1:
            raise ValueError(f"update_bits must be ≥ 1 (32 or more: float), got {self.update_bits!r}")
        if not 0 <= self.train_weight_bits <= 16:
            raise ValueError(f"train_weight_bits must be in 0..16 (0: off), got {self.train_weight_bits!r}")
        if self.momentum_placement is MomentumPlacement.IN_MEMORY and self.mode is not TrainMode.ONCHIP_SGD:
            raise ValueError(
                f"momentum_placement 'in_memory' needs mode 'onchip_sgd' (an array of pulsed devices), "
                f"not {self.mode.value!r}; use 'digital' or 'none'"
            )
        if self.range_recalibration_steps < 0:
            raise ValueError(
                "range_recalibration_steps must be ≥ 0 (0: calibrate once), "
                f"got {self.range_recalibration_steps!r}"
            )
        if not 0.0 < self.apt_data_fraction <= 1.0:
            raise ValueError(f"apt_data_fraction must be in (0, 1], got {self.apt_data_fraction!r}")

    @property
    def update_precision(self) -> int | None:
        """Bits of each weight update, or None for floating-point updates."""
        return None if self.update_bits >= FLOAT_UPDATE_BITS else self.update_bits

    @property
    def weight_bits(self) -> int | None:
        """hwa's fake-quantization bits, or None when off."""
        return self.train_weight_bits or None


class InputEncoding(StrEnum):
    """How an input activation is applied to a crossbar row (a cost knob)."""

    BIT_SERIAL = "bit_serial"
    """One 1-bit drive, array read and ADC conversion per input bit [ISAAC, NS]."""
    MULTI_BIT = "multi_bit"
    """One pulse-width (or multi-level) drive per input, one read and one conversion [LG23]."""


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
    input_duty: float = knob(
        1.0,
        "mean fraction of t_read a row is driven (1: every row at full scale) (est.)",
        lo=0.0,
        hi=1.0,
        analog_only=True,
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
