"""On-chip training: forward and backward through the simulated crossbars, updates as device writes.

:func:`train_onchip` is the loop shared by every on-chip mode. An :class:`Updater` turns
each analog layer's gradient into writes on that layer's devices; digital parameters
(biases, normalization) take plain SGD with momentum beside the array. This module holds
the pulsed-SGD updater (``onchip_sgd``, momentum none / digital / in memory [G19]) and
the mixed-precision updater (``mixed_precision`` [N20]); ``models/hic.py`` and
``models/qnn.py`` hold the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from models.config import MomentumPlacement, TrainConfig
from models.layers import AnalogMatrix
from models.networks import analog_layers
from models.outcome import TrainingDiverged, TrainResult, summarize
from models.pulses import (
    MAX_PULSES_PER_UPDATE,
    PulsedArray,
    PulseModel,
    chi_grid,
    chi_transfer,
    layer_scale,
    pulse_counts,
    stochastic_round,
)

FLOAT_STATE_BITS = 32
"""Bits of a floating-point digital register (momentum, a float χ or accumulator)."""


class Updater(Protocol):
    """Turns gradients of analog layers into device writes.

    Contract: built on the layers before training (it programs the initial weights and
    counts that programming); :meth:`step` is called once per optimizer step for every
    analog layer ``i`` after the backward pass, and leaves ``layer.weight`` equal to what
    the devices now hold; :meth:`counters` returns one write counter per physical device,
    tagged by device set (``weights``, ``binary``, ``multilevel``, ``momentum``).
    """

    digital_bits_per_weight: float

    def step(self, i: int, grad: Tensor) -> None: ...

    def counters(self) -> list[tuple[str, Tensor]]: ...


UpdaterFactory = Callable[[list[AnalogMatrix], TrainConfig, torch.Generator], Updater]


class DigitalMomentum:
    """The update direction −lr·v with v ← μv + g kept digitally, or −lr·g without momentum."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.on = cfg.momentum_placement is MomentumPlacement.DIGITAL and cfg.momentum > 0
        self.bufs = [torch.zeros_like(layer.weight) for layer in layers] if self.on else []
        self.bits = FLOAT_STATE_BITS if self.on else 0

    def direction(self, i: int, grad: Tensor) -> Tensor:
        """The desired weight change for this step (weight units)."""
        if not self.on:
            return grad * -self.cfg.lr
        return self.bufs[i].mul_(self.cfg.momentum).add_(grad) * -self.cfg.lr


class PulsedSGD:
    """``onchip_sgd``: each update −lr·v/α (optionally rounded to ``update_bits``) becomes
    stochastically rounded pulses of the device step [A]; in-memory momentum is a second device
    array updated by pulses toward μm − lr·g/α, whose writes count too [G19]."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.model = PulseModel.of(layers[0].device_spec)
        self.alphas = [layer_scale(layer.weight.detach(), self.model) for layer in layers]
        self.arrays = [
            PulsedArray(layer.weight.detach() / a, self.model, gen)
            for layer, a in zip(layers, self.alphas, strict=True)
        ]
        self.in_memory = cfg.momentum_placement is MomentumPlacement.IN_MEMORY and cfg.momentum > 0
        zeros = [torch.zeros_like(layer.weight.detach()) for layer in layers]
        self.moments = [PulsedArray(z, self.model, gen) for z in zeros] if self.in_memory else []
        self.momentum = DigitalMomentum(layers, cfg)
        self.digital_bits_per_weight = float(self.momentum.bits)
        for i in range(len(layers)):
            self._write_back(i)

    def _pulses(self, delta: Tensor) -> Tensor:
        if self.cfg.update_bits is not None:
            delta = quantize_update(delta, self.cfg.update_bits, self.gen)
        return pulse_counts(delta, self.model.dw_min, self.gen, MAX_PULSES_PER_UPDATE)

    def _write_back(self, i: int) -> None:
        self.layers[i].weight.data.copy_(self.arrays[i].value() * self.alphas[i])

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        if self.in_memory:
            m = self.moments[i]
            target = grad * (-self.cfg.lr / self.alphas[i]) - (1.0 - self.cfg.momentum) * m.value()
            m.pulse(self._pulses(target))
            delta = m.value()
        else:
            delta = self.momentum.direction(i, grad) / self.alphas[i]
        self.arrays[i].pulse(self._pulses(delta))
        self._write_back(i)

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", a.counts) for a in self.arrays] + [("momentum", m.counts) for m in self.moments]


class MixedPrecision:
    """``mixed_precision`` [N20]: χ ← χ + Δ in a digital register of ``update_bits`` (see
    :func:`~models.pulses.chi_grid`: stochastic rounding onto its LSB, saturation); then
    ⌊|χ|/ε⌋ pulses of χ's sign go to the device and are subtracted from χ."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.model = PulseModel.of(layers[0].device_spec)
        self.alphas = [layer_scale(layer.weight.detach(), self.model) for layer in layers]
        self.arrays = [
            PulsedArray(layer.weight.detach() / a, self.model, gen)
            for layer, a in zip(layers, self.alphas, strict=True)
        ]
        self.chi = [torch.zeros_like(layer.weight.detach()) for layer in layers]
        self.lsb, self.saturation = chi_grid(cfg.update_bits, self.model.dw_min)
        self.momentum = DigitalMomentum(layers, cfg)
        bits = cfg.update_bits if cfg.update_bits is not None else FLOAT_STATE_BITS
        self.digital_bits_per_weight = float(bits + self.momentum.bits)
        for i, layer in enumerate(layers):
            layer.weight.data.copy_(self.arrays[i].value() * self.alphas[i])

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        delta = self.momentum.direction(i, grad) / self.alphas[i]
        if self.lsb > 0:
            delta = stochastic_round(delta / self.lsb, self.gen) * self.lsb
        chi = (self.chi[i] + delta).clamp_(-self.saturation, self.saturation)
        n, self.chi[i] = chi_transfer(chi, self.model.dw_min)
        self.arrays[i].pulse(n)
        self.layers[i].weight.data.copy_(self.arrays[i].value() * self.alphas[i])

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", a.counts) for a in self.arrays]


