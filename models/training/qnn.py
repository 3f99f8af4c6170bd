"""Quantized (binary/ternary) training with stochastic updates on binary STT-MRAM [G21].

Weights are ``α·s`` with ``s ∈ {−1, +1}`` (binary) or ``{−1, 0, +1}`` (ternary) and one
scale α per layer. GXNOR's discrete-state update: the desired change in state units
``Δz = −lr·v/(α·h)`` (h = 2 binary, 1 ternary) moves ``trunc(Δz)`` states for sure and one
more with probability ``tanh(m·|frac(Δz)|)``. That Bernoulli draw is the MTJ's stochastic
switching: the pulse's amplitude and width set its switching probability [G21].

Each synapse is two MTJs [G21]: ternary ``+1 = (1,0)``, ``0 = (0,0)``, ``−1 = (0,1)``;
binary complementary ``(1,0)``/``(0,1)``. Two events are counted per MTJ: a write attempt
is a switching pulse, applied to every MTJ that the update's full move (deterministic part
plus the stochastic transition, if it fires) would switch, wherever the update is nonzero and
the state is not already at the bound in its direction; a switch (state change, wear) is an MTJ
that actually flipped. A pulse whose stochastic switch does not fire costs write energy and
time but no wear.

Speed: the Bernoulli draw ``u < tanh(m·|ν|)`` is the same event as ``|ν| > atanh(u)/m``, so
the thresholds ``atanh(u)/m`` are precomputed once into a table and read as windows at
random offsets (the noise-table trick of :func:`models.physics.pulses.uniforms`); no ``tanh`` and no
boolean mask per step.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models import torch_device
from models.config import QnnWeights, TrainConfig
from models.nn.layers import AnalogMatrix
from models.physics import mtj_kernel
from models.physics.noise import window
from models.physics.pulses import UNIFORM_TABLE_SIZE
from models.torch_device import flat_indices, per_device, random_int
from models.training.chip import ChipState, qnn_chip
from models.training.onchip import DigitalMomentum
from models.training.outcome import ATTEMPTS

GXNOR_M = 3.0
"""Nonlinearity m of the transition probability tanh(m·|ν|) (GXNOR's default range 1–5) [G21]."""
PENDING_STEPS = 255
"""Steps of the compiled pass between additions of its byte counters (≤ 1 attempt per MTJ a step)."""
_BELOW_ONE = 1.0 - 2.0**-24
"""The largest float32 below 1: |ν| < 1 never exceeds it, so larger thresholds are capped to it."""
_THRESHOLDS: dict[tuple[torch.dtype, torch.device], Tensor] = {}


def switch_thresholds(
    shape: torch.Size | tuple[int, ...], dtype: torch.dtype, generator: torch.Generator
) -> Tensor:
    """Thresholds T = min(atanh(U)/m, 1 − 2⁻²⁴) of ``shape``: a stochastic transition happens
    where |ν| > T, i.e. with probability tanh(m·|ν|) for |ν| < 1. A window at a random offset
    (from ``generator``) into one fixed table kept per torch device (fresh draws for more than half
    the table), on ``generator``'s device. Read-only."""
    n = 1
    for k in shape:
        n *= k
    if n > UNIFORM_TABLE_SIZE // 2:
        return (
            torch.atanh(torch.rand(shape, generator=generator, dtype=dtype, device=generator.device))
            .div_(GXNOR_M)
            .clamp_(max=_BELOW_ONE)
        )
    table = per_device(_THRESHOLDS, dtype, generator.device, _threshold_table)
    start = random_int(UNIFORM_TABLE_SIZE - n + 1, generator)
    return window(table, start, shape)


def _threshold_table(dtype: torch.dtype) -> Tensor:
    """The table, drawn on the CPU from seed 2 (the same values on every device)."""
    gen = torch.Generator(device="cpu").manual_seed(2)
    u = torch.rand(UNIFORM_TABLE_SIZE, generator=gen, dtype=dtype, device="cpu")
    return torch.atanh(u).div_(GXNOR_M).clamp_(max=_BELOW_ONE)


def to_states(w: Tensor, alpha: float, ternary: bool) -> Tensor:
    """Nearest state of ``w/α``: ternary rounds (|w| < α/2 → 0), binary takes the sign (0 → +1)."""
    if ternary:
        return torch.round(w / alpha).clamp_(-1.0, 1.0)
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)  # the scalars alone would give the default dtype


