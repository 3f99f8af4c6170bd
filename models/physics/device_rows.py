"""One row per device: the state of a bidirectional state-dependent array, and its compiled pulse train.

A pulsed RRAM or ECRAM device reads and writes its ω, read ω, bounds, steps and (linear rules)
slopes. Held as separate arrays (structure of arrays), each pulsed device touches a cache line
of each, six to eight lines for a few bytes; the pulsed devices are scattered (5–15 % of an
array per step), so the update is bound by those lines. Packed as one row of :data:`WIDTH`
values per device (32 bytes in float32, 64 in float64), a pulsed device's state is one cache
line: :class:`~models.physics.pulses.PulsedArray` keeps such rows and exposes the columns as
views (its ``w``, ``lo``, ``hi``, ``up``, ``down``, read ω), so the torch path and every reader
are unchanged. The write counts stay float64 in the array's own counter (exact integers).

:func:`pulse_rows` is :func:`~models.physics.kernels.pulse_devices` on rows: the same
operations in the same order, the same noise windows, and, when asked, the layer's weight
α·(read ω) written in the same loop (the torch path's ``omega * alpha`` and scatter, bit for bit).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models.physics.jit import AHEAD, jit, prefetch
from models.physics.kernels import (
    C_NEG_AMP_DN,
    C_NEG_AMP_UP,
    C_RATE_DN,
    C_RATE_UP,
    C_WRITE_SIGMA,
    C_ZERO,
    NOISE_NONE,
    RULE_LINEAR,
    _first,
    _pulse,
    _scalars,
    codes,
    model_consts,
)
from models.physics.noise import normal_table, table_offsets
from models.physics.train_noise import train_windows
from models.physics.update_rules import PulseModel

W, READ, LO, HI, UP, DOWN, SLOPE_UP, SLOPE_DOWN = range(8)
"""The columns of a row: ω, the read ω (ω plus the write noise), b_min, b_max, s⁺, s⁻, γ⁺, γ⁻."""
WIDTH = 8
"""Values per row: 32 bytes in float32, so a row never straddles a 64-byte cache line."""


def pack(
    w: Tensor,
    read: Tensor,
    lo: Tensor,
    hi: Tensor,
    up: Tensor,
    down: Tensor,
    slopes: tuple[Tensor, Tensor] | None,
) -> Tensor:
    """The rows ``(devices, WIDTH)`` of these per-device tensors (slopes 0 where the rule has none)."""
    cols = [w, read, lo, hi, up, down]
    cols += [s.reshape(w.shape) for s in slopes] if slopes is not None else [torch.zeros_like(w)] * 2
    return torch.stack([c.reshape(-1) for c in cols], dim=1).contiguous()


def column(rows: Tensor, j: int, shape: torch.Size) -> Tensor:
    """Column ``j`` of ``rows`` as a view of ``shape`` (writes go to the rows)."""
    return rows[:, j].unflatten(0, shape) if len(shape) != 1 else rows[:, j]


@jit()
def pulse_rows(
    idx: np.ndarray, n: np.ndarray, rows: np.ndarray, counts: np.ndarray, weight: np.ndarray,
    alpha: np.ndarray, out: np.ndarray, rule: int, noise: int, consts: np.ndarray, table: np.ndarray,
    starts: np.ndarray, write_start: int, last: int,
) -> None:  # fmt: skip
    """:func:`~models.physics.kernels.pulse_devices` on rows: per device, the pulse train, ω
    written back, |n| counted, the read ω (with write noise when ``write_start`` ≥ 0) into its
    column and into ``out`` (in the order of ``idx``), and, if ``weight`` is not empty,
    ``weight[d] = read ω · α`` (one rounding, as torch multiplies by a scalar)."""
    c = _scalars(consts)
    live = np.zeros(max(last, 1), dtype=np.int64)
    zero, quiet = c[C_ZERO], noise == NOISE_NONE
    write, a = weight.size > 0, alpha[0]
    last_i, flat = idx.size - 1, rows.reshape(rows.size)
    for i in range(idx.size):
        e = idx[min(i + AHEAD, last_i)]
        prefetch(flat, e * WIDTH)
        prefetch(counts, e)
        if write:
            prefetch(weight, e)
        d = idx[i]
        x = n[i]
        up = x > zero  # the direction's constants, as pulse_devices selects them
        step = rows[d, UP] if up else rows[d, DOWN]
        rate = c[C_RATE_UP] if up else c[C_RATE_DN]
        neg_amp = c[C_NEG_AMP_UP] if up else c[C_NEG_AMP_DN]
        slope = zero
        if rule == RULE_LINEAR:
            slope = rows[d, SLOPE_UP] if up else rows[d, SLOPE_DOWN]
        lo, hi = rows[d, LO], rows[d, HI]
        xi = zero if quiet else table[starts[0] + i]
        s, span, v = _first(rows[d, W], x, lo, hi, step, rate, neg_amp, slope, xi, rule, noise, c)
        k = abs(x)
        j = 1
        while j < last and k > j:
            xi = zero if quiet else table[starts[j] + live[j]]
            live[j] += 1
            v = _pulse(v, s, True, step, rate, neg_amp, slope, lo, hi, span, xi, rule, noise, c)
            j += 1
        rows[d, W] = v
        counts[d] += abs(np.float64(x))
        if write_start >= 0:
            v = v + c[C_WRITE_SIGMA] * table[write_start + i]
            rows[d, READ] = v
        out[i] = v
        if write:
            weight[d] = v * a


def pulse_rows_at(
    model: PulseModel, idx: Tensor, n: Tensor, rows: Tensor, counts: Tensor, into: tuple[Tensor, float] | None
) -> Tensor:
    """The kernel of a row-packed array's ``pulse_at`` (``counts`` the devices' flat counter;
    ``into``: a flat contiguous weight and α to write α·(read ω) into); returns the read ω."""
    rule, noise = codes(model)
    c = model_consts(model, rows.dtype, 0.0)
    nn = n.numpy()
    starts, last = train_windows(nn, noise != NOISE_NONE)
    write_start = table_offsets([idx.numel()])[0] if model.write_sigma > 0 else -1
    table = normal_table(rows.dtype, rows.device).numpy()
    out = np.empty(idx.numel(), dtype=c.dtype)
    weight = np.empty(0, dtype=c.dtype) if into is None else into[0].numpy()
    alpha = np.array([0.0 if into is None else into[1]]).astype(c.dtype)
    pulse_rows(
        idx.numpy(), nn, rows.numpy(), counts.numpy(), weight, alpha, out, rule, noise, c, table, starts,
        write_start, last,
    )  # fmt: skip
    return torch.from_numpy(out)


__all__ = [
    "DOWN",
    "HI",
    "LO",
    "READ",
    "SLOPE_DOWN",
    "SLOPE_UP",
    "UP",
    "WIDTH",
    "W",
    "column",
    "pack",
    "pulse_rows",
    "pulse_rows_at",
]
