"""Training modes: one trainer per ``TrainMode``, each reporting time and writes per device.

Off-chip modes (``hwa`` [J20], ``apt``) train with a digital forward (plain matmul or
convolution), so their weights depend only on the training configuration (train once,
evaluate many); then every device is programmed once. ``hwa`` injects output-referred
weight noise η_train and optionally fake-quantizes weights to ``train_weight_bits``; with
``hwa_converters_in_loop`` it trains through the point's full analog forward instead.
``apt`` trains noise-free, then calibrates under the analog forward (``models/training/apt.py``).

On-chip modes run forward and backward through the crossbars and write the devices on
every update (``onchip.py``, ``hic.py``, ``qnn.py`` and ``pcm_2t1c.py`` in ``models/training/``).

A run has two stages: :func:`pretrain` (cacheable for off-chip modes: it depends only on
``TrainConfig``) and :func:`finish` (hardware-dependent: apt's calibration). :func:`train`
runs both. Each is a use of :class:`~models.training.session.TrainingRun` trained straight
to ``cfg.epochs``; the run itself can also stop after any epoch and resume from a checkpoint.
"""

from __future__ import annotations

from torch import Tensor, nn

from models.config import TrainConfig
from models.training.digital import DigitalLoop, hwa_loop, one_programming
from models.training.modes import cacheable
from models.training.onchip import quantize_update
from models.training.outcome import TrainingDiverged, TrainResult, WriteCounts
from models.training.session import TRAINERS, TrainingRun, hardware_stage

__all__ = [
    "TRAINERS",
    "TrainResult",
    "TrainingDiverged",
    "WriteCounts",
    "cacheable",
    "finish",
    "one_programming",
    "pretrain",
    "quantize_update",
    "train",
    "train_digital",
    "train_hwa",
]


def train_digital(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    eta: float = 0.0,
    weight_bits: int | None = None,
    analog: bool = False,
) -> TrainResult:
    """SGD with momentum (updates rounded to ``update_bits`` if set) through the digital forward,
    with output-referred weight noise ``eta`` and weight fake-quantization ``weight_bits``;
    ``analog=True`` runs the full analog forward instead. Counts one programming. Runs on the
    model's torch device; ``x`` and ``y`` may live anywhere (batches are moved)."""

    def make(m: nn.Module, xs: Tensor, ys: Tensor, c: TrainConfig) -> DigitalLoop:
        return DigitalLoop(m, c, eta, weight_bits, analog)

    run = TrainingRun.start(model, x, y, cfg, make)
    run.advance(cfg.epochs)
    return run.trained()


def train_hwa(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Hardware-aware training [J20]: η_train output noise, optional weight fake-quantization,
    digital forward unless ``hwa_converters_in_loop``; then one programming of the devices."""
    run = TrainingRun.start(model, x, y, cfg, hwa_loop)
    run.advance(cfg.epochs)
    return run.trained()


def pretrain(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """The first stage of ``cfg.mode``; for off-chip modes its result depends only on ``cfg``."""
    run = TrainingRun.start(model, x, y, cfg)
    run.advance(cfg.epochs)
    return run.trained()


def finish(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, result: TrainResult) -> TrainResult:
    """The hardware-dependent stage after :func:`pretrain` (apt's calibration; else nothing)."""
    return hardware_stage(model, x, y, cfg, result)


def train(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Train with the mode ``cfg.mode`` names (both stages)."""
    run = TrainingRun.start(model, x, y, cfg)
    run.advance(cfg.epochs)
    return run.finish()
