"""Quantized (binary/ternary) training with stochastic updates on binary STT-MRAM [G21].

Weights are ``α·s`` with ``s ∈ {−1, +1}`` (binary) or ``{−1, 0, +1}`` (ternary) and one
scale α per layer. GXNOR's discrete-state update: the desired change in state units
``Δz = −lr·v/(α·h)`` (h = 2 binary, 1 ternary) moves ``trunc(Δz)`` states for sure and one
more with probability ``tanh(m·|frac(Δz)|)``. That Bernoulli draw is the MTJ's stochastic
switching: the pulse's amplitude and width set its switching probability [G21].

Each synapse is two MTJs [G21]: ternary ``+1 = (1,0)``, ``0 = (0,0)``, ``−1 = (0,1)``;
binary complementary ``(1,0)``/``(0,1)``. A write is one MTJ switching.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.config import QnnWeights, TrainConfig
from models.layers import AnalogMatrix
from models.onchip import DigitalMomentum

GXNOR_M = 3.0
"""Nonlinearity m of the transition probability tanh(m·|ν|) (GXNOR's default range 1–5) [G21]."""


def to_states(w: Tensor, alpha: float, ternary: bool) -> Tensor:
    """Nearest state of ``w/α``: ternary rounds (|w| < α/2 → 0), binary takes the sign (0 → +1)."""
    if ternary:
        return torch.round(w / alpha).clamp_(-1.0, 1.0)
    return torch.where(w >= 0, 1.0, -1.0)


def gxnor_step(s: Tensor, dz: Tensor, ternary: bool, generator: torch.Generator) -> Tensor:
    """New states after the desired change ``dz`` (in units of α): deterministic whole
    transitions plus one stochastic transition with probability tanh(m·|ν|); clipped to the set."""
    h = 1.0 if ternary else 2.0
    z = dz / h
    whole = torch.trunc(z)
    nu = z - whole
    u = torch.rand(s.shape, generator=generator, dtype=s.dtype)
    extra = torch.sign(nu) * (u < torch.tanh(GXNOR_M * nu.abs())).to(s.dtype)
    return (s + (whole + extra) * h).clamp_(-1.0, 1.0)


def mtj_states(s: Tensor) -> Tensor:
    """The synapse's two MTJ states ``(2, ...)``: (s > 0, s < 0)."""
    return torch.stack(((s > 0).to(torch.float64), (s < 0).to(torch.float64)))


class Qnn:
    """``qnn`` updater [G21]: per-layer α = initial max |w|; states from the initial weights."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.gen = layers, gen
        self.ternary = cfg.qnn_weights is QnnWeights.TERNARY
        self.alphas = [max(float(layer.weight.detach().abs().max()), 1e-6) for layer in layers]
        self.states = [
            to_states(layer.weight.detach(), a, self.ternary)
            for layer, a in zip(layers, self.alphas, strict=True)
        ]
        self.counts = [torch.ones(2, *s.shape, dtype=torch.float64) for s in self.states]
        self.momentum = DigitalMomentum(layers, cfg)
        self.digital_bits_per_weight = float(self.momentum.bits)
        for i in range(len(layers)):
            self.layers[i].weight.data.copy_(self.states[i] * self.alphas[i])

    @torch.no_grad()
    def step(self, i: int, grad: Tensor) -> None:
        old = self.states[i]
        new = gxnor_step(old, self.momentum.direction(i, grad) / self.alphas[i], self.ternary, self.gen)
        self.counts[i].add_((mtj_states(new) != mtj_states(old)).to(torch.float64))
        self.states[i] = new
        self.layers[i].weight.data.copy_(new * self.alphas[i])

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", c) for c in self.counts]


__all__ = ["GXNOR_M", "Qnn", "gxnor_step", "mtj_states", "to_states"]
