"""What a network's reads did on the chips it was evaluated on: DAC codes and device conductances.

The cell read costs V²·G·t per driven device [NS], so a row's energy needs the input codes its
layers actually converted and the conductances of the chips that were read; ``models.cost.reads``
turns them into each layer's input duty and pair conductance. :class:`ReadActivity` sets a
:class:`CodeCounter` on every analog layer for the test passes of one reading per chip, and adds up
the devices' conductances each time a chip is programmed (programming noise and stuck devices
included; a trained chip's devices as training left them). Counts are integers and conductance
sums float64 in a fixed order, so a replay reproduces them bit for bit at any thread count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.nn.networks import analog_layers
from models.physics.converters import RANGE_FLOOR

if TYPE_CHECKING:
    from models.nn.layers import AnalogMatrix

__all__ = ["CodeCounter", "LayerActivity", "ReadActivity", "full_scale_code"]


def full_scale_code(bits: int, signed: bool) -> int:
    """The largest |code| of a ``bits``-bit DAC: ``2^(b-1) − 1`` signed (1 for a signed 1-bit DAC,
    whose codes are ±1), ``2^b − 1`` unsigned (``models.physics.converters.quantize_uniform``)."""
    if signed:
        return 1 if bits == 1 else 2 ** (bits - 1) - 1
    return 2**bits - 1


class CodeCounter:
    """Histograms of the |codes| one layer's DAC converts, by full-scale code: one count per
    (row, input vector) drive, kept as integers on the layer's torch device."""

    def __init__(self) -> None:
        self.hist: dict[int, Tensor] = {}
        self._patches: dict[tuple[int, int, str], tuple[Tensor, int]] = {}

    @torch.no_grad()
    def add(self, layer: AnalogMatrix, q: Tensor, r: float, signed: bool) -> None:
        """Count the codes of ``q``, the DAC output at range ``r``. A 4-D ``q`` is the image a
        convolution reads as im2col patches: each pixel drives one row of every patch that holds
        it, and the patches' zero padding drives rows at code 0."""
        bits = layer.config.dac_bits
        if bits is None:  # ideal inputs: no codes (their rows charge the fixed input_duty)
            return
        n = full_scale_code(bits, signed)
        codes = q.abs().mul_(n / max(r, RANGE_FLOOR)).round_().clamp_(max=n).to(torch.int32).flatten()
        if q.dim() == 4:
            mult, padding = self._multiplicity(layer, q)
            weights = mult.expand(q.shape).reshape(-1)  # integers < 2^53: float64 sums are exact
            hist = torch.bincount(codes, weights=weights, minlength=n + 1).round_().to(torch.int64)
            hist[0] += padding * q.shape[0] * q.shape[1]
        else:
            hist = torch.bincount(codes, minlength=n + 1)
        old = self.hist.get(n)
        self.hist[n] = hist if old is None else old + hist

    def _multiplicity(self, layer: AnalogMatrix, q: Tensor) -> tuple[Tensor, int]:
        """(patches holding each pixel ``(h, w)``, padding entries per image channel)."""
        key = (q.shape[2], q.shape[3], str(q.device))
        if key not in self._patches:
            geometry = (layer.kernel_size, layer.dilation, layer.padding, layer.stride)
            ones = torch.ones(1, 1, q.shape[2], q.shape[3], dtype=torch.float64, device=q.device)
            patches = F.unfold(ones, *geometry)  # (1, kh·kw, positions): 1 where a pixel sits
            mult = F.fold(patches, (q.shape[2], q.shape[3]), *geometry)[0, 0]
            self._patches[key] = (mult, int(patches.numel() - int(patches.sum())))
        return self._patches[key]

    def counts(self) -> dict[int, tuple[int, ...]]:
        """The histograms as Python integers (one device-to-host copy each)."""
        return {n: tuple(int(v) for v in h.cpu().tolist()) for n, h in sorted(self.hist.items())}


@dataclass(frozen=True)
class LayerActivity:
    """One analog layer's reads over the evaluated chips."""

    codes: dict[int, tuple[int, ...]]
    """Full-scale code → histogram of |code| over every (row, input vector) drive counted."""
    g_sum_us: float
    """Conductance (µS) of every device of the layer, summed over the evaluated chips (float64)."""
    chips: int
    """Chips programmed (hardware seeds)."""
    weights: int
    """Weights of the layer (rows × outputs)."""


class ReadActivity:
    """Counts a network's DAC codes at one reading of each chip and sums its chips' conductances."""

    def __init__(self, model: nn.Module, at: tuple[float, bool]) -> None:
        self.layers = analog_layers(model)
        self.at = at
        """(read time in s, GDC) of the test pass whose codes are counted on each chip."""
        self._counters = [CodeCounter() for _ in self.layers]
        self._g_sums = [0.0] * len(self.layers)
        self._chips = 0

    @torch.no_grad()
    def programmed(self) -> None:
        """A chip was just programmed (t = 0): add its devices' conductances, layer by layer."""
        for i, layer in enumerate(self.layers):
            g = layer._g  # (pairs or slices, 2, rows, out) µS, stuck devices forced
            if layer.device_spec.analog and g is not None:
                self._g_sums[i] += float(g.detach().cpu().numpy().astype(np.float64).sum())
        self._chips += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the DAC codes of the passes run inside."""
        for layer, counter in zip(self.layers, self._counters, strict=True):
            layer.dac_counter = counter
        try:
            yield
        finally:
            for layer in self.layers:
                layer.dac_counter = None

    def result(self) -> list[LayerActivity]:
        """Each layer's counted codes and conductance sum, in forward order."""
        return [
            LayerActivity(c.counts(), g, self._chips, int(layer.weight.numel()))
            for layer, c, g in zip(self.layers, self._counters, self._g_sums, strict=True)
        ]
