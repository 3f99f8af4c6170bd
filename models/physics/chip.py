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

from models.physics import kernels
from models.physics.devices import (
    PCM_READ_EXP,
    PCM_READ_MAX,
    PCM_READ_Q,
    PCM_READ_T_INFER_S,
    PCM_READ_TR_S,
    DeviceSpec,
    ReadNoiseModel,
)
from models.physics.level_kernel import level_power


@dataclass(frozen=True)
class LevelTable:
    """The few conductances an array's pairs take when each holds an integer digit (HIC's
    slices): pair ``p`` of a weight with digit ``k`` holds ``g[p, :, k + offset]`` (µS)."""

    digits: Tensor
    """Signed integer digits ``(pairs, weights)`` (float; ``|k| ≤ offset``)."""
    offset: int
    """The index of digit 0 in ``g``."""
    g: Tensor
    """Conductances ``(pairs, 2, 2·offset + 1)`` of every digit, computed as the state's are."""


@dataclass(frozen=True)
class ChipState:
    """Conductances of an array's device pairs and how they read as a weight."""

    g: Tensor
    """Conductances ``(pairs, 2, rows, out)`` in µS: (device of +, device of −) per pair."""
    coef: tuple[float, ...]
    """Weight units per µS of ``g⁺ − g⁻``, one per pair."""
    w_max: float
    """Largest |weight| the pairs can hold: the full scale of fixed converter ranges."""
    levels: LevelTable | None = None
    """``g`` as a table of its few values and the digits that pick them (``g[p, j, i] ==
    levels.g[p, j, levels.digits[p, i] + offset]``), where the state has one (a sampled HIC state)."""

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
        if chip.levels is not None:  # per digit, gathered: the same values, no pow per device
            power = level_read_power(chip.levels, device)
            if power is not None:  # each pair's row alone, as the per-device (n,) tensor
                var = sum(c * c * float(power[p].clone().mean()) for p, c in enumerate(chip.coef))
                return read_noise_scale * math.sqrt(var)
        var = sum(
            c * c * float(pcm_read_std_us(chip.g[p], device).square().sum(dim=0).mean())
            for p, c in enumerate(chip.coef)
        )
        return read_noise_scale * math.sqrt(var)
    return 0.0


_TABLES: dict[tuple[object, ...], tuple[Tensor, Tensor] | None] = {}
"""Per-digit read-noise std of the level tables seen, from torch's vectorized and scalar loops."""
_SCALAR_AT: dict[tuple[object, ...], Tensor | bool] = {}
"""Which flat positions of a ``(2, n)`` read-noise computation torch's scalar loop computes (1)."""
VECTOR_COPIES = 64
"""Copies of each table value in the probe of torch's vectorized loop (whole vectors only)."""


def level_read_power(levels: LevelTable, device: DeviceSpec) -> Tensor | None:
    """``Σ_devices pcm_read_std_us(g)²`` per pair and weight ``(P, n)``, as :func:`training_read_std`
    computes it per device, from the per-digit values gathered; None where the positions cannot be told.

    ``pow`` is the one operation whose value depends on the loop: torch computes a tensor's
    entries with its vectorized function except a tail (and thread chunks' tails) with the scalar
    one, and the two differ by an ulp on some values (g_min among them, float32). So each
    digit's std is taken from both loops, and a probe of the same shape says which positions
    the scalar loop computes (once per shape, dtype and thread count): bit for bit the same."""
    tables = _tables(levels.g, device)
    if tables is None:
        return None
    vec, sca = tables  # (P, 2, K) each
    pairs, k = vec.shape[0], vec.shape[-1]
    n = levels.digits[0].numel()
    at = _scalar_positions(n, levels.g, vec, sca, device)
    if at is False:
        return None
    if kernels.ENABLED and vec.device.type == "cpu" and vec.dtype in (torch.float32, torch.float64):
        power = torch.empty(pairs, n, dtype=vec.dtype)
        mask = torch.zeros(2 * n, dtype=torch.uint8) if at is None else at
        digits = levels.digits.reshape(pairs, n)
        level_power(digits.numpy(), levels.offset, vec.numpy(), sca.numpy(), mask.numpy(), power.numpy())
        return power
    both = torch.cat((vec.flatten(1), sca.flatten(1)), dim=1)  # (P, 4K): vector (2K), then scalar
    base = torch.arange(pairs, device=vec.device).mul_(4 * k).add_(levels.offset).view(pairs, 1)
    codes = levels.digits.reshape(pairs, n).long().add_(base)  # integer digits: exact
    idx = torch.stack((codes, codes + k), dim=1).view(pairs, 2 * n)
    if isinstance(at, Tensor):
        idx += at.long() * (2 * k)
    return both.view(-1).index_select(0, idx.view(-1)).view(pairs, 2, n).square().sum(dim=1)


def _tables(g: Tensor, device: DeviceSpec) -> tuple[Tensor, Tensor] | None:
    """Every entry of ``g (P, 2, K)`` through :func:`pcm_read_std_us` in torch's vectorized loop
    (whole vectors) and in its scalar loop (one-entry tensors); cached per table."""
    key = (g.dtype, g.device, device.g_max_us, g.shape, tuple(g.reshape(-1).tolist()))
    if key not in _TABLES:
        one_by_one = torch.stack([pcm_read_std_us(v.reshape(1), device)[0] for v in g.reshape(-1)])
        vector = pcm_read_std_us(g.reshape(-1, 1).expand(-1, VECTOR_COPIES).contiguous(), device)
        ok = bool((vector == vector[:, :1]).all())
        _TABLES[key] = (vector[:, 0].reshape(g.shape), one_by_one.reshape(g.shape)) if ok else None
    return _TABLES[key]


def _scalar_positions(
    n: int, g: Tensor, vec: Tensor, sca: Tensor, device: DeviceSpec
) -> Tensor | bool | None:
    """A mask ``(2n,)`` of the flat positions of a contiguous ``(2, n)`` :func:`pcm_read_std_us`
    that torch computes with its scalar loop (None: the loops agree on every table value), probed
    on a tensor of one value on which they differ; False when a probe entry is neither value."""
    differ = (vec != sca).reshape(-1).nonzero()
    if differ.numel() == 0:
        return None
    key = (n, g.dtype, g.device, torch.get_num_threads())
    if key not in _SCALAR_AT:
        at = int(differ[0, 0])
        value = float(g.reshape(-1)[at])
        probe = pcm_read_std_us(torch.full((2, n), value, dtype=g.dtype, device=g.device), device).reshape(-1)
        is_s = probe == sca.reshape(-1)[at]
        known = bool((is_s | (probe == vec.reshape(-1)[at])).all())
        _SCALAR_AT[key] = is_s.to(torch.uint8) if known else False
    return _SCALAR_AT[key]


__all__ = [
    "ChipState",
    "LevelTable",
    "additive_weight_std",
    "level_read_power",
    "pair_conductances",
    "pcm_read_std_us",
    "training_read_std",
]
