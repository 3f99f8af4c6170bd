"""Pulsed device updates: an update becomes a number of device steps with the device's physics.

Weights are held in normalized device units ω (the units of ``DeviceSpec.dw_min`` and the
bounds); a layer's weight is ``α·ω`` with one scale α per layer. The update model is
aihwkit's constant-step pulsed device [A]: an up pulse moves ω by ``dw_min·(1+a)``, a down
pulse by ``dw_min·(1−a)`` (a = ``up_down_asymmetry``), each step scaled per device by
``1 + d2d·ξ`` and per pulse by ``1 + c2c·ξ``; ω is clipped at per-device bounds. A device
with ``a ≥ 1`` only steps up (PCM SET); it is used as a pair ω = ω⁺ − ω⁻ whose devices
are RESET and reprogrammed when one nears its bound (refresh) [N20, A18].

Pure functions compute the arithmetic; :class:`PulsedArray` holds one matrix's device
state and its per-device write counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from models.devices import DeviceSpec
from models.layers import normals

MAX_PULSES_PER_UPDATE = 31
"""Most pulses one update may apply to a device: aihwkit's default pulse-train length [A]."""
INIT_FRACTION = 0.25
"""The initial largest |weight| maps to this fraction of the device's range (room to learn)."""
REFRESH_FRACTION = 0.9
"""A one-directional pair is refreshed when a device passes this fraction of its bound [N20]."""


@dataclass(frozen=True)
class PulseModel:
    """The pulsed-update parameters of one device technology, in normalized units [A]."""

    dw_min: float
    """Nominal step ε."""
    asymmetry: float
    """Up steps are ε(1+a), down steps ε(1−a)."""
    c2c: float
    """Cycle-to-cycle std of each step, relative to the step."""
    d2d: float
    """Device-to-device std of the step, relative."""
    lo: float
    """Lower bound of ω."""
    hi: float
    """Upper bound of ω."""
    bound_d2d: float
    """Device-to-device spread of the bounds, relative."""

    @classmethod
    def of(cls, device: DeviceSpec) -> PulseModel:
        """The pulse model of a device preset."""
        return cls(
            device.dw_min,
            device.up_down_asymmetry,
            device.step_c2c,
            device.step_d2d,
            device.w_bound_min,
            device.w_bound_max,
            device.bound_d2d,
        )

    @property
    def one_directional(self) -> bool:
        """True when the device only steps up (PCM SET): it is used as a refreshed pair."""
        return self.asymmetry >= 1.0

    @property
    def reach(self) -> float:
        """Largest |ω| the weight can take: the pair's span, or the nearer bound."""
        return self.hi - self.lo if self.one_directional else min(self.hi, -self.lo)


def layer_scale(w: Tensor, model: PulseModel) -> float:
    """α such that the initial largest |weight| sits at :data:`INIT_FRACTION` of the reach."""
    return max(float(w.abs().max()), 1e-6) / (INIT_FRACTION * model.reach)


def stochastic_round(x: Tensor, generator: torch.Generator) -> Tensor:
    """Round to an adjacent integer, up with probability frac(x): unbiased, E = x."""
    low = torch.floor(x)
    return low + (torch.rand(x.shape, generator=generator, dtype=x.dtype) < (x - low)).to(x.dtype)


def pulse_counts(delta: Tensor, dw_min: float, generator: torch.Generator, max_pulses: int) -> Tensor:
    """Signed pulse numbers for the desired change ``delta``: ``delta/ε`` stochastically rounded,
    at most ``max_pulses`` per device (the expected change is ``delta`` inside the cap)."""
    return stochastic_round(delta / dw_min, generator).clamp_(-max_pulses, max_pulses)


