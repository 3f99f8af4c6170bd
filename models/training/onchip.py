"""On-chip training: forward and backward through the simulated crossbars, updates as device writes.

:class:`OnChipLoop` is the epoch loop shared by every on-chip mode. An :class:`Updater` turns
each analog layer's gradient into writes on that layer's devices; digital parameters
(biases, normalization) take plain SGD with momentum beside the array. This module holds
the pulsed-SGD updater (``onchip_sgd``, momentum none / digital / in memory [G19]) and
the mixed-precision updater (``mixed_precision`` [N20]); ``models/training/hic.py`` and
``models/training/qnn.py`` hold the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from models.config import MomentumPlacement, TrainConfig
from models.nn.layers import AnalogMatrix
from models.nn.networks import analog_layers
from models.physics import chi_kernel, row_update
from models.physics.pulses import (
    MAX_PULSES_PER_UPDATE,
    PulsedArray,
    PulseModel,
    chi_grid,
    chi_transfer,
    layer_scale,
    stochastic_round,
    stochastic_round_,
    uniforms,
)
from models.torch_device import device_of, flat_indices, nonzero_indices, seeded, shuffled_batches
from models.training.chip import ChipState, TrainingChip, pulsed_chip
from models.training.outcome import ATTEMPTS, TrainResult, summarize

FLOAT_STATE_BITS = 32
"""Bits of a floating-point digital register (momentum, a float χ or accumulator)."""


class Updater(Protocol):
    """Turns gradients of analog layers into device writes.

    Contract: built on the layers before training (it programs the initial weights and
    counts that programming); :meth:`step` is called once per optimizer step for every
    analog layer ``i`` after the backward pass, and leaves ``layer.weight`` equal to what
    the devices now hold; :meth:`counters` returns one write counter per physical device,
    tagged by device set (``weights``, ``binary``, ``multilevel``, ``momentum``) and counting
    state changes; counters tagged ``attempts`` count write pulses instead, where they differ.
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

    def velocity(self, i: int, grad: Tensor) -> Tensor:
        """v for this step (read-only: ``grad`` itself or the momentum buffer); the change is −lr·v."""
        if not self.on:
            return grad
        return torch.add(grad, self.bufs[i], alpha=self.cfg.momentum, out=self.bufs[i])

    def register(self, i: int) -> tuple[Tensor, float] | None:
        """(buffer, μ) of layer ``i`` for a kernel that forms v itself (as :meth:`velocity`), or None."""
        return (self.bufs[i], self.cfg.momentum) if self.on else None

    def direction(self, i: int, grad: Tensor) -> Tensor:
        """The desired weight change for this step (weight units)."""
        return self.velocity(i, grad) * -self.cfg.lr


def device_arrays(
    layers: list[AnalogMatrix], gen: torch.Generator
) -> tuple[PulseModel, list[float], list[PulsedArray]]:
    """The pulse model of the layers' device, each layer's weight scale α, and a pulsed device
    array per layer holding its weights in device units (w/α)."""
    model = PulseModel.of(layers[0].device_spec)
    alphas = [layer_scale(layer.weight.detach(), model) for layer in layers]
    arrays = [
        PulsedArray(layer.weight.detach() / a, model, gen) for layer, a in zip(layers, alphas, strict=True)
    ]
    return model, alphas, arrays