def quantize_update(delta: Tensor, bits: int, generator: torch.Generator) -> Tensor:
    """Round an update to ``bits`` signed levels of its own max magnitude, stochastically.

    Stochastic rounding keeps the update unbiased: E[q(δ)] = δ. With ``b`` bits the grid
    is ``max|δ|/(2^(b-1)-1)``; a 1-bit update is sign(δ)·max|δ| with probability |δ|/max.
    """
    scale = delta.abs().amax()
    if scale == 0:
        return delta
    step = scale / max(1, 2 ** (bits - 1) - 1)
    return stochastic_round(delta / step, generator) * step


def train_onchip(
    model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, make: UpdaterFactory
) -> TrainResult:
    """Train through the analog forward; analog weights change only by the updater's writes."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    layers = analog_layers(model)
    for layer in layers:
        layer.analog, layer.noise_std = True, 0.0
    start = time.perf_counter()
    updater = make(layers, cfg, gen)
    analog_ids = {id(layer.weight) for layer in layers}
    digital = [p for p in model.parameters() if p.requires_grad and id(p) not in analog_ids]
    bufs = [torch.zeros_like(p) for p in digital]
    loss_fn = nn.CrossEntropyLoss()
    n, steps, epoch_loss = x.shape[0], 0, math.nan
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        total, batches = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p, buf in zip(digital, bufs, strict=True):
                    if p.grad is not None:
                        p.sub_(buf.mul_(cfg.momentum).add_(p.grad), alpha=cfg.lr)
            for j, layer in enumerate(layers):
                if layer.weight.grad is not None:
                    updater.step(j, layer.weight.grad)
            total += loss.item()
            batches += 1
            steps += 1
        epoch_loss = total / max(1, batches)
        if not math.isfinite(epoch_loss):
            raise TrainingDiverged(f"training loss is {epoch_loss} after {steps} steps (lr={cfg.lr})")
    model.eval()
    tagged = updater.counters()
    kinds = sorted({k for k, _ in tagged} - {"weights"})
    by_kind = tuple((k, summarize([c for kk, c in tagged if kk == k])) for k in kinds)
    extra = sum(c.numel() for k, c in tagged if k == "momentum")
    return TrainResult(
        seconds=time.perf_counter() - start,
        steps=steps,
        final_loss=epoch_loss,
        writes=summarize([c for _, c in tagged]),
        train_samples=cfg.epochs * n,
        digital_bits_per_weight=updater.digital_bits_per_weight,
        writes_by_kind=by_kind,
        extra_devices=extra,
    )


__all__ = [
    "DigitalMomentum",
    "MixedPrecision",
    "PulsedSGD",
    "Updater",
    "UpdaterFactory",
    "quantize_update",
    "train_onchip",
]
