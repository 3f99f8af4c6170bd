"""Frozen configurations consumed by ``models/``: analog hardware, network and training.

They live here rather than in ``dse/`` because ``models/`` must not import the engine;
``dse.point.DesignPoint`` builds them from a flat design point.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    """How a network's weights are mapped onto crossbar tiles and read out."""

    device: str = "pcm"
    """Key in ``models.devices.DEVICES``."""
    tile_rows: int = 256
    """Crossbar rows (inputs) per tile."""
    tile_cols: int = 256
    """Crossbar columns (outputs) per tile."""
    adc_bits: int | None = 8
    """ADC resolution per tile partial sum; ``None`` disables the ADC (ideal readout)."""
    dac_bits: int | None = 8
    """DAC (input) resolution; ``None`` disables input quantization."""
    adc_range: AdcRange = AdcRange.CALIBRATED
    """Calibrated (percentile) or fixed (full-scale) ADC range."""
    adc_percentile: float = 99.99
    """Percentile of |partial sums| that sets a calibrated ADC range."""
    prog_noise_scale: float = 1.0
    """Multiplier on the device's programming noise (0 turns it off)."""
    read_noise_scale: float = 1.0
    """Multiplier on the device's read noise (0 turns it off)."""
    drift: bool = True
    """Apply the device's drift law at evaluation read times."""
    adc_scope: RangeScope = RangeScope.TILE
    """ADC range per tile or per layer."""
    dac_range: AdcRange = AdcRange.CALIBRATED
    """Calibrated (percentile of |inputs|) or fixed (``dac_full_scale``) DAC range."""
    dac_percentile: float = 100.0
    """Percentile of |inputs| that sets a calibrated DAC range (100: the maximum)."""
    dac_full_scale: float = 1.0
    """Fixed DAC range: the input magnitude mapped to the largest code."""
    mapping: Mapping = Mapping.SIGN_PAIR
    """Weight → conductance mapping of each slice."""
    binary_devices: int = 0
    """Bit slicing [HIC]: binary (2-level) device pairs holding the most significant part."""
    multilevel_devices: int = 1
    """Bit slicing [HIC]: multi-level device pairs holding the least significant part."""
    slice_levels: int | None = None
    """Levels of each multi-level slice device; ``None``: the device's own ``levels``."""
    slice_base: float | None = None
    """Significance ratio of consecutive slices; ``None``: positional (each slice's
    significance is the number of values all slices below it can hold)."""
    read_time_s: float = 1.0
    """Read time after programming used by ``evaluate_hardware`` (the ``accuracy`` column)."""
    gdc: bool = True
    """Global drift compensation per tile at evaluation [A, J20]."""
    stuck_off_fraction: float = 0.0
    """Fraction of devices stuck at g_min (stuck-at faults, drawn per programming)."""
    stuck_on_fraction: float = 0.0
    """Fraction of devices stuck at g_max."""
    ir_drop: float = 0.0
    """First-order IR drop: wire resistance per cell × g_max (dimensionless); 0 turns it off."""

    def __post_init__(self) -> None:
        for field, value in (("adc_bits", self.adc_bits), ("dac_bits", self.dac_bits)):
            if value is not None and not 1 <= value <= 16:
                raise ValueError(f"{field} must be None or an integer in 1..16, got {value!r}")
        if self.tile_rows < 1 or self.tile_cols < 1:
            raise ValueError("tile_rows and tile_cols must be positive")
        if self.binary_devices < 0 or self.multilevel_devices < 0 or self.slices < 1:
            raise ValueError("binary_devices and multilevel_devices must be ≥ 0 with at least one slice")
        if self.slices > 1 and self.mapping is not Mapping.SIGN_PAIR:
            raise ValueError("bit slicing needs mapping='sign_pair'")
        if self.slice_levels is not None and self.slice_levels < 2:
            raise ValueError(f"slice_levels must be None or ≥ 2, got {self.slice_levels!r}")
        if self.slice_base is not None and self.slice_base <= 1.0:
            raise ValueError(f"slice_base must be None or > 1, got {self.slice_base!r}")
        for field, value in (
            ("stuck_off_fraction", self.stuck_off_fraction),
            ("stuck_on_fraction", self.stuck_on_fraction),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field} must be in [0, 1], got {value!r}")
        if self.stuck_off_fraction + self.stuck_on_fraction > 1.0:
            raise ValueError("stuck_off_fraction + stuck_on_fraction must be ≤ 1")
        for field, value in (
            ("adc_percentile", self.adc_percentile),
            ("dac_percentile", self.dac_percentile),
        ):
            if not 0.0 < value <= 100.0:
                raise ValueError(f"{field} must be in (0, 100], got {value!r}")
        if self.ir_drop < 0 or self.read_time_s < 0 or self.dac_full_scale <= 0:
            raise ValueError("ir_drop and read_time_s must be ≥ 0 and dac_full_scale > 0")

    @property
    def slices(self) -> int:
        """Device pairs per weight (1 without bit slicing)."""
        return self.binary_devices + self.multilevel_devices


