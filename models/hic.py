"""Hybrid in-memory computing (HIC) training [HIC]: binary MSB devices + multi-level LSB devices.

A weight is ``ε_w·Σ_k s_k·d_k`` with signed digits ``d_k`` (least significant first): the
first ``multilevel_devices`` slices hold ``|d| ≤ L−1``, the ``binary_devices`` above them
``|d| ≤ 1``; each slice is a device pair (the digit sits on the device of its sign), and
``s_k`` is the significance of :func:`models.crossbar.slice_significance` (positional, or
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

from models.config import AnalogConfig, TrainConfig
from models.crossbar import max_code, slice_caps, slice_significance
from models.layers import AnalogMatrix
from models.onchip import FLOAT_STATE_BITS, DigitalMomentum
from models.pulses import INIT_FRACTION, PulseModel, stochastic_round


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
    sig = torch.tensor(significance, dtype=digits.dtype).view(-1, *([1] * (digits.dim() - 1)))
    return (digits * sig).sum(dim=0)


def accumulate(acc: Tensor, update: Tensor) -> tuple[Tensor, Tensor]:
    """Add ``update`` (LSB levels) to the accumulator; return (accumulator with |a| < 1, carry).

    The carry is the whole-level part, trunc(a + u); acc + update = carry + new acc exactly.
    """
    total = acc + update
    carry = torch.trunc(total)
    return total - carry, carry


def device_levels(digits: Tensor) -> Tensor:
    """Levels of each slice's device pair, ``(S, 2, ...)``: the digit on the device of its sign."""
    return torch.stack((digits.clamp_min(0.0), (-digits).clamp_min(0.0)), dim=1)


def level_pulses(old: Tensor, new: Tensor, one_directional: bool) -> Tensor:
    """Pulses that move each device from level ``old`` to ``new`` (0 where unchanged)."""
    down = (1.0 + new) if one_directional else (old - new)
    return torch.where(new >= old, new - old, down)


class HicArray:
    """The device digits, accumulator and write counters of one HIC weight matrix."""

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
        d = torch.zeros(len(self.caps), *w.shape)
        d[0] = torch.round(w / self.lsb)
        self.digits = carry_chain(d, self.caps, self.bases)
        self.acc = torch.zeros_like(w)
        self.counts = torch.ones(len(self.caps), 2, *w.shape, dtype=torch.float64)

    def weight(self) -> Tensor:
        """The weight the devices hold (the accumulator is digital, not read by the array)."""
        return digits_value(self.digits, self.sig) * self.lsb

    def update(self, delta_w: Tensor, gen: torch.Generator) -> None:
        """Accumulate ``delta_w`` (weight units), carry overflow through the slices, count writes."""
        u = delta_w / self.lsb
        if self.grid:
            u = stochastic_round(u * self.grid, gen) / self.grid  # the accumulator's LSB: 1/2^(b−1) level
        self.acc, carry = accumulate(self.acc, u)
        if not bool(carry.any()):
            return
        new = self.digits.clone()
        new[0] += carry
        new = carry_chain(new, self.caps, self.bases)
        self.counts.add_(level_pulses(device_levels(self.digits), device_levels(new), self.one_directional))
        self.digits = new


class Hic:
    """``hic`` updater [HIC]: −lr·v (digital momentum optional) into each layer's :class:`HicArray`."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.gen = layers, gen
        self.arrays = []
        for layer in layers:
            w = layer.weight.detach()
            w_range = max(float(w.abs().max()), 1e-6) / INIT_FRACTION
            self.arrays.append(HicArray(w, w_range, cfg.update_bits, layer.config, layer))
            layer.w_range = w_range  # deployment programs the same device grid
            layer.weight.data.copy_(self.arrays[-1].weight())
        self.momentum = DigitalMomentum(layers, cfg)
        bits = cfg.update_bits if cfg.update_bits is not None else FLOAT_STATE_BITS
        self.digital_bits_per_weight = float(bits + self.momentum.bits)

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        self.arrays[i].update(self.momentum.direction(i, grad), self.gen)
        self.layers[i].weight.data.copy_(self.arrays[i].weight())

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
