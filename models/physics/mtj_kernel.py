"""The compiled CPU kernel of qnn's step on binary STT-MRAM [G21]: one pass over the weights.

:meth:`models.training.qnn.Qnn.step` makes ~15 dense torch passes over a layer's states per step
(|z|, the switching gap, ⌈|z|⌉, the attempts' target and its two MTJ compares, the index search,
the gathers and scatters of the switched synapses). This kernel does the same arithmetic per
weight in one loop over the NumPy views of the CPU tensors (no copy), with the thresholds'
window drawn by the torch code as before (:func:`models.training.qnn.switch_thresholds`). Every
operation is exact (|·|, ×, −, ⌈·⌉, sign, clip of small integers and one product per state), in
the torch path's order and dtype, so states, weights and counters are the torch path's bit for
bit (``tests/models/test_update_kernels.py``). :data:`models.physics.kernels.ENABLED` selects it.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from models.physics.jit import jit
from models.physics.kernels import usable

K_ABS_C, K_C, K_H, K_HSIGN, K_ALPHA, K_ONE, K_ZERO = 0, 1, 2, 3, 4, 5, 6


@jit(inline="always")
def _sign(x: float, one: float, zero: float) -> float:
    """torch.sign: (0 < x) − (x < 0) (NaN → 0)."""
    return one if x > zero else (-one if x < zero else zero)


@jit()
def qnn_step(
    v: np.ndarray,
    thresholds: np.ndarray,
    states: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    attempts: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    k: np.ndarray,
) -> None:
    """Per weight: z = c·v; the attempts of the full move t = s + h·sign(c)·⌈|z|⌉·sign(v) on each MTJ
    whose state (t > 0, t < 0) differs; where |z| − T > 0 (or NaN), the move sign(c·v)·⌈|z| − T⌉
    of h states, clipped to ±1, its switches, the new state, MTJ states and weight α·s."""
    abs_c, c, h, h_sign, alpha = k[K_ABS_C], k[K_C], k[K_H], k[K_HSIGN], k[K_ALPHA]
    one, zero = k[K_ONE], k[K_ZERO]
    size = v.size
    for d in range(size):
        x = v[d]
        s = states[d]
        abs_z = abs(x) * abs_c
        gap = abs_z - thresholds[d]
        t = h_sign * np.ceil(abs_z) * _sign(x, one, zero) + s  # addcmul: exact (small integers)
        if (t > zero) != pos[d]:
            attempts[d] += 1
        if (t < zero) != neg[d]:
            attempts[size + d] += 1
        if gap <= zero:
            continue
        new = s + np.ceil(gap) * _sign(x * c, one, zero) * h
        if new < -one:
            new = -one
        if one < new:
            new = one
        up, down = new > zero, new < zero
        if up != (s > zero):
            counts[d] += 1.0
        if down != (s < zero):
            counts[size + d] += 1.0
        states[d] = new
        pos[d] = up
        neg[d] = down
        weight[d] = new * alpha


def step(
    v: Tensor,
    thresholds: Tensor,
    state: tuple[Tensor, Tensor, Tensor],
    attempts: Tensor,
    counts: Tensor,
    weight: Tensor,
    c: float,
    h: float,
    alpha: float,
) -> bool:
    """Run :func:`qnn_step` when the tensors allow (:func:`~models.physics.kernels.usable`, all
    contiguous): ``state`` = (states, MTJ 0 > 0, MTJ 1 < 0); False: the caller's torch path runs."""
    tensors = (v, thresholds, *state, attempts, counts, weight)
    if not usable(v, *tensors) or not all(t.is_contiguous() for t in tensors) or v.dtype != weight.dtype:
        return False
    sign_c = 1.0 if c > 0 else -1.0
    k = np.array([abs(c), c, h, h * sign_c, alpha, 1.0, 0.0]).astype(v.numpy().dtype)
    states, pos, neg = (t.view(-1).numpy() for t in state)
    qnn_step(
        v.view(-1).numpy(),
        thresholds.reshape(-1).numpy(),
        states,
        pos,
        neg,
        attempts.view(-1).numpy(),
        counts.view(-1).numpy(),
        weight.view(-1).numpy(),
        k,
    )
    return True


__all__ = ["qnn_step", "step"]
