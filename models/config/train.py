"""The training group: the training mode and its knobs."""

from __future__ import annotations

from dataclasses import dataclass

from models.config.choices import AptTarget, BackwardPass, MomentumPlacement, QnnWeights, TrainMode
from models.config.knob import FLOAT_UPDATE_BITS, ON_CHIP, knob

MIN_CHI_BITS = 3
"""Fewest bits of mixed precision's χ register that hold one device step ε: with ⌊b/2⌋ fractional bits
it saturates at (2^(b−1)−1)·ε/2^⌊b/2⌋ (``models.physics.pulses.chi_grid``), 0 at 1 bit and ε/2 at 2 bits,
so no transfer (|χ| ≥ ε) could ever happen below 3 [N20]."""


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
        "the χ register (mixed_precision, ≥ 3 bits) or the carry accumulator (hic)",
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
        if self.mode is TrainMode.MIXED_PRECISION and self.update_bits < MIN_CHI_BITS:
            raise ValueError(
                f"update_bits must be ≥ {MIN_CHI_BITS} for mode 'mixed_precision' (32 or more: float), got "
                f"{self.update_bits!r}: a 1- or 2-bit χ register saturates below one device step ε, "
                "so it would never write a device"
            )
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
