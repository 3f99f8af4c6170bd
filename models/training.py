"""Training algorithms. Each returns how long it took and how many writes each device saw.

This module holds the off-chip hardware-aware mode (``hwa``) [J20]: floating-point SGD
with noise injected at the analog tile outputs (see ``AnalogLinear._output_noise``),
optional low-precision weight updates, then one programming of every device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.config import TrainConfig, TrainMode
from models.crossbar import devices_per_weight
from models.networks import analog_layers


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: an application failure, never retried."""


@dataclass(frozen=True)
class WriteCounts:
    """Programming pulses seen by the devices of a network during training and deployment."""

    max_per_device: float
    """Largest number of writes any single device saw."""
    mean_per_device: float
    """Mean writes over all devices."""
    total: float
    """All writes (pulses), summed over devices."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run reports besides the trained model."""

    seconds: float
    """Wall time of training."""
    steps: int
    """Optimizer steps taken."""
    final_loss: float
    """Mean training loss of the last epoch."""
    writes: WriteCounts
    """Device writes, including the final programming."""


def quantize_update(delta: Tensor, bits: int, generator: torch.Generator) -> Tensor:
    """Round an update to ``bits`` signed levels of its own max magnitude, stochastically.

    Stochastic rounding keeps the update unbiased: E[q(δ)] = δ. With ``b`` bits the grid
    is ``max|δ|/(2^(b-1)-1)``; a 1-bit update is sign(δ)·max|δ| with probability |δ|/max.
    """
    scale = delta.abs().amax()
    if scale == 0:
        return delta
    n = max(1, 2 ** (bits - 1) - 1)
    step = scale / n
    scaled = delta / step
    low = torch.floor(scaled)
    u = torch.rand(delta.shape, generator=generator, dtype=delta.dtype, device=delta.device)
    return (low + (u < (scaled - low)).to(delta.dtype)) * step


def one_programming(model: nn.Module) -> WriteCounts:
    """Writes of programming every device once (off-chip training, then deployment)."""
    devices = sum(
        devices_per_weight(layer.device_spec) * layer.weight.numel() for layer in analog_layers(model)
    )
    return WriteCounts(max_per_device=1.0, mean_per_device=1.0, total=float(devices))


def train_hwa(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Hardware-aware training: SGD with momentum, tile-output noise η_train, optional
    ``update_bits`` updates, then one programming of the devices."""
    if cfg.mode is not TrainMode.HWA:
        raise ValueError(f"train_hwa cannot run mode {cfg.mode.value!r}")
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    for layer in analog_layers(model):
        layer.noise_std = cfg.eta_train
    params = [p for p in model.parameters() if p.requires_grad]
    bufs = [torch.zeros_like(p) for p in params]
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    steps = 0
    epoch_loss = math.nan
    start = time.perf_counter()
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        total, batches = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
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
    model.eval()
    for layer in analog_layers(model):
        layer.noise_std = 0.0
    return TrainResult(time.perf_counter() - start, steps, epoch_loss, one_programming(model))


@torch.no_grad()
def _sgd_step(params: list[Tensor], bufs: list[Tensor], cfg: TrainConfig, gen: torch.Generator) -> None:
    """p ← p − lr·v, v ← μ·v + ∇p; the update rounded to ``update_bits`` if set."""
    for p, buf in zip(params, bufs, strict=True):
        if p.grad is None:
            continue
        buf.mul_(cfg.momentum).add_(p.grad)
        delta = buf * cfg.lr
        if cfg.update_bits is not None:
            delta = quantize_update(delta, cfg.update_bits, gen)
        p.sub_(delta)


Trainer = Callable[[nn.Module, Tensor, Tensor, TrainConfig], TrainResult]
"""A training mode: trains ``model`` in place on (x, y) and reports time and device writes."""

TRAINERS: dict[TrainMode, Trainer] = {TrainMode.HWA: train_hwa}
"""Training mode → its trainer. A new mode is one entry here and one ``TrainMode`` value."""


def train(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainResult:
    """Train with the mode ``cfg.mode`` names."""
    return TRAINERS[cfg.mode](model, x, y, cfg)