def gxnor_step(s: Tensor, dz: Tensor, ternary: bool, generator: torch.Generator) -> Tensor:
    """New states after the desired change ``dz`` (in units of α): deterministic whole
    transitions plus one stochastic transition with probability tanh(m·|ν|); clipped to the set."""
    h = 1.0 if ternary else 2.0
    return _gxnor(s, dz, 1.0 / h, h, generator, torch.empty_like(s), torch.empty_like(s))


def _gxnor(
    s: Tensor, v: Tensor, scale: float, h: float, gen: torch.Generator, out: Tensor, tmp: Tensor
) -> Tensor:
    """:func:`gxnor_step` for z = scale·v into ``out``: with z = ±(w + |ν|) (w whole), the
    transitions are ±(w + [|ν| > T]) = sign(z)·⌈|z| − T⌉ (T < 1, |ν| − T > −1)."""
    z = torch.mul(v, scale, out=tmp)
    moves = torch.abs(z, out=out).sub_(switch_thresholds(s.shape, s.dtype, gen)).ceil_().mul_(z.sign_())
    return moves.mul_(h).add_(s).clamp_(-1.0, 1.0)


def add_flips_(counter: Tensor, t: Tensor, above: bool, state: Tensor, scratch: Tensor) -> None:
    """``counter += ((t > 0) if above else (t < 0)) ≠ state`` in place (an int32 counter, bool
    ``state`` and ``scratch`` of ``t``'s shape): one per MTJ that a move to ``t`` switches.

    On the CPU through NumPy on the same memory (its float compare is ~7× faster than torch's
    on this build: ~0.1 ms instead of ~0.25 ms per MTJ of a 784×512 layer), elsewhere torch;
    the same counts either way."""
    if torch_device.NUMPY_INDICES and t.device.type == "cpu":
        flips = scratch.numpy()
        (np.greater if above else np.less)(t.numpy(), 0, out=flips)
        np.not_equal(flips, state.numpy(), out=flips)
        np.add(counter.numpy(), flips, out=counter.numpy())
        return
    counter.add_((torch.gt(t, 0) if above else torch.lt(t, 0)).ne_(state))


def mtj_states(s: Tensor) -> Tensor:
    """The synapse's two MTJ states ``(2, ...)``: (s > 0, s < 0)."""
    return torch.stack(((s > 0).to(torch.float64), (s < 0).to(torch.float64)))


