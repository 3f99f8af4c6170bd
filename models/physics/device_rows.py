"""One row per device: the state of a bidirectional state-dependent array, and its compiled pulse train.

A pulsed RRAM or ECRAM device reads and writes its ω, read ω, bounds, steps and (linear rules)
slopes. Held as separate arrays (structure of arrays), each pulsed device touches a cache line
of each, six to eight lines for a few bytes; the pulsed devices are scattered (5–15 % of an
array per step), so the update is bound by those lines. Packed as one row of :data:`WIDTH`
values per device (32 bytes in float32, 64 in float64), a pulsed device's state is one cache
line: :class:`~models.physics.pulses.PulsedArray` keeps such rows and exposes the columns as
views (its ``w``, ``lo``, ``hi``, ``up``, ``down``, read ω), so the torch path and every reader
are unchanged. The write counts are float64 in the array's own counter (exact integers); where
the row has a free column (:func:`count_column`), the kernel adds whole pulse numbers there
instead, exact while the column stays below 2^24 (float32), and the array moves them into its
counter before they could reach that or whenever the counts are read: one line less a device.

:func:`pulse_rows` is :func:`~models.physics.kernels.pulse_devices` on rows: the same
operations in the same order, the same noise windows, and, when asked, the layer's weight
α·(read ω) written in the same loop (the torch path's ``omega * alpha`` and scatter, bit for bit).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models.physics.jit import jit, prefetch
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
ROW_COUNT_STEP = 1 << 16
"""Largest |n| a row's count column takes from one update (larger ones go to the float64 counter)."""
ROW_COUNT_FLUSH = 1 << 23
"""The array moves the row counts into its counter once they may have grown this much: below
2^24 − :data:`ROW_COUNT_STEP`, so a float32 count column is always an exact integer."""
AHEAD = 16
"""Devices ahead whose lines the kernel requests (8 for the seven separate arrays before; with
three lines a device, 16 measured 5–10 % faster on 40k of 400k RRAM devices, 24 no better)."""


def count_column(write_noise: bool, slopes: bool) -> int:
    """The column that holds a device's pending pulse count: a slope column where the rule has
    none, else the read column where the read ω is ω (no write noise), else none (−1)."""
    if not slopes:
        return SLOPE_UP
    return -1 if write_noise else READ


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


class DeviceRows:
    """The rows of one array (:func:`pack`) and their pending pulse counts (:func:`count_column`)."""

    def __init__(
        self,
        w: Tensor,
        read: Tensor,
        lo: Tensor,
        hi: Tensor,
        up: Tensor,
        down: Tensor,
        slopes: tuple[Tensor, Tensor] | None,
        write_noise: bool,
    ) -> None:
        self.rows = pack(w, read, lo, hi, up, down, slopes)
        self.count_col = count_column(write_noise, slopes is not None)
        if self.count_col >= 0:
            self.rows[:, self.count_col] = 0.0
        self.pending = 0
        """An upper bound of the count column's entries since the last :meth:`flush`."""

    def column(self, j: int, shape: torch.Size | None = None) -> Tensor:
        """Column ``j`` as a view (flat, or of ``shape``): writes go to the rows."""
        col = self.rows[:, j]
        return col if shape is None else col.unflatten(0, shape)

    def pulse(
        self, model: PulseModel, idx: Tensor, n: Tensor, counts: Tensor, into: tuple[Tensor, float] | None
    ) -> Tensor:
        """:func:`pulse_rows_at` on these rows (``counts`` the devices' flat float64 counter), then
        :meth:`flush` once the count column may near 2^24; returns the read ω."""
        w, grew = pulse_rows_at(model, idx, n, self.rows, counts, into, self.count_col)
        self.pending += grew
        if self.pending >= ROW_COUNT_FLUSH:
            self.flush(counts)
        return w

    def flush(self, counts: Tensor) -> None:
        """Move the pending counts into ``counts`` (float64, flat): exact, they are whole numbers."""
        if self.count_col >= 0 and self.pending > 0:
            counts.add_(self.rows[:, self.count_col].double())
            self.rows[:, self.count_col] = 0.0
            self.pending = 0


@jit()
def pulse_rows(
    idx: np.ndarray, n: np.ndarray, rows: np.ndarray, counts: np.ndarray, weight: np.ndarray,
    alpha: np.ndarray, out: np.ndarray, rule: int, noise: int, consts: np.ndarray, table: np.ndarray,
    starts: np.ndarray, write_start: int, last: int, count_col: int,
) -> None:  # fmt: skip
    """:func:`~models.physics.kernels.pulse_devices` on rows: per device, the pulse train, ω
    written back, |n| counted, the read ω (with write noise when ``write_start`` ≥ 0) into its
    column and into ``out`` (in the order of ``idx``), and, if ``weight`` is not empty,
    ``weight[d] = read ω · α`` (one rounding, as torch multiplies by a scalar). |n| is added to
    the row's ``count_col`` (≥ 0) where it is a whole number, else to ``counts`` (float64)."""
    c = _scalars(consts)
    live = np.zeros(max(last, 1), dtype=np.int64)
    zero, quiet = c[C_ZERO], noise == NOISE_NONE
    write, a, c_step = weight.size > 0, alpha[0], ROW_COUNT_STEP
    last_i, flat = idx.size - 1, rows.reshape(rows.size)
    for i in range(idx.size):
        e = idx[min(i + AHEAD, last_i)]
        prefetch(flat, e * WIDTH)
        if count_col < 0:
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
        if count_col >= 0 and k == np.floor(k) and k <= c_step:  # whole (NaN is not), bounded
            rows[d, count_col] += k
        else:
            counts[d] += abs(np.float64(x))
        if write_start >= 0:
            v = v + c[C_WRITE_SIGMA] * table[write_start + i]
            rows[d, READ] = v
        out[i] = v
        if write:
            weight[d] = v * a


def pulse_rows_at(
    model: PulseModel,
    idx: Tensor,
    n: Tensor,
    rows: Tensor,
    counts: Tensor,
    into: tuple[Tensor, float] | None,
    count_col: int = -1,
) -> tuple[Tensor, int]:
    """The kernel of a row-packed array's ``pulse_at`` (``counts`` the devices' flat counter;
    ``into``: a flat contiguous weight and α to write α·(read ω) into; ``count_col``: the rows'
    count column or −1); returns the read ω and the most any device's row count grew by."""
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
        write_start, last, count_col,
    )  # fmt: skip
    return torch.from_numpy(out), min(max(last, 1), ROW_COUNT_STEP)  # whole |n| ≤ last (or ≤ 1)


__all__ = [
    "DOWN",
    "HI",
    "LO",
    "READ",
    "SLOPE_DOWN",
    "SLOPE_UP",
    "UP",
    "WIDTH",
    "DeviceRows",
    "W",
    "count_column",
    "pack",
    "pulse_rows",
    "pulse_rows_at",
]
