"""The compiled CPU kernel of qnn's step on binary STT-MRAM [G21]: one pass over the weights.

:meth:`models.training.qnn.Qnn.step` makes ~15 dense torch passes over a layer's states per step
(the digital momentum, |z|, the switching gap, ⌈|z|⌉, the attempts' target and its two MTJ
compares, the index search, the gathers and scatters of the switched synapses). This kernel
does the same arithmetic per weight in one pass over the NumPy views of the CPU tensors (no
copy), with the thresholds' window drawn by the torch code as before
(:func:`models.training.qnn.switch_thresholds`). The momentum ``add(g, m, alpha=μ)`` is a
single-rounding multiply-add in torch's CPU kernel, so :func:`models.physics.jit.fma` here;
every other operation is exact (|·|, ×, −, ⌈·⌉, sign, clip of small integers and one product
per state), in the torch path's order and dtype, so momentum, states, weights and counters are
the torch path's bit for bit (``tests/models/test_update_kernels.py``,
``tests/models/test_qnn_kernel.py``). :data:`models.physics.kernels.ENABLED` selects it.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from models.physics.jit import fma, jit
from models.physics.kernels import usable

K_ABS_C, K_C, K_H, K_HSIGN, K_ALPHA, K_ONE, K_ZERO, K_MU = 0, 1, 2, 3, 4, 5, 6, 7
BLOCK = 2048
"""Weights per block: the block's gradient, momentum, thresholds and states stay in cache
between its dense loops and the search for switches."""
SCAN = 64
"""Weights per run of the search for switches (|z| > T; ~0.2 % of weights a step on the
benchmark MLP): a run without one is passed over after one vectorized check."""


@jit(inline="always")
def _sign(x: float, one: float, zero: float) -> float:
    """torch.sign: (0 < x) − (x < 0) (NaN → 0)."""
    return one if x > zero else (-one if x < zero else zero)


@jit()
def qnn_step(
    g: np.ndarray,
    momentum: np.ndarray,
    thresholds: np.ndarray,
    states: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    attempts: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    k: np.ndarray,
    with_momentum: bool,
) -> None:
    """Per weight: v = g + μ·m into ``momentum`` (``with_momentum``; else v = g); z = c·v; the
    attempts of the full move t = s + h·sign(c)·⌈|z|⌉·sign(v) on each MTJ whose state (t > 0,
    t < 0) differs; where |z| − T > 0 (or NaN), the move sign(c·v)·⌈|z| − T⌉ of h states,
    clipped to ±1, its switches, the new state, MTJ states and weight α·s. Per block of
    :data:`BLOCK` weights: the momentum and the attempts as loops the compiler vectorizes, then
    the few switches (a scalar loop over each run of :data:`SCAN` that holds one)."""
    abs_c, c, h, h_sign, alpha = k[K_ABS_C], k[K_C], k[K_H], k[K_HSIGN], k[K_ALPHA]
    one, zero, mu = k[K_ONE], k[K_ZERO], k[K_MU]
    size = states.size
    for start in range(0, size, BLOCK):
        stop = min(start + BLOCK, size)
        # slices, not range(start, stop): indices LLVM can prove non-negative, so it vectorizes
        gb, mb, tb, sb = g[start:stop], momentum[start:stop], thresholds[start:stop], states[start:stop]
        pb, nb = pos[start:stop], neg[start:stop]
        a0, a1 = attempts[start:stop], attempts[size + start : size + stop]
        if with_momentum:  # torch.add(g, m, alpha=μ, out=m)
            for d in range(sb.size):
                mb[d] = fma(mb[d], mu, gb[d])
        vb = mb if with_momentum else gb
        for d in range(sb.size):
            x = vb[d]
            s = sb[d]  # pos, neg are (s > 0, s < 0): compared from s, not read (fewer bytes)
            t = h_sign * np.ceil(abs(x) * abs_c) * _sign(x, one, zero) + s  # addcmul: exact
            a0[d] += np.uint8((t > zero) != (s > zero))
            a1[d] += np.uint8((t < zero) != (s < zero))
        for s0 in range(0, sb.size, SCAN):
            vr, tr = vb[s0 : s0 + SCAN], tb[s0 : s0 + SCAN]
            hit = False
            for d in range(vr.size):
                hit |= not (abs(vr[d]) * abs_c - tr[d] <= zero)
            if not hit:
                continue
            for e in range(vr.size):
                d = s0 + e
                x = vr[e]
                gap = abs(x) * abs_c - tr[e]
                if gap <= zero:
                    continue
                s = sb[d]
                new = s + np.ceil(gap) * _sign(x * c, one, zero) * h
                if new < -one:
                    new = -one
                if one < new:
                    new = one
                up, down = new > zero, new < zero
                at = start + d
                if up != (s > zero):
                    counts[at] += 1.0
                if down != (s < zero):
                    counts[size + at] += 1.0
                sb[d] = new
                pb[d] = up
                nb[d] = down
                weight[at] = new * alpha


def fits(*tensors: Tensor | None) -> bool:
    """True when :func:`step` applies to these tensors (None: absent): kernels
    :func:`~models.physics.kernels.usable` on the first one's dtype, all on the CPU and contiguous."""
    present = [t for t in tensors if t is not None]
    return usable(*present) and all(t.is_contiguous() for t in present)


def step(
    g: Tensor,
    momentum: tuple[Tensor, float] | None,
    thresholds: Tensor,
    state: tuple[Tensor, Tensor, Tensor],
    attempts: Tensor,
    counts: Tensor,
    weight: Tensor,
    c: float,
    h: float,
    alpha: float,
) -> None:
    """Run :func:`qnn_step` (the caller checked :func:`fits`, and that ``g``, the momentum buffer,
    ``thresholds``, the states and ``weight`` share one dtype): ``momentum`` = (buffer, μ) or
    None, ``state`` = (states, MTJ 0 > 0, MTJ 1 < 0), ``attempts`` ``(2, ...)`` uint8 counters
    (the caller empties them before 255 steps)."""
    sign_c = 1.0 if c > 0 else -1.0
    flat = g.view(-1).numpy()
    mu = 0.0 if momentum is None else momentum[1]
    k = np.array([abs(c), c, h, h * sign_c, alpha, 1.0, 0.0, mu]).astype(flat.dtype)
    states, pos, neg = (t.view(-1).numpy() for t in state)
    qnn_step(
        flat,
        flat if momentum is None else momentum[0].view(-1).numpy(),
        thresholds.reshape(-1).numpy(),
        states,
        pos,
        neg,
        attempts.view(-1).numpy(),
        counts.view(-1).numpy(),
        weight.view(-1).numpy(),
        k,
        momentum is not None,
    )


__all__ = ["BLOCK", "SCAN", "fits", "qnn_step", "step"]
