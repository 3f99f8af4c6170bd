"""Hybrid in-memory computing (HIC) training [HIC]: binary MSB devices + multi-level LSB devices.

A weight is ``ε_w·Σ_k s_k·d_k`` with signed digits ``d_k`` (least significant first): the
first ``multilevel_devices`` slices hold ``|d| ≤ L−1``, the ``binary_devices`` above them
``|d| ≤ 1``; each slice is a device pair (the digit sits on the device of its sign), and
``s_k`` is the significance of :func:`models.physics.crossbar.slice_significance` (positional, or
``slice_base^k``). Updates go to a digital accumulator of ``update_bits`` holding less than
one LSB level; its overflow (carry) changes the least significant digit, whose overflow
carries on to the binary devices; the most significant slice saturates.

Writes: a device whose level rises by n takes n SET pulses; one that falls takes n pulses
on a bidirectional device, or one RESET plus its new level's SET pulses on a one-directional
one (PCM). Programming the initial weights counts one write per device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.allocator import scattered_empty
from models.config import AnalogConfig, TrainConfig
from models.nn.layers import AnalogMatrix
from models.physics import hic_kernel
from models.physics.crossbar import max_code, slice_caps, slice_significance
from models.physics.pulses import INIT_FRACTION, PulseModel, uniforms
from models.torch_device import whole_indices
from models.training.chip import ChipState, hic_chip
from models.training.onchip import FLOAT_STATE_BITS, DigitalMomentum


def slice_bases(caps: list[int], significance: list[float]) -> list[int]:
    """Integer ratios ``s_{k+1}/s_k`` the carry chain needs; each in ``2 … 2·cap_k+1`` so a carry
    always brings the digit back into ``[−cap_k, cap_k]``."""
    bases = []
    for k in range(len(caps) - 1):
        ratio = significance[k + 1] / significance[k]
        base = round(ratio)
        if abs(ratio - base) > 1e-9 or not 2 <= base <= 2 * caps[k] + 1:
            raise ValueError(
                f"hic needs an integer significance ratio in 2..{2 * caps[k] + 1} between slices {k} and "
                f"{k + 1} (levels {caps[k] + 1}); got {ratio:g}: choose slice_base accordingly"
            )
        bases.append(base)
    return bases


def carry_chain(digits: Tensor, caps: list[int], bases: list[int]) -> Tensor:
    """Bring every digit into ``[−cap_k, cap_k]`` by carrying ``⌈(|d|−cap)/B⌉`` of its sign to the
    next slice; the value Σ s_k d_k is unchanged except where the top slice saturates."""
    d = digits.clone()
    for k, base in enumerate(bases):
        carry = torch.sign(d[k]) * torch.ceil((d[k].abs() - caps[k]).clamp_min(0.0) / base)
        d[k] -= carry * base
        d[k + 1] += carry
    d[-1].clamp_(-caps[-1], caps[-1])
    return d


def digits_value(digits: Tensor, significance: list[float]) -> Tensor:
    """Σ_k s_k·d_k in LSB levels."""
    sig = torch.tensor(significance, dtype=digits.dtype, device=digits.device)
    sig = sig.view(-1, *([1] * (digits.dim() - 1)))
    return (digits * sig).sum(dim=0)


def accumulate(acc: Tensor, update: Tensor) -> tuple[Tensor, Tensor]:
    """Add ``update`` (LSB levels) to the accumulator; return (accumulator with |a| < 1, carry).

    The carry is the whole-level part, trunc(a + u); acc + update = carry + new acc exactly.
    """
    total = acc + update
    rest = torch.frac(total)  # total − trunc(total), exactly (torch.trunc is ~30× slower here)
    return rest, total - rest


def device_levels(digits: Tensor) -> Tensor:
    """Levels of each slice's device pair, ``(S, 2, ...)``: the digit on the device of its sign."""
    return torch.stack((digits.clamp_min(0.0), (-digits).clamp_min(0.0)), dim=1)


def level_pulses(old: Tensor, new: Tensor, one_directional: bool) -> Tensor:
    """Pulses that move each device from level ``old`` to ``new`` (0 where unchanged; whole levels)."""
    rise = new - old
    if not one_directional:
        return rise.abs_()
    fell = torch.clamp(rise, max=0.0).neg_().clamp_(max=1.0)  # 1 where the level fell, else 0
    return rise.clamp_(min=0.0).addcmul_(fell, 1.0 + new)