def step_sizes(shape: torch.Size, model: PulseModel, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-device up and down steps, ε(1±a)·|1 + d2d·ξ| (drawn once per device) [A]; a
    one-directional device steps ε·|1 + d2d·ξ| up and never down."""
    d = (1.0 + model.d2d * torch.randn(shape, generator=generator)).abs() * model.dw_min
    if model.one_directional:
        return d, torch.zeros_like(d)
    return d * (1.0 + model.asymmetry), d * (1.0 - model.asymmetry)


def bounds(shape: torch.Size, model: PulseModel, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-device bounds, each scaled by ``1 + bound_d2d·ξ`` [A]."""
    lo = model.lo * (1.0 + model.bound_d2d * torch.randn(shape, generator=generator))
    hi = model.hi * (1.0 + model.bound_d2d * torch.randn(shape, generator=generator))
    return lo, torch.maximum(hi, lo)


def apply_pulses(
    w: Tensor, n: Tensor, up: Tensor, down: Tensor, lo: Tensor, hi: Tensor, c2c: float
) -> Tensor:
    """ω after ``n`` signed pulses: the sum of |n| noisy steps, n·s + c2c·s·√|n|·ξ, then clipped.

    The sum of |n| steps with independent relative noise c2c has mean n·s and std
    c2c·s·√|n|, drawn in one normal per device (no per-pulse loop)."""
    step = torch.where(n >= 0, up, down)
    change = n * step
    if c2c > 0:
        change = change + normals(w.shape, w.dtype, None) * (c2c * step * n.abs().sqrt())
    return torch.minimum(torch.maximum(w + change, lo), hi)


class PulsedArray:
    """The devices of one weight matrix under pulsed updates, with a write counter per device.

    Two devices per weight, as the mapping's pair: a bidirectional device carries ω against a
    fixed reference (written once, at programming); a one-directional device pair carries
    ω⁺ − ω⁻, positive pulses on ω⁺, negative ones on ω⁻, with refresh [N20]. Programming the
    initial weights counts one write per device.
    """

    def __init__(self, target: Tensor, model: PulseModel, generator: torch.Generator) -> None:
        self.model = model
        shape = target.shape
        self.up, self.down = step_sizes(shape, model, generator)
        self.lo, self.hi = bounds(shape, model, generator)
        self.counts = torch.ones(2, *shape, dtype=torch.float64)
        if model.one_directional:
            self.lo = torch.zeros(shape)
            self.pos = target.clamp_min(0.0).minimum(self.hi)
            self.neg = (-target).clamp_min(0.0).minimum(self.hi)
        else:
            self.w = torch.minimum(torch.maximum(target, self.lo), self.hi)

    def value(self) -> Tensor:
        """The stored ω."""
        return self.pos - self.neg if self.model.one_directional else self.w

    def pulse(self, n: Tensor) -> None:
        """Apply ``n`` signed pulses per weight and count them on the devices that got them."""
        c2c = self.model.c2c
        if not self.model.one_directional:
            self.w = apply_pulses(self.w, n, self.up, self.down, self.lo, self.hi, c2c)
            self.counts[0].add_(n.abs())
            return
        n_pos, n_neg = n.clamp_min(0.0), (-n).clamp_min(0.0)
        self.pos = apply_pulses(self.pos, n_pos, self.up, self.down, self.lo, self.hi, c2c)
        self.neg = apply_pulses(self.neg, n_neg, self.up, self.down, self.lo, self.hi, c2c)
        self.counts[0].add_(n_pos)
        self.counts[1].add_(n_neg)
        self._refresh()

    def _refresh(self) -> None:
        """RESET both devices of pairs near their bound and SET the difference onto one [N20, A18]:
        one write each for the RESET, plus ⌈|ω|/step⌉ SET pulses on the receiving device."""
        full = (torch.maximum(self.pos, self.neg) >= REFRESH_FRACTION * self.hi) & (
            torch.minimum(self.pos, self.neg) >= self.up
        )  # only where the partner holds at least a step, so the refresh frees headroom
        if not bool(full.any()):
            return
        w = self.pos - self.neg
        sets = torch.ceil(w.abs() / self.up) * full
        self.counts[0].add_(full + sets * (w > 0))
        self.counts[1].add_(full + sets * (w < 0))
        self.pos = torch.where(full, w.clamp_min(0.0), self.pos)
        self.neg = torch.where(full, (-w).clamp_min(0.0), self.neg)


def chi_grid(bits: int | None, eps: float) -> tuple[float, float]:
    """(LSB, saturation) of a ``bits``-bit signed χ register in units where the device step is ε.

    Half the bits (⌊b/2⌋) are fractional, so both resolution (ε/2^⌊b/2⌋) and saturation
    ((2^(b−1)−1) LSBs, e.g. 1.75ε at 4 bits, 7.9ε at 8 bits) grow with b [N20]. ``None``: a
    float register (no grid, no saturation).
    """
    if bits is None:
        return 0.0, math.inf
    lsb = eps / 2 ** (bits // 2)
    return lsb, (2 ** (bits - 1) - 1) * lsb


def chi_transfer(chi: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Mixed-precision transfer [N20]: ``⌊|χ|/ε⌋`` pulses of χ's sign, and χ less those steps.

    No pulse is ever applied while |χ| < ε; the remainder keeps χ's sign with |rest| < ε.
    """
    n = torch.trunc(chi / eps)
    return n, chi - n * eps


__all__ = [
    "MAX_PULSES_PER_UPDATE",
    "PulseModel",
    "PulsedArray",
    "apply_pulses",
    "chi_grid",
    "chi_transfer",
    "layer_scale",
    "pulse_counts",
    "stochastic_round",
]
