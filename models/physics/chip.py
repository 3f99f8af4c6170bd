"""The device state of an array trained on chip: the conductances the training left behind.

An on-chip-trained array is evaluated as it is, not reprogrammed (docs/training_modes.md):
its devices keep the conductances, device-to-device variation and faults they had at the end
of training, then drift and are read with noise. :class:`ChipState` holds that state as
``P`` device pairs per weight, ``g (P, 2, rows, out)`` in µS, and reads the weight back as
``w = Σ_p coef_p·(g⁺_p − g⁻_p)`` (``coef`` in weight units per µS). Every on-chip updater's
state maps onto it exactly (``models.training.chip``): a PCM pair ω⁺ − ω⁻, a bidirectional
device against a fixed reference, HIC's slices, a QNN synapse's two MTJs.

Pure tensor functions; the layer composes them (``models.nn.layers``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from models.physics.devices import (
    PCM_READ_EXP,
    PCM_READ_MAX,
    PCM_READ_Q,
    PCM_READ_T_INFER_S,
    PCM_READ_TR_S,
    DeviceSpec,
    ReadNoiseModel,
)


@dataclass(frozen=True)
class ChipState:
    """Conductances of an array's device pairs and how they read as a weight."""

    g: Tensor
    """Conductances ``(pairs, 2, rows, out)`` in µS: (device of +, device of −) per pair."""
    coef: tuple[float, ...]
    """Weight units per µS of ``g⁺ − g⁻``, one per pair."""
    w_max: float
    """Largest |weight| the pairs can hold: the full scale of fixed converter ranges."""

    def weight(self, g: Tensor | None = None) -> Tensor:
        """``Σ_p coef_p·(g⁺_p − g⁻_p)`` of ``g`` (default: the state's own conductances)."""
        g = self.g if g is None else g
        w = (g[0, 0] - g[0, 1]) * self.coef[0]
        for p in range(1, len(self.coef)):
            w = w + (g[p, 0] - g[p, 1]) * self.coef[p]
        return w


def pair_conductances(pos: Tensor, neg: Tensor, full: float, device: DeviceSpec) -> Tensor:
    """One pair ``(1, 2, ...)``: devices holding ``pos`` and ``neg`` (≥ 0, full scale ``full``)
    at ``g_min + value/full·(g_max − g_min)``."""
    span = device.g_max_us - device.g_min_us
    return (device.g_min_us + torch.stack((pos, neg)) * (span / full)).unsqueeze(0)


def additive_weight_std(chip: ChipState, sigma_us: float) -> float:
    """Std of one weight's read noise when each of its devices reads with ``sigma_us`` µS of
    independent noise: ``sigma_us·√(2·Σ_p coef_p²)``."""
    return sigma_us * math.sqrt(2.0 * sum(c * c for c in chip.coef))


def pcm_read_std_us(g: Tensor, device: DeviceSpec, window_s: float = PCM_READ_T_INFER_S) -> Tensor:
    """Per-device std (µS) of PCM's 1/f read noise integrated over ``window_s`` [A]:
    ``g·min(0.0088/x^0.65, 0.2)·√ln((T + t_r)/(2 t_r))``, x = g/g_max, t_r = 250 ns; the window
    defaults to aihwkit's ``t_inference`` of 1 s."""
    x_pow = ((g.abs() / device.g_max_us) ** PCM_READ_EXP).clamp_min(1e-3)
    rel = (PCM_READ_Q / x_pow).clamp(max=PCM_READ_MAX)
    return g.abs() * rel * math.sqrt(math.log((window_s + PCM_READ_TR_S) / (2 * PCM_READ_TR_S)))


def training_read_std(chip: ChipState, device: DeviceSpec, read_noise_scale: float) -> float:
    """Std (weight units) of one weight's noise in one training read, for output-referred draws.

    Additive devices: exact (:func:`additive_weight_std` of ``read_noise·g_max`` [A]). PCM:
    the 1/f noise of a 1 s window (:func:`pcm_read_std_us`) depends on each device's
    conductance; it is applied as its root mean square over the array's devices, so the total
    noise power of a read is right while its spread across outputs is averaged (an
    approximation that keeps the draw output-referred: batch×out normals, not rows×out).
    """
    if read_noise_scale == 0 or not device.analog:
        return 0.0
    if device.read_noise_model is ReadNoiseModel.ADDITIVE:
        return additive_weight_std(chip, read_noise_scale * device.read_noise * device.g_max_us)
    if device.read_noise_model is ReadNoiseModel.PCM_1F:
        var = sum(
            c * c * float(pcm_read_std_us(chip.g[p], device).square().sum(dim=0).mean())
            for p, c in enumerate(chip.coef)
        )
        return read_noise_scale * math.sqrt(var)
    return 0.0


__all__ = ["ChipState", "additive_weight_std", "pair_conductances", "pcm_read_std_us", "training_read_std"]
