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
runs both.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from models.config import TrainConfig, TrainMode
from models.nn.networks import analog_layers
from models.physics.crossbar import devices_per_weight
from models.torch_device import device_of, seeded, shuffled_batches
from models.training import apt
from models.training.hic import Hic
from models.training.modes import cacheable
from models.training.onchip import MixedPrecision, PulsedSGD, UpdaterFactory, quantize_update, train_onchip
from models.training.outcome import TrainingDiverged, TrainResult, WriteCounts
from models.training.pcm_2t1c import train_pcm_2t1c
from models.training.qnn import Qnn

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


def one_programming(model: nn.Module) -> WriteCounts:
    """Writes of programming every device once (off-chip training, then deployment)."""
    devices = sum(
        devices_per_weight(layer.device_spec, layer.config) * layer.weight.numel()
        for layer in analog_layers(model)
    )
    return WriteCounts(max_per_device=1.0, mean_per_device=1.0, total=float(devices))


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
    where = device_of(model)
    gen = seeded(cfg.seed, where)
    torch.manual_seed(cfg.seed)
    layers = analog_layers(model)
    for layer in layers:
        layer.analog, layer.noise_std, layer.weight_bits = analog, eta, weight_bits
    params = [p for p in model.parameters() if p.requires_grad]
    bufs = [torch.zeros_like(p) for p in params]
    loss_fn = nn.CrossEntropyLoss()
    steps, epoch_loss = 0, math.nan
    start = time.perf_counter()
    model.train()
    try:
        for _ in range(cfg.epochs):
            total, batches = 0.0, 0
            for xb, yb in shuffled_batches(x, y, cfg.batch_size, gen, where):
                loss = loss_fn(model(xb), yb)
                for p in params:
                    p.grad = None
                loss.backward()
                _sgd_step(params, bufs, cfg, gen)
                total += loss.item()
                batches += 1
                steps += 1
            epoch_loss = total / max(1, batches)
            if not math.isfinite(epoch_loss):
                raise TrainingDiverged(f"training loss is {epoch_loss} after {steps} steps (lr={cfg.lr})")
    finally:
        model.eval()
        for layer in layers:
            layer.analog, layer.noise_std, layer.weight_bits = True, 0.0, None
    return TrainResult(time.perf_counter() - start, steps, epoch_loss, one_programming(model))


def train_hwa(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Hardware-aware training [J20]: η_train output noise, optional weight fake-quantization,
    digital forward unless ``hwa_converters_in_loop``; then one programming of the devices."""
    if cfg.mode is not TrainMode.HWA:
        raise ValueError(f"train_hwa cannot run mode {cfg.mode.value!r}")
    return train_digital(model, x, y, cfg, cfg.eta_train, cfg.weight_bits, cfg.hwa_converters_in_loop)


def _train_fp(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """apt's first stage: plain, noise-free floating-point SGD (digital forward)."""
    return train_digital(model, x, y, cfg)


@torch.no_grad()
def _sgd_step(params: list[Tensor], bufs: list[Tensor], cfg: TrainConfig, gen: torch.Generator) -> None:
    """p ← p − lr·v, v ← μ·v + ∇p; the update rounded to ``update_bits`` if set."""
    for p, buf in zip(params, bufs, strict=True):
        if p.grad is None:
            continue
        buf.mul_(cfg.momentum).add_(p.grad)
        delta = buf * cfg.lr
        if cfg.update_precision is not None:
            delta = quantize_update(delta, cfg.update_precision, gen)
        p.sub_(delta)


def _on_chip(make: UpdaterFactory) -> Callable[[nn.Module, Tensor, Tensor, TrainConfig], TrainResult]:
    def trainer(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
        return train_onchip(model, x, y, cfg, make)

    return trainer


Trainer = Callable[[nn.Module, Tensor, Tensor, TrainConfig], TrainResult]
"""A training mode's (first) stage: trains ``model`` in place on (x, y), reports time and writes."""

TRAINERS: dict[TrainMode, Trainer] = {
    TrainMode.HWA: train_hwa,
    TrainMode.APT: _train_fp,
    TrainMode.ONCHIP_SGD: _on_chip(PulsedSGD),
    TrainMode.MIXED_PRECISION: _on_chip(MixedPrecision),
    TrainMode.HIC: _on_chip(Hic),
    TrainMode.QNN: _on_chip(Qnn),
    TrainMode.PCM_2T1C: train_pcm_2t1c,
}
"""Training mode → its trainer. A new mode is one entry here and one ``TrainMode`` value."""


def pretrain(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """The first stage of ``cfg.mode``; for off-chip modes its result depends only on ``cfg``."""
    return TRAINERS[cfg.mode](model, x, y, cfg)


def finish(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, result: TrainResult) -> TrainResult:
    """The hardware-dependent stage after :func:`pretrain` (apt's calibration; else nothing)."""
    if cfg.mode is not TrainMode.APT:
        return result
    return dataclasses.replace(result, calibration_seconds=apt.calibrate(model, x, y, cfg))


def train(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Train with the mode ``cfg.mode`` names (both stages)."""
    return finish(model, x, y, cfg, pretrain(model, x, y, cfg))