class PulsedSGD:
    """``onchip_sgd``: each update −lr·v/α (optionally rounded to ``update_bits``) becomes
    stochastically rounded pulses of the device step [A]; in-memory momentum is a second device
    array updated by pulses toward μm − lr·g/α, whose writes count too [G19]."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.model, self.alphas, self.arrays = device_arrays(layers, gen)
        self.in_memory = cfg.momentum_placement is MomentumPlacement.IN_MEMORY and cfg.momentum > 0
        zeros = [torch.zeros_like(layer.weight.detach()) for layer in layers]
        # momentum devices are read whole every step: kept as separate tensors (packed=False)
        self.moments = (
            [PulsedArray(z, self.model, gen, packed=False) for z in zeros] if self.in_memory else []
        )
        self.momentum = DigitalMomentum(layers, cfg)
        self.digital_bits_per_weight = float(self.momentum.bits)
        self._bufs = [torch.empty_like(layer.weight.detach()) for layer in layers]
        self._rows: list[row_update.RowUpdate | None] | None = None
        """The layers' compiled row updates, made at the first step (never pickled: NumPy views)."""
        for i in range(len(layers)):
            self._write_back(i)

    def __getstate__(self) -> dict[str, object]:
        """Pickled (checkpoint, copy) without the row updates: their NumPy views would become copies."""
        state = self.__dict__.copy()
        state["_rows"] = None
        return state

    def chip(self, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
        """The device state of layer ``i`` (:func:`~models.training.chip.pulsed_chip`)."""
        return pulsed_chip(self.arrays[i], self.alphas[i], layer, sample)

    def _pulses(self, d: Tensor) -> tuple[Tensor, Tensor]:
        """Pulses for the desired change ``d`` in steps (Δω/ε, overwritten): rounded to
        ``update_bits`` first if set, then stochastically to whole pulses, capped; returned as
        (flat indices of the weights with pulses, their pulses)."""
        if self.cfg.update_precision is not None:
            quantize_update_(d, self.cfg.update_precision, self.gen)
        return _sparse_pulses(stochastic_round_(d, self.gen))

    def _write_back(self, i: int) -> None:
        torch.mul(self.arrays[i].value(), self.alphas[i], out=self.layers[i].weight.data)

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        buf, eps, lr = self._bufs[i], self.model.dw_min, self.cfg.lr
        if self.in_memory:  # m is pulsed toward μm − lr·g/α, then read as the update
            m = self.moments[i]
            d = torch.mul(grad, -lr / (self.alphas[i] * eps), out=buf)
            m.pulse_at(*self._pulses(d.add_(m.value(), alpha=-(1.0 - self.cfg.momentum) / eps)))
            d = torch.mul(m.value(), 1.0 / eps, out=buf)
        else:
            if self.cfg.update_precision is None:  # fused: floor(U + Δω/ε)
                a = -lr / (self.alphas[i] * eps)
                rows = self._row_updates()[i]
                if rows is not None and rows.step(grad, a, self.gen):  # the row kernels, operands kept
                    return
                u = uniforms(grad.shape, grad.dtype, self.gen)
                found = None
                if not self.arrays[i].dense:  # the compiled CPU pass: v, the same pulses, one loop
                    found = chi_kernel.pulses(grad, u, a, MAX_PULSES_PER_UPDATE, self.momentum.register(i))
                if found is not None:
                    idx, n, sizes = found
                    self.arrays[i].pulse_at(idx, n, (self.layers[i].weight.data, self.alphas[i]), sizes)
                    return
                v = self.momentum.velocity(i, grad)
                d = torch.add(u, v, alpha=-lr / (self.alphas[i] * eps), out=buf).floor_()
                if self.arrays[i].dense and _dense(d):  # else only the pulsed devices are touched
                    self.arrays[i].pulse_dense(d.clamp_(-MAX_PULSES_PER_UPDATE, MAX_PULSES_PER_UPDATE))
                    self._write_back(i)
                    return
                _set_weights(self.layers[i], *self._apply(i, _sparse_pulses(d)), self.alphas[i])
                return
            d = torch.mul(self.momentum.velocity(i, grad), -lr / (self.alphas[i] * eps), out=buf)
        _set_weights(self.layers[i], *self._apply(i, self._pulses(d)), self.alphas[i])

    def _row_updates(self) -> list[row_update.RowUpdate | None]:
        """Each layer's :class:`~models.physics.row_update.RowUpdate` (or None), made once."""
        if self._rows is None:
            weights = [layer.weight for layer in self.layers]
            momenta = [self.momentum.register(i) for i in range(len(self.layers))]
            self._rows = row_update.updates(self.arrays, weights, self.alphas, momenta, MAX_PULSES_PER_UPDATE)
        return self._rows

    def _apply(self, i: int, pulses: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        idx, n = pulses
        return idx, self.arrays[i].pulse_at(idx, n)

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", a.counts) for a in self.arrays] + [("momentum", m.counts) for m in self.moments]


def _set_weights(layer: AnalogMatrix, idx: Tensor, omega: Tensor, alpha: float) -> None:
    """Write the changed weights α·ω at flat indices ``idx`` into the layer (the others are
    unchanged: analog weights change only by the updater's writes)."""
    layer.weight.data.view(-1).scatter_(0, idx, omega * alpha)


DENSE_FRACTION = 0.02
"""Above this fraction of pulsed devices (sampled), a bidirectional array is updated densely."""


def _dense(n: Tensor) -> bool:
    """Whether more than :data:`DENSE_FRACTION` of ``n`` is nonzero, from a strided sample."""
    sample = n.view(-1)[::61]
    return sample.numel() >= 64 and int(torch.count_nonzero(sample)) > DENSE_FRACTION * sample.numel()


def _sparse_pulses(n: Tensor) -> tuple[Tensor, Tensor]:
    """(flat indices, pulses capped at ±:data:`MAX_PULSES_PER_UPDATE`) of the nonzero whole numbers ``n``."""
    idx = nonzero_indices(n)
    return idx, n.reshape(-1).index_select(0, idx).clamp_(-MAX_PULSES_PER_UPDATE, MAX_PULSES_PER_UPDATE)


def _beyond(x: Tensor, threshold: float) -> Tensor:
    """Flat indices where ``|x| ≥ threshold`` (or NaN), on ``x``'s device."""
    return flat_indices(x, lambda a: ~((a < threshold) & (a > -threshold)))


class MixedPrecision:
    """``mixed_precision`` [N20]: χ ← χ + Δ in a digital register of ``update_bits`` (see
    :func:`~models.physics.pulses.chi_grid`: stochastic rounding onto its LSB, saturation); then
    ⌊|χ|/ε⌋ pulses of χ's sign go to the device and are subtracted from χ."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.model, self.alphas, self.arrays = device_arrays(layers, gen)
        self.chi = [torch.zeros_like(layer.weight.detach()) for layer in layers]
        self.lsb, self.saturation = chi_grid(cfg.update_precision, self.model.dw_min)
        self.momentum = DigitalMomentum(layers, cfg)
        bits = cfg.update_precision if cfg.update_precision is not None else FLOAT_STATE_BITS
        self.digital_bits_per_weight = float(bits + self.momentum.bits)
        self._bufs = [torch.empty_like(c) for c in self.chi]
        self._reach = min(self.saturation, self.model.dw_min) * (1 - 1e-5)
        for i, layer in enumerate(layers):
            layer.weight.data.copy_(self.arrays[i].value() * self.alphas[i])

    @torch.no_grad()
    def chip(self, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
        """The device state of layer ``i`` (:func:`~models.training.chip.pulsed_chip`)."""
        return pulsed_chip(self.arrays[i], self.alphas[i], layer, sample)

    def step(self, i: int, grad: Tensor) -> None:
        buf, chi = self._bufs[i], self.chi[i]
        scale = -self.cfg.lr / self.alphas[i]  # Δω = scale·v
        u = uniforms(grad.shape, grad.dtype, self.gen) if self.lsb > 0 else None
        eps = self.model.dw_min
        a = scale if u is None else scale / self.lsb
        register = self.momentum.register(i)
        found = chi_kernel.step(grad, u, chi, a, self.lsb, self._reach, self.saturation, eps, register)
        if found is not None:  # the compiled CPU pass: v and the arithmetic below, one loop
            idx, n, sizes = found
            self.arrays[i].pulse_at(idx, n, (self.layers[i].weight.data, self.alphas[i]), sizes)
            return
        v = self.momentum.velocity(i, grad)
        if u is not None:  # χ += LSB·stochastic_round(Δω/LSB), fused: floor(U + Δω/LSB)
            d = torch.add(u, v, alpha=scale / self.lsb, out=buf)
            chi.add_(d.floor_(), alpha=self.lsb)
        else:
            chi.add_(v, alpha=scale)
        # Saturation and transfer change χ only where |χ| reaches min(saturation, ε); find
        # those (with a margin for rounding) and treat them alone.
        idx = _beyond(chi, self._reach)
        if idx.numel() == 0:
            return
        flat = chi.view(-1)
        c = flat.index_select(0, idx).clamp_(-self.saturation, self.saturation)
        n, rest = chi_transfer(c, self.model.dw_min)
        flat.scatter_(0, idx, rest)
        omega = self.arrays[i].pulse_at(idx, n)  # n = 0 (|χ| just below ε) changes nothing
        _set_weights(self.layers[i], idx, omega, self.alphas[i])

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


def quantize_update_(delta: Tensor, bits: int, generator: torch.Generator) -> Tensor:
    """:func:`quantize_update` in place, with table uniforms
    (:func:`~models.physics.pulses.stochastic_round_`)."""
    scale = float(delta.abs().amax())
    if scale == 0:
        return delta
    step = scale / max(1, 2 ** (bits - 1) - 1)
    return stochastic_round_(delta.div_(step), generator).mul_(step)


class OnChipLoop:
    """Training through the analog forward; analog weights change only by the updater's writes.
    Runs on the model's torch device (its generator and device state too); batches are moved there.

    The chip is read as a chip runs (:class:`~models.training.chip.TrainingChip`): noisy reads,
    stuck devices, calibrated or fixed converter ranges (the schedule counts steps across epochs),
    the backward pass ``cfg.backward``; :meth:`end` makes its final device state each layer's
    ``trained_chip``, which evaluation then reads. Built before the first epoch: it seeds its
    generator and the global stream from ``cfg.seed``, programs the initial weights and
    calibrates the converters on one fixed batch of (x, y), which it keeps by index only."""

    def __init__(
        self, model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, make: UpdaterFactory
    ) -> None:
        self.model, self.cfg = model, cfg
        self.where = device_of(model)
        self.gen = seeded(cfg.seed, self.where)
        torch.manual_seed(cfg.seed)
        self.layers = analog_layers(model)
        for layer in self.layers:
            layer.analog, layer.noise_std = True, 0.0
        self.updater = make(self.layers, cfg, self.gen)
        model.train()
        self.chip = TrainingChip(model, self.layers, self.updater, cfg, x, y)
        analog_ids = {id(layer.weight) for layer in self.layers}
        self.digital = [p for p in model.parameters() if p.requires_grad and id(p) not in analog_ids]
        self.bufs = [torch.zeros_like(p) for p in self.digital]
        self.steps = 0

    def epoch(self, x: Tensor, y: Tensor) -> float:
        """One pass over (x, y) in a freshly drawn order; returns the mean batch loss."""
        cfg, chip, updater = self.cfg, self.chip, self.updater
        loss_fn = nn.CrossEntropyLoss()
        total, batches = 0.0, 0
        for xb, yb in shuffled_batches(x, y, cfg.batch_size, self.gen, self.where):
            chip.before_step(self.steps)
            loss = loss_fn(self.model(xb), yb)
            self.model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p, buf in zip(self.digital, self.bufs, strict=True):
                    if p.grad is not None:
                        p.sub_(buf.mul_(cfg.momentum).add_(p.grad), alpha=cfg.lr)
            for j, layer in enumerate(self.layers):
                if layer.weight.grad is not None:
                    updater.step(j, layer.weight.grad)
            total += loss.item()
            batches += 1
            self.steps += 1
        return total / max(1, batches)

    def end(self, seconds: float, final_loss: float, samples: int) -> TrainResult:
        """The trained chip becomes each layer's ``trained_chip``; the result counts the updater's
        writes (state changes; attempts apart where they differ) and ``samples`` trained."""
        self.chip.finish()
        self.model.eval()
        counters = self.updater.counters()
        tagged = [(k, c) for k, c in counters if k != ATTEMPTS]
        attempts = [c for k, c in counters if k == ATTEMPTS]
        kinds = sorted({k for k, _ in tagged} - {"weights"})
        by_kind = tuple((k, summarize([c for kk, c in tagged if kk == k])) for k in kinds)
        extra = sum(c.numel() for k, c in tagged if k == "momentum")
        return TrainResult(
            seconds=seconds,
            steps=self.steps,
            final_loss=final_loss,
            writes=summarize([c for _, c in tagged]),
            train_samples=samples,
            digital_bits_per_weight=self.updater.digital_bits_per_weight,
            writes_by_kind=by_kind,
            extra_devices=extra,
            attempts=summarize(attempts) if attempts else None,
        )


def onchip_loop(make: UpdaterFactory) -> Callable[[nn.Module, Tensor, Tensor, TrainConfig], OnChipLoop]:
    """The epoch loop of the on-chip mode whose updater ``make`` builds."""

    def loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> OnChipLoop:
        return OnChipLoop(model, x, y, cfg, make)

    return loop


__all__ = [
    "DigitalMomentum",
    "MixedPrecision",
    "OnChipLoop",
    "PulsedSGD",
    "Updater",
    "UpdaterFactory",
    "onchip_loop",
    "quantize_update",
    "quantize_update_",
]
