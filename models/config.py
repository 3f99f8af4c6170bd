"""Frozen configurations consumed by ``models/``: analog hardware, network and training.

They live here rather than in ``dse/`` because ``models/`` must not import the engine;
``dse.point.DesignPoint`` builds them from a flat design point.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class AdcRange(str, Enum):
    """How the ADC's full-scale range is chosen."""

    CALIBRATED = "calibrated"
    """A percentile of partial sums observed on calibration data, per tile."""
    FIXED = "fixed"
    """Full scale: rows × w_max × x_max; makes tile size and drift matter."""


class TrainMode(str, Enum):
    """Training algorithm (the search axis ``mode``)."""

    HWA = "hwa"
    """Off-chip hardware-aware training with noise injection, then one programming [J20]."""


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

    def __post_init__(self) -> None:
        for field, value in (("adc_bits", self.adc_bits), ("dac_bits", self.dac_bits)):
            if value is not None and not 1 <= value <= 16:
                raise ValueError(f"{field} must be None or an integer in 1..16, got {value!r}")
        if self.tile_rows < 1 or self.tile_cols < 1:
            raise ValueError("tile_rows and tile_cols must be positive")


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
    """Precision of each weight update (stochastic rounding); ``None`` for float."""
    seed: int = 0
    """Seed of initialisation, shuffling and injected noise."""
