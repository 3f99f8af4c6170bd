"""The compiled CPU kernel of hic's update [HIC]: momentum, accumulator, carries and writes in one pass.

:meth:`models.training.hic.HicArray.update` on the torch path makes three dense passes (momentum,
the accumulator's rounding, the search for carries) and then, on the few weights that carry
(~0.4 % a step on the benchmark MLP), ~40 small torch calls: gather the digits, the carry chain,
the device levels and their pulses, ``index_add_`` of the write counts, the digits' and the
weight's scatters. Each costs mostly dispatch time. This kernel does the same arithmetic in one
pass over the NumPy views of the CPU tensors (no copy): per block of :data:`BLOCK` weights, the
dense part as loops the compiler vectorizes, then the carries of that block while it is in
cache (a carry's scattered rows of digits, counts and weights are prefetched as it is found:
those memory accesses, not its arithmetic, are what a carry costs). The operations are the
torch path's, in its order and dtype: ``add(g, m, alpha=μ)``,
``add(u, v, alpha=a)``, ``add_(x, alpha=LSB)`` and ``addcmul_`` are single-rounding multiply-adds
in torch's CPU kernels, so :func:`models.physics.jit.fma` here; clamps keep NaN as torch's do,
and ``sign(NaN)`` is 0 as torch's. States, counts and weights are the torch path's bit for bit
(``tests/models/test_hic_kernel.py``). :data:`models.physics.kernels.ENABLED` selects it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.physics.jit import fma, jit, prefetch
from models.physics.kernels import usable

BLOCK = 2048
"""Weights per block: the block's gradient, momentum, uniforms and accumulator (8 KiB each in
float32) stay in the L1/L2 cache between the dense loops and the search for carries."""
SCAN = 64
"""Weights per run of the search for carries: a run without one (~3 in 4 at 0.4 % carries) is
passed over after one vectorized check."""
K_MU, K_SCALE, K_ACC_LSB, K_W_LSB, K_ONE, K_ZERO = 0, 1, 2, 3, 4, 5


@jit(inline="always")
def _sign(x: float, one: float, zero: float) -> float:
    """torch.sign: 1, −1 or 0 (NaN → 0, as torch)."""
    return one if x > zero else (-one if x < zero else zero)


@jit(inline="always")
def _pulses(old: float, new: float, one_directional: bool, one: float, zero: float) -> float:
    """:func:`models.training.hic.level_pulses` of one device, operation by operation."""
    rise = new - old
    if not one_directional:
        return abs(rise)
    fell = rise
    if zero < fell:  # clamp(max=0): NaN stays
        fell = zero
    fell = -fell
    if one < fell:  # clamp_(max=1)
        fell = one
    if rise < zero:  # clamp_(min=0)
        rise = zero
    return fma(fell, one + new, rise)  # addcmul_: one rounding


@jit(inline="always")
def _level(d: float, zero: float) -> float:
    """clamp_min(d, 0): NaN stays NaN (as torch's clamp)."""
    return zero if d < zero else d


@jit(inline="always")
def _carry(
    d: int,
    carry: float,
    digits: np.ndarray,
    counts: np.ndarray,
    new: np.ndarray,
    caps: np.ndarray,
    bases: np.ndarray,
    sig: np.ndarray,
    one_directional: bool,
    w_lsb: float,
    one: float,
    zero: float,
) -> float:
    """Weight ``d`` takes ``carry`` levels: its first digit changes, the carry chain runs where that
    digit leaves its cap (or is NaN); its devices' pulses are counted and its digits written.
    Returns the weight the devices hold, Σ s_k·d_k·LSB."""
    slices = caps.size
    at = d * slices
    for k in range(slices):
        new[k] = digits[at + k]
    new[0] = new[0] + carry
    if not abs(new[0]) <= caps[0]:  # :func:`models.training.hic.carry_chain`
        for k in range(slices - 1):
            x = new[k]
            over = abs(x) - caps[k]
            if over < zero:  # clamp_min(0): NaN stays
                over = zero
            c = _sign(x, one, zero) * np.ceil(over / bases[k])
            new[k] = x - c * bases[k]
            new[k + 1] = new[k + 1] + c
        top = new[slices - 1]
        if top < -caps[slices - 1]:
            top = -caps[slices - 1]
        if caps[slices - 1] < top:
            top = caps[slices - 1]
        new[slices - 1] = top
    row = d * 2 * slices
    total = zero
    for k in range(slices):
        old, now = digits[at + k], new[k]
        up = _pulses(_level(old, zero), _level(now, zero), one_directional, one, zero)
        down = _pulses(_level(-old, zero), _level(-now, zero), one_directional, one, zero)
        counts[row + 2 * k] += np.float64(up)
        counts[row + 2 * k + 1] += np.float64(down)
        digits[at + k] = now
        total = now * sig[k] if k == 0 else total + now * sig[k]
    return total * w_lsb


@jit()
def hic_step(
    g: np.ndarray,
    momentum: np.ndarray,
    u: np.ndarray,
    acc: np.ndarray,
    digits: np.ndarray,
    counts: np.ndarray,
    value: np.ndarray,
    weight: np.ndarray,
    k: np.ndarray,
    caps: np.ndarray,
    bases: np.ndarray,
    sig: np.ndarray,
    with_momentum: bool,
    rounded: bool,
    one_directional: bool,
    write_weight: bool,
    new: np.ndarray,
    idx: np.ndarray,
    carries: np.ndarray,
) -> int:
    """Per weight: v = g + μ·m into ``momentum`` (``with_momentum``; else v = g); the accumulator
    a ← a + LSB_a·⌊U + scale·v⌋ (``rounded``; else a + scale·v); where |a| ≥ 1 (or NaN) the
    carry trunc(a) leaves a = frac(a) and goes to the digits (:func:`_carry`), whose weight is
    written to ``value`` and, if ``write_weight``, ``weight``. ``new``: scratch of S digits;
    the carried weights' flat indices go to ``idx`` (their carries to ``carries``); returns how
    many."""
    mu, scale, acc_lsb, w_lsb = k[K_MU], k[K_SCALE], k[K_ACC_LSB], k[K_W_LSB]
    one, zero = k[K_ONE], k[K_ZERO]
    n, slices = acc.size, caps.size
    r = 0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        # the block as slices: a loop over range(start, stop) would index with a sign check that
        # keeps LLVM from vectorizing it (~5× slower)
        gb, mb, ub, ab = g[start:stop], momentum[start:stop], u[start:stop], acc[start:stop]
        if with_momentum:  # torch.add(g, m, alpha=μ, out=m)
            for d in range(ab.size):
                mb[d] = fma(mb[d], mu, gb[d])
        vb = mb if with_momentum else gb
        if rounded:  # add(u, v, alpha=a).floor_(), then acc.add_(·, alpha=LSB_a)
            for d in range(ab.size):
                ab[d] = fma(np.floor(fma(vb[d], scale, ub[d])), acc_lsb, ab[d])
        else:
            for d in range(ab.size):
                ab[d] = fma(vb[d], scale, ab[d])
        first = r
        for s0 in range(0, ab.size, SCAN):  # the few that carry: skip the runs with none, found
            sb = ab[s0 : s0 + SCAN]  # by a vectorized pass (a scalar scan costs ~4× more)
            hit = False
            for d in range(sb.size):
                x = sb[d]
                hit |= not ((x < one) & (x > -one))
            if not hit:
                continue
            for d in range(sb.size):
                x = sb[d]
                if (x < one) & (x > -one):
                    continue
                rest = x - np.trunc(x)  # torch.frac
                sb[d] = rest
                at = start + s0 + d
                idx[r] = at
                carries[r] = x - rest
                r += 1
                prefetch(digits, at * slices)  # its scattered state, requested now, used below
                prefetch(digits, (at + 1) * slices - 1)
                prefetch(counts, at * 2 * slices)
                prefetch(counts, (at + 1) * 2 * slices - 1)
                prefetch(value, at)
                prefetch(weight, at)
        for j in range(first, r):
            at = idx[j]
            w = _carry(
                at, carries[j], digits, counts, new, caps, bases, sig, one_directional, w_lsb, one, zero
            )
            value[at] = w
            if write_weight:
                weight[at] = w
    return r


@dataclass(frozen=True)
class State:
    """An array's state as :func:`hic_step` takes it: the NumPy views of its CPU tensors (made
    once, not at every step) and the slices' constants in their dtype. Not to be pickled: the
    views would come back as copies (:class:`models.training.hic.HicArray` drops it)."""

    tensors: tuple[Tensor, Tensor, Tensor, Tensor]
    """(accumulator, digits ``(n, S)``, counts ``(n, S, 2)`` float64, value): what the views view."""
    views: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """Their flat NumPy views."""
    caps: np.ndarray
    """cap_k, the largest |digit| of each slice."""
    bases: np.ndarray
    """s_{k+1}/s_k, the carry chain's integer ratios (S − 1)."""
    sig: np.ndarray
    """s_k, each slice's significance in LSB levels."""
    one_directional: bool
    """The devices only rise by pulses (PCM): a fall is one RESET and the new level's SETs."""
    scratch: np.ndarray
    """S digits of working space."""

    @staticmethod
    def of(
        tensors: tuple[Tensor, Tensor, Tensor, Tensor],
        caps: list[int],
        bases: list[int],
        sig: list[float],
        one_directional: bool,
    ) -> State | None:
        """The state of these tensors, or None where the kernel cannot take them (not float32 or
        float64 CPU tensors of one dtype, float64 counts, all contiguous); the constants rounded
        to the dtype as torch rounds the scalars it compares and multiplies."""
        acc, digits, counts, value = tensors
        if not (
            all(t.device.type == "cpu" and t.is_contiguous() for t in tensors)
            and acc.dtype in _DTYPES
            and digits.dtype == value.dtype == acc.dtype
            and counts.dtype == torch.float64
        ):
            return None
        dtype = _DTYPES[acc.dtype]
        caps_, bases_, sig_ = (np.array(x, dtype=np.float64).astype(dtype) for x in (caps, bases, sig))
        views = (
            acc.view(-1).numpy(),
            digits.view(-1).numpy(),
            counts.view(-1).numpy(),
            value.view(-1).numpy(),
        )
        return State(tensors, views, caps_, bases_, sig_, one_directional, np.empty(len(caps), dtype=dtype))

    def fits(self, *tensors: Tensor) -> bool:
        """True when :func:`step` takes these tensors with this state: kernels
        :func:`~models.physics.kernels.usable`, contiguous and of the state's dtype."""
        dtype = self.tensors[0].dtype
        return usable(*tensors) and all(t.is_contiguous() and t.dtype == dtype for t in tensors)


def step(
    g: Tensor,
    momentum: Tensor | None,
    u: Tensor | None,
    state: State,
    weight: Tensor | None,
    consts: tuple[float, float, float, float],
) -> Tensor:
    """Run :func:`hic_step` (the caller checked :meth:`State.fits`): ``consts`` = (μ, scale,
    accumulator LSB, weight LSB), rounded to the state's dtype as torch rounds a scalar operand;
    ``u`` None: a float accumulator; returns the carried weights' flat indices."""
    acc, digits, counts, value = state.views
    flat = g.view(-1).numpy()
    k = np.array((*consts, 1.0, 0.0), dtype=np.float64).astype(acc.dtype)
    n = flat.size
    idx = np.empty(n, dtype=np.int64)
    r = hic_step(
        flat,
        flat if momentum is None else momentum.view(-1).numpy(),
        flat if u is None else u.reshape(-1).numpy(),
        acc,
        digits,
        counts,
        value,
        flat if weight is None else weight.view(-1).numpy(),
        k,
        state.caps,
        state.bases,
        state.sig,
        momentum is not None,
        u is not None,
        state.one_directional,
        weight is not None,
        state.scratch,
        idx,
        np.empty(n, dtype=acc.dtype),
    )
    return torch.from_numpy(idx[:r])


_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


__all__ = ["BLOCK", "SCAN", "State", "hic_step", "step"]