@dataclass(frozen=True)
class NetworkConfig:
    """Which network to build and how wide."""

    model: str = "mlp"
    """Architecture name in ``models.networks.NETWORKS``."""
    width_mult: float = 1.0
    """Multiplier on every hidden width (rounded, at least 1 unit)."""
    hidden: tuple[int, ...] = (128, 128)
    """MLP hidden widths at width_mult 1."""
    in_features: int = 64
    """Flattened input size (set from the dataset)."""
    in_shape: tuple[int, ...] = (64,)
    """Input tensor shape without the batch (set from the dataset)."""
    classes: int = 10
    """Number of output classes (set from the dataset)."""


@dataclass(frozen=True)
class TrainConfig:
    """How the network is trained."""

    mode: TrainMode = TrainMode.HWA
    """Training algorithm."""
    epochs: int = 5
    """Passes over the training split."""
    batch_size: int = 64
    """Mini-batch size."""
    lr: float = 0.05
    """Learning rate of SGD."""
    momentum: float = 0.9
    """SGD momentum."""
    eta_train: float = 0.04
    """hwa: injected weight-noise std as a fraction of each layer's w_max [J20]."""
    update_bits: int | None = None
    """Precision of each weight update (stochastic rounding); ``None`` for float. On-chip
    modes: the update resolution (onchip_sgd), the χ register (mixed_precision) or the
    carry accumulator (hic)."""
    seed: int = 0
    """Seed of initialisation, shuffling and injected noise."""
    train_weight_bits: int | None = None
    """hwa: fake-quantize weights to this many signed bits in the forward pass; ``None`` off."""
    hwa_converters_in_loop: bool = False
    """hwa: train through the full analog forward (DAC, tiles, ADC of the point's hardware)
    instead of the digital forward; the trained weights then depend on the hardware."""
    momentum_placement: MomentumPlacement = MomentumPlacement.DIGITAL
    """onchip_sgd (and mixed_precision: none/digital): where momentum lives [G19]."""
    apt_data_fraction: float = 0.01
    """apt: fraction of the training split used for calibration."""
    apt_steps: int = 100
    """apt: calibration steps (mini-batches drawn from the calibration subset)."""
    apt_lr: float = 0.001
    """apt: learning rate of the calibrated parameters (Adam)."""
    qnn_weights: QnnWeights = QnnWeights.TERNARY
    """qnn: binary or ternary weight set [G21]."""

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs must be ≥ 0, batch_size ≥ 1 and lr > 0")
        if self.update_bits is not None and self.update_bits < 1:
            raise ValueError(f"update_bits must be None or ≥ 1, got {self.update_bits!r}")
        if self.train_weight_bits is not None and not 1 <= self.train_weight_bits <= 16:
            raise ValueError(f"train_weight_bits must be None or in 1..16, got {self.train_weight_bits!r}")
        if self.momentum_placement is MomentumPlacement.IN_MEMORY and self.mode is not TrainMode.ONCHIP_SGD:
            raise ValueError(
                f"momentum_placement 'in_memory' needs mode 'onchip_sgd' (an array of pulsed devices), "
                f"not {self.mode.value!r}; use 'digital' or 'none'"
            )
        if not 0.0 < self.apt_data_fraction <= 1.0:
            raise ValueError(f"apt_data_fraction must be in (0, 1], got {self.apt_data_fraction!r}")
