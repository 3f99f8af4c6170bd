"""``pcm_2t1c``: the 2PCM + 3T1C training cell of Ambrogio et al. [A18].

Each weight is W = F·(G⁺ − G⁻) + p·(g − g_shared): a PCM pair of high significance F, and a
volatile capacitor pair (a 3T1C capacitor g against a column-shared reference g_shared) of
low significance. In normalized device units, a layer's weight is ``α·(F·ω + p·c)``, with ω
the PCM pair (:class:`~models.physics.pulses.PulsedArray`, the PCM preset's SET-only update
rule with refresh) and c = g − g_shared ∈ [−c_max, c_max], c_max = half the PCM device range
(the capacitor swings over one device's conductance range about g_shared).

- **Updates** go to the capacitor only: Δc = p·Δω_W, stochastically rounded onto the capacitor's
  charge step c_max/2^(b−1) (``cap_update_bits``) and clipped at ±c_max; every nonzero charge
  step counts one capacitor update.
- **Leak**: c decays toward g_shared as e^(−images/τ) (``cap_retention_images``).
- **Transfer** every ``transfer_images`` training images [A18]: the capacitor's contribution p·c
  is written onto the PCM pair as SET pulses on G⁺ (or G⁻ for a negative change), the number
  that brings the device nearest to the target on its nominal pulse response (open loop, so
  the PCM write's c2c and device-to-device error stay in W); then every capacitor is reset to
  g_shared (one capacitor write where it held charge) and the polarity p of the capacitor term
  flips (polarity inversion [A18]).
- At the end of training a last transfer empties the volatile capacitors, so the trained weight
  lives in PCM, and the trained chip that evaluation reads is the PCM pair itself: its two
  conductances ω⁺, ω⁻ (:func:`~models.training.chip.pulsed_chip`, significance α·F).

Counted: PCM pulses (the ``writes`` and endurance columns, refresh included) and capacitor
updates apart (``writes_by_kind`` ``capacitor``: a capacitor has no endurance limit).

Simplifications, stated: during training a read sees the cell's combined weight α·(F·ω + p·c)
on one generic conductance pair (:func:`~models.training.chip.weight_chip`), not the PCM pair
and the capacitor's transistor apart; the capacitor is symmetric (no charge-injection asymmetry), so
polarity inversion changes only the sign bookkeeping here; images are counted as
``batch_size`` per step (the last, smaller batch of an epoch counts in full).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from models.config import TrainConfig
from models.nn.layers import AnalogMatrix
from models.physics.chip import ChipState
from models.physics.pulses import INIT_FRACTION, PulsedArray, uniforms
from models.physics.update_rules import PulseModel, pulses_toward
from models.torch_device import nonzero_indices
from models.training.chip import pulsed_chip, weight_chip
from models.training.onchip import DigitalMomentum, OnChipLoop
from models.training.outcome import TrainResult, summarize


class Pcm2T1C:
    """The updater of ``pcm_2t1c`` (the :class:`~models.training.onchip.Updater` contract)."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.model = PulseModel.of(layers[0].device_spec)
        self.f = cfg.pcm_gain
        self.c_max = (self.model.hi - self.model.lo) / 2
        self.lsb = self.c_max / 2 ** (cfg.cap_update_bits - 1)
        reach = self.f * self.model.reach  # the PCM pair's span, times its significance
        self.alphas = [
            max(float(layer.weight.detach().abs().max()), 1e-6) / (INIT_FRACTION * reach) for layer in layers
        ]
        self.pcm = [
            PulsedArray(layer.weight.detach() / (a * self.f), self.model, gen)
            for layer, a in zip(layers, self.alphas, strict=True)
        ]
        self.caps = [torch.zeros_like(layer.weight.detach()) for layer in layers]
        self.cap_counts = [torch.zeros(c.shape, dtype=torch.float64, device=c.device) for c in self.caps]
        self.polarity = 1.0
        self.momentum = DigitalMomentum(layers, cfg)
        self.digital_bits_per_weight = float(self.momentum.bits)
        self.images = 0
        self.transfers = 0
        self.settled = False
        """True once the last transfer has left every weight in PCM (the end of training)."""
        self._decay = (
            math.exp(-cfg.batch_size / cfg.cap_retention_images) if cfg.cap_retention_images > 0 else 1.0
        )
        for i in range(len(layers)):
            self._write_back(i)

    def _write_back(self, i: int) -> None:
        """layer.weight = α·(F·ω + p·c): what the cell holds."""
        w = torch.add(self.pcm[i].value(), self.caps[i], alpha=self.polarity / self.f)
        torch.mul(w, self.alphas[i] * self.f, out=self.layers[i].weight.data)

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        if i == 0:
            self.images += self.cfg.batch_size
        v = self.momentum.velocity(i, grad)
        cap = self.caps[i]
        if self._decay < 1.0:
            cap.mul_(self._decay)
        # Δc = p·Δω_W in charge steps, stochastically rounded: floor(U + Δ/LSB)
        scale = -self.cfg.lr * self.polarity / (self.alphas[i] * self.lsb)
        q = torch.add(uniforms(v.shape, v.dtype, self.gen), v, alpha=scale).floor_()
        self.cap_counts[i].add_((q != 0).to(torch.float64))
        torch.clamp(cap.add_(q, alpha=self.lsb), -self.c_max, self.c_max, out=cap)
        if i == len(self.layers) - 1 and self.images >= self.cfg.transfer_images:
            self.transfer()
        else:
            self._write_back(i)

    @torch.no_grad()
    def transfer(self) -> None:
        """Write every capacitor's contribution onto its PCM pair, reset the capacitors, invert polarity."""
        for i, (arr, cap) in enumerate(zip(self.pcm, self.caps, strict=True)):
            change = (cap * (self.polarity / self.f)).view(-1)  # in PCM-pair units
            idx = nonzero_indices(change)
            if idx.numel():
                d = change.index_select(0, idx)
                up_dev = d > 0
                start = torch.where(up_dev, arr.pos.reshape(-1)[idx], arr.neg.reshape(-1)[idx])
                up, hi = arr.up.view(-1).index_select(0, idx), arr.hi.view(-1).index_select(0, idx)
                n = pulses_toward(start, start + d.abs(), up, hi, self.model, None)
                arr.pulse_at(idx, torch.where(up_dev, n, -n))
                self.cap_counts[i].view(-1).index_add_(0, idx, torch.ones_like(d, dtype=torch.float64))
            cap.zero_()
        self.polarity = -self.polarity
        self.images = 0
        self.transfers += 1
        for i in range(len(self.layers)):
            self._write_back(i)

    def settle(self) -> None:
        """The end of training: a last transfer empties the capacitors (where any holds charge),
        so from here on the chip is the PCM pairs alone."""
        if any(bool(c.any()) for c in self.caps):
            self.transfer()
        self.settled = True

    def chip(self, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
        """Layer ``i``'s device state: the PCM pair once settled, else the combined weight."""
        if self.settled:
            return pulsed_chip(self.pcm[i], self.alphas[i] * self.f, layer, sample)
        return weight_chip(layer, sample)

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", a.counts) for a in self.pcm] + [("capacitor", c) for c in self.cap_counts]


class Pcm2T1CLoop(OnChipLoop):
    """On-chip training with the 2PCM + 3T1C cell [A18]; at its end a last transfer leaves the
    weights in PCM. ``writes`` counts PCM writes only (endurance); capacitor updates are
    ``writes_by_kind``. The transfer phase (images since the last transfer, polarity) is the
    cell's state, so it runs on across epochs and resumes."""

    updater: Pcm2T1C

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> None:
        super().__init__(model, x, y, cfg, Pcm2T1C)

    def end(self, seconds: float, final_loss: float, samples: int) -> TrainResult:
        cell = self.updater
        cell.settle()  # before the trained chip is taken: evaluation reads what the PCM holds
        result = super().end(seconds, final_loss, samples)
        return dataclasses.replace(
            result,
            writes=summarize([a.counts for a in cell.pcm]),
            writes_by_kind=(("capacitor", summarize(cell.cap_counts)),),
            extra_devices=0,
        )


__all__ = ["Pcm2T1C", "Pcm2T1CLoop"]