class Qnn:
    """``qnn`` updater [G21]: per-layer α = initial max |w|; states from the initial weights."""

    def __init__(self, layers: list[AnalogMatrix], cfg: TrainConfig, gen: torch.Generator) -> None:
        self.layers, self.cfg, self.gen = layers, cfg, gen
        self.ternary = cfg.qnn_weights is QnnWeights.TERNARY
        self.alphas = [max(float(layer.weight.detach().abs().max()), 1e-6) for layer in layers]
        self.states = [
            to_states(layer.weight.detach(), a, self.ternary)
            for layer, a in zip(layers, self.alphas, strict=True)
        ]
        self.counts = [torch.ones(2, *s.shape, dtype=torch.float64, device=s.device) for s in self.states]
        # write attempts, counted densely every step: int32 (exact to 2^31 pulses; float64 cost
        # 2–4 ms a step on the benchmark MLP), read as float64 through :attr:`attempts`
        self._attempts = [torch.ones(2, *s.shape, dtype=torch.int32, device=s.device) for s in self.states]
        # the compiled CPU pass counts into one byte per MTJ (a quarter of the int32 traffic: the
        # pass is memory-bound), added to the int32 counters every 255 of its steps (before one
        # could overflow); :attr:`attempts` reads the sum
        self._pending = [torch.zeros(2, *s.shape, dtype=torch.uint8, device=s.device) for s in self.states]
        self._pending_steps = [0] * len(self.states)
        self._signs = [(s > 0, s < 0) for s in self.states]  # the MTJ states, kept beside s
        self._flips = [torch.empty_like(p) for p, _ in self._signs]  # scratch of :func:`add_flips_`
        self._bufs = [torch.empty_like(s) for s in self.states]
        self._gaps = [torch.empty_like(s) for s in self.states]
        self.momentum = DigitalMomentum(layers, cfg)
        self.digital_bits_per_weight = float(self.momentum.bits)
        for i in range(len(layers)):
            self.layers[i].weight.data.copy_(self.states[i] * self.alphas[i])

    @torch.no_grad()
    def chip(self, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
        """The device state of layer ``i``: its two MTJs (:func:`~models.training.chip.qnn_chip`)."""
        return qnn_chip(self.states[i], self.alphas[i], layer, sample)

    def step(self, i: int, grad: Tensor) -> None:
        h = 1.0 if self.ternary else 2.0
        c = -self.cfg.lr / (self.alphas[i] * h)  # z = c·v
        state = (self.states[i], *self._signs[i])
        weight = self.layers[i].weight.data
        buf = self.momentum.bufs[i] if self.momentum.on else None
        same = grad.dtype == weight.dtype == state[0].dtype and (buf is None or buf.dtype == grad.dtype)
        if same and mtj_kernel.fits(grad, buf, *state, self._pending[i], self.counts[i], weight):
            # the compiled CPU pass: the momentum and the same arithmetic as below, one pass
            thresholds = switch_thresholds(grad.shape, grad.dtype, self.gen)
            momentum = None if buf is None else (buf, self.cfg.momentum)
            mtj_kernel.step(
                grad,
                momentum,
                thresholds,
                state,
                self._pending[i],
                self.counts[i],
                weight,
                c,
                h,
                self.alphas[i],
            )
            self._pending_steps[i] += 1
            if self._pending_steps[i] == PENDING_STEPS:
                self._flush(i)
            return
        v = self.momentum.velocity(i, grad)
        thresholds = switch_thresholds(v.shape, v.dtype, self.gen)
        # |z| = |v|·|c| (exactly |c·v|); transitions sign(z)·⌈|z| − T⌉ are nonzero exactly where
        # |z| − T > 0: find those first; the attempts take ⌈|z|⌉ from the same pass
        abs_z = torch.abs(v, out=self._bufs[i]).mul_(abs(c))
        gap = torch.sub(abs_z, thresholds, out=self._gaps[i])
        self._count_attempts(i, v, abs_z.ceil_(), c, h)
        idx = flat_indices(gap, lambda a: ~(a <= 0))  # (or NaN)
        if idx.numel() == 0:
            return
        moves = (
            gap.view(-1).index_select(0, idx).ceil_().mul_(torch.sign(v.reshape(-1).index_select(0, idx) * c))
        )
        states = self.states[i].view(-1)
        old = states.index_select(0, idx)
        new = (old + moves * h).clamp_(-1.0, 1.0)
        self.counts[i].view(2, -1).index_add_(1, idx, (mtj_states(new) != mtj_states(old)).double())
        states.scatter_(0, idx, new)
        pos, neg = self._signs[i]
        pos.view(-1).scatter_(0, idx, new > 0)
        neg.view(-1).scatter_(0, idx, new < 0)
        self.layers[i].weight.data.view(-1).scatter_(0, idx, new * self.alphas[i])

    def _count_attempts(self, i: int, v: Tensor, ceil_z: Tensor, c: float, h: float) -> None:
        """Add one pulse to every MTJ the full move ``sign(z)·⌈|z|⌉`` (z = c·v, ``ceil_z`` = ⌈|z|⌉)
        would switch: target t = clip(s + h·⌈|z|⌉·sign(z)), MTJ 0 where (t > 0) ≠ (s > 0), MTJ 1
        where (t < 0) ≠ (s < 0) (bool and int32 passes; :func:`mtj_states` states the pair).
        sign(z) is sign(c)·sign(v) wherever ⌈|z|⌉ ≠ 0 (c·v underflows only where |z| does), and
        the products are small integers, so t is the same."""
        sign_c = 1.0 if c > 0 else -1.0
        # t unclipped: clipping to [−1, 1] keeps the signs that the MTJ states compare (NaN too)
        t = torch.addcmul(self.states[i], ceil_z, torch.sign(v), value=h * sign_c)
        pos, neg = self._signs[i]
        add_flips_(self._attempts[i][0], t, True, pos, self._flips[i])
        add_flips_(self._attempts[i][1], t, False, neg, self._flips[i])

    def _flush(self, i: int) -> None:
        """Add layer ``i``'s byte counters to its int32 attempt counters and clear them."""
        self._attempts[i].add_(self._pending[i])
        self._pending[i].zero_()
        self._pending_steps[i] = 0

    @property
    def attempts(self) -> list[Tensor]:
        """Write attempts per MTJ ``(2, ...)`` per layer (float64, as the switch counters)."""
        return [a.double().add_(p) for a, p in zip(self._attempts, self._pending, strict=True)]

    def counters(self) -> list[tuple[str, Tensor]]:
        return [("weights", c) for c in self.counts] + [(ATTEMPTS, a) for a in self.attempts]


__all__ = ["GXNOR_M", "Qnn", "add_flips_", "gxnor_step", "mtj_states", "switch_thresholds", "to_states"]