class HicArray:
    """The device digits, accumulator and write counters of one HIC weight matrix.

    An update is dense only up to the accumulator; the carry chain and the write counts then
    run on the few weights whose accumulator overflowed, and the weight (:attr:`value`) changes
    there only. A weight's digits are stored side by side, and so are its counters (each one
    cache line for a carry to fetch: the carries are scattered, so the lines they touch, not
    the arithmetic, are what a carry costs); :attr:`digits` and :attr:`counts` are views,
    slices first.
    """

    def __init__(
        self, w: Tensor, w_range: float, bits: int | None, device_cfg: AnalogConfig, layer: AnalogMatrix
    ) -> None:
        dev = layer.device_spec
        self.caps = slice_caps(dev, device_cfg)
        self.sig = slice_significance(dev, device_cfg)
        self.bases = slice_bases(self.caps, self.sig)
        self.lsb = w_range / max_code(dev, device_cfg)
        self.grid = 2 ** (bits - 1) if bits is not None else 0
        self.one_directional = PulseModel.of(dev).one_directional
        self.multilevel = device_cfg.multilevel_devices
        slices = len(self.caps)
        d = torch.zeros(slices, *w.shape, dtype=w.dtype, device=w.device)  # the weights' dtype
        d[0] = torch.round(w / self.lsb)
        self._digits = scattered_empty((w.numel(), slices), w.dtype, w.device)  # digits side by side
        self._digits.copy_(carry_chain(d, self.caps, self.bases).reshape(slices, -1).T)
        self._counts = scattered_empty((w.numel(), slices, 2), torch.float64, w.device).fill_(1.0)
        self._shape = w.shape
        self.acc = scattered_empty(tuple(w.shape), w.dtype, w.device).zero_()
        self.value = scattered_empty(tuple(w.shape), w.dtype, w.device).copy_(self.weight())
        """The weight the devices hold, kept up to date by :meth:`update` (read-only)."""
        self._buf = torch.empty_like(w)
        self._cols = torch.arange(2 * slices, device=w.device)
        self._kernel: hic_kernel.State | None = None  # the compiled pass's views, made once

    @property
    def digits(self) -> Tensor:
        """Signed digit per slice, ``(slices, ...)`` (a view of the weights' rows of digits)."""
        return self._digits.T.unflatten(1, self._shape)

    def digits_at(self, flat: Tensor) -> Tensor:
        """The digits of the weights at the flat indices ``flat``, ``(slices, len(flat))``: one row
        gathered per weight (the chip's read-noise estimate samples 16k weights every 10 steps)."""
        return self._digits.index_select(0, flat).T

    @property
    def counts(self) -> Tensor:
        """Writes per device, ``(slices, 2, ...)`` float64 (a view)."""
        return self._counts.permute(1, 2, 0).unflatten(2, self._shape)

    def weight(self) -> Tensor:
        """The weight the devices hold (the accumulator is digital, not read by the array)."""
        return digits_value(self.digits, self.sig) * self.lsb

    def update(self, delta_w: Tensor, gen: torch.Generator, scale: float = 1.0) -> Tensor:
        """Accumulate ``scale·delta_w`` (weight units), carry overflow through the slices, count
        writes; returns the flat indices of the weights that may have changed."""
        found = self.fused_update(delta_w, None, 0.0, gen, scale, None)
        return found if found is not None else self._torch_update(delta_w, gen, scale)

    def fused_update(
        self,
        g: Tensor,
        momentum: Tensor | None,
        mu: float,
        gen: torch.Generator,
        scale: float,
        weight: Tensor | None,
    ) -> Tensor | None:
        """:meth:`update` by the compiled CPU pass (:mod:`models.physics.hic_kernel`) of
        ``v = g + μ·momentum`` (into ``momentum``; v = g without it), writing the carried weights
        to ``weight`` too (if given); the carried flat indices, or None where the kernel does not
        apply (then nothing is drawn or changed: the caller's torch path runs)."""
        state = self._kernel_state()
        if state is None or not state.fits(g, *(t for t in (momentum, weight) if t is not None)):
            return None
        u = uniforms(self.acc.shape, self.acc.dtype, gen) if self.grid else None
        c = scale / self.lsb  # weight units → LSB levels
        consts = (mu, c * self.grid if self.grid else c, 1.0 / max(self.grid, 1), self.lsb)
        return hic_kernel.step(g, momentum, u, state, weight, consts)

    def _kernel_state(self) -> hic_kernel.State | None:
        """The kernel's view of this array (made once; again if a state tensor was replaced)."""
        tensors = (self.acc, self._digits, self._counts, self.value)
        state = self._kernel
        if state is None or any(a is not b for a, b in zip(state.tensors, tensors, strict=True)):
            state = self._kernel = hic_kernel.State.of(
                tensors, self.caps, self.bases, self.sig, self.one_directional
            )
        return state

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the kernel's NumPy views (they would come back as copies)."""
        state = self.__dict__.copy()
        state["_kernel"] = None
        return state

    def _torch_update(self, delta_w: Tensor, gen: torch.Generator, scale: float) -> Tensor:
        """:meth:`update` in torch calls: the reference, and the path on other torch devices."""
        acc = self.acc
        c = scale / self.lsb  # weight units → LSB levels
        if self.grid:  # the accumulator's LSB, 1/2^(b−1) level: stochastic rounding floor(U + u·grid)
            u = uniforms(acc.shape, acc.dtype, gen)
            u = torch.add(u, delta_w, alpha=c * self.grid, out=self._buf)
            acc.add_(u.floor_(), alpha=1.0 / self.grid)
        else:
            acc.add_(delta_w, alpha=c)
        idx, carry = self._carries(acc)
        if idx.numel() == 0:
            return idx
        slices = len(self.caps)
        at = (idx * (2 * slices)).unsqueeze(1) + self._cols  # flat indices of the counters' rows
        old = self._digits.index_select(0, idx).T  # (S, k)
        new = old.clone()
        new[0] += carry  # trunc(total)
        # the other digits are within their caps already: unless the first leaves its cap (or is
        # NaN), no slice carries and the chain changes nothing (it costs ~20 small ops)
        if bool((~(new[0].abs() <= self.caps[0])).any()):
            new = carry_chain(new, self.caps, self.bases)
        pulses = level_pulses(device_levels(old), device_levels(new), self.one_directional)  # (S, 2, k)
        self._counts.view(-1).index_add_(0, at.view(-1), pulses.permute(2, 0, 1).reshape(-1).double())
        self._digits.index_copy_(0, idx, new.T)
        self.value.view(-1).scatter_(0, idx, digits_value(new, self.sig) * self.lsb)
        return idx

    @staticmethod
    def _carries(acc: Tensor) -> tuple[Tensor, Tensor]:
        """(flat indices, trunc) where |acc| ≥ 1 (or NaN), whose accumulators keep their fraction."""
        idx = whole_indices(acc)  # |acc| ≥ 1 (or NaN): a carry
        flat = acc.view(-1)
        total = flat.index_select(0, idx)
        rest = torch.frac(total)
        flat.scatter_(0, idx, rest)
        return idx, total - rest


class Hic:
    """``hic`` updater [HIC]: −lr·v (digital momentum optional) into each layer's :class:`HicArray`."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.arrays = []
        for layer in layers:
            w = layer.weight.detach()
            w_range = max(float(w.abs().max()), 1e-6) / INIT_FRACTION
            self.arrays.append(HicArray(w, w_range, cfg.update_precision, layer.config, layer))
            layer.w_range = w_range  # deployment programs the same device grid
            layer.weight.data.copy_(self.arrays[-1].weight())
        self.momentum = DigitalMomentum(layers, cfg)
        bits = cfg.update_precision if cfg.update_precision is not None else FLOAT_STATE_BITS
        self.digital_bits_per_weight = float(bits + self.momentum.bits)

    @torch.no_grad()
    def chip(self, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
        """The device state of layer ``i``: its slices (:func:`~models.training.chip.hic_chip`)."""
        return hic_chip(self.arrays[i], layer, sample)

    def step(self, i: int, grad: Tensor) -> None:
        arr, momentum = self.arrays[i], self.momentum
        weight = self.layers[i].weight.data
        buf = momentum.bufs[i] if momentum.on else None
        if arr.fused_update(grad, buf, self.cfg.momentum, self.gen, -self.cfg.lr, weight) is not None:
            return  # the compiled CPU pass: momentum, update and the carried weights' write-back
        idx = arr.update(momentum.velocity(i, grad), self.gen, scale=-self.cfg.lr)
        # only the carried weights change (analog weights change only by the updater's writes)
        weight.view(-1).scatter_(0, idx, arr.value.view(-1).index_select(0, idx))

    def counters(self) -> list[tuple[str, Tensor]]:
        out: list[tuple[str, Tensor]] = []
        for a in self.arrays:
            m = a.multilevel
            if m:
                out.append(("multilevel", a.counts[:m]))
            if m < len(a.caps):
                out.append(("binary", a.counts[m:]))
        return out


__all__ = [
    "Hic",
    "HicArray",
    "accumulate",
    "carry_chain",
    "device_levels",
    "digits_value",
    "level_pulses",
    "slice_bases",
]
