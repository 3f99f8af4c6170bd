"""One row per device: the state of a bidirectional state-dependent array, and its pending counts.

A pulsed RRAM or ECRAM device reads and writes its ω, read ω, bounds, steps and (linear rules)
slopes. Held as separate arrays, a pulsed device touches a cache line of each, six to eight
lines for a few bytes. Packed as one row of :data:`~models.physics.kernels.ROW_WIDTH` values
per device (32 bytes in float32, 64 in float64), its state is one line, on a huge page where
the platform offers them (:func:`~models.allocator.scattered_empty`: 30 % less time for the
train on the benchmark MLP's rows, cold in cache, than on 4 KiB pages, each a TLB miss):
:class:`~models.physics.pulses.PulsedArray` keeps such rows and exposes the columns as views
(its ``w``, ``lo``, ``hi``, ``up``, ``down``, read ω), so the torch path and every reader are
unchanged. The write counts are float64 in the array's own counter (exact integers); where the
row has a free column (:func:`count_column`), the kernel adds whole pulse numbers there
instead, exact while the column stays below 2^24 (float32), and the array moves them into its
counter before they could reach that or whenever the counts are read: one line less a device.
Measured on 400k RRAM devices: faster than separate arrays at 5 % pulsed (0.45 against 0.6 ms),
even at 12–25 % (~19 ns a pulsed device either way: there the train's own work dominates).

The compiled train on rows, :func:`~models.physics.kernels.pulse_rows`, is
:func:`~models.physics.kernels.pulse_devices` on rows: the same operations in the same order,
the same noise windows, and, when asked, the layer's weight α·(read ω) written in the same loop
(the torch path's ``omega * alpha`` and scatter, bit for bit). It and the column layout live in
``kernels.py`` beside the helpers it inlines.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.allocator import scattered_empty
from models.physics import trains
from models.physics.kernels import (  # the row layout lives beside the kernel that reads it
    DOWN,
    HI,
    LO,
    PAIR_COUNTS,
    READ,
    ROW_COUNT_STEP,
    ROW_WIDTH,
    SLOPE_DOWN,
    SLOPE_UP,
    UP,
    W,
)
from models.physics.train_noise import TrainSizes
from models.physics.update_rules import PulseModel

ROW_COUNT_FLUSH = 1 << 23
"""The array moves the row counts into its counter once they may have grown this much: below
2^24 − :data:`ROW_COUNT_STEP`, so a float32 count column is always an exact integer."""


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
    """The rows ``(devices, ROW_WIDTH)`` of these per-device tensors (slopes 0 where the rule has none)."""
    cols = [w, read, lo, hi, up, down]
    cols += [s.reshape(w.shape) for s in slopes] if slopes is not None else [torch.zeros_like(w)] * 2
    return _stacked(cols)


def pair_rows(pos: Tensor, neg: Tensor, up: Tensor, hi: Tensor) -> Tensor:
    """A one-directional pair's rows (N, :data:`~models.physics.kernels.PAIR_WIDTH`): ω⁺, ω⁻, step,
    bound, then the two devices' pending pulse counts (0) and two unused values."""
    zero = torch.zeros_like(pos)
    return _stacked([pos, neg, up, hi, zero, zero, zero, zero])


def _stacked(cols: list[Tensor]) -> Tensor:
    """The columns as rows ``(devices, len(cols))``, in room for scattered access (huge pages on
    the CPU, :func:`~models.allocator.scattered_empty`)."""
    like = cols[0]
    rows = scattered_empty((like.numel(), len(cols)), like.dtype, like.device)
    return torch.stack([c.reshape(-1) for c in cols], dim=1, out=rows)


def flush_pairs(rows: Tensor, counts: Tensor) -> int:
    """Move pair rows' pending counts into ``counts`` (float64, (2, ...)): exact, whole numbers;
    returns 0, the pending bound after."""
    pending = rows[:, PAIR_COUNTS : PAIR_COUNTS + 2]
    counts.view(2, -1).add_(pending.t())
    pending.zero_()
    return 0


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
        self,
        model: PulseModel,
        idx: Tensor,
        n: Tensor,
        counts: Tensor,
        into: trains.Into,
        sizes: TrainSizes | None = None,
    ) -> Tensor:
        """:func:`~models.physics.trains.pulse_rows_at` on these rows (``counts``: the devices' flat
        float64 counter), then :meth:`flush` once the count column may near 2^24; returns read ω."""
        w, grew = trains.pulse_rows_at(model, idx, n, self.rows, counts, into, self.count_col, sizes)
        self.grown(grew, counts)
        return w

    def grown(self, by: int, counts: Tensor) -> None:
        """Note that row counts may have grown by ``by`` (a train's bound), then :meth:`flush` into
        ``counts`` once they may near 2^24."""
        self.pending += by
        if self.pending >= ROW_COUNT_FLUSH:
            self.flush(counts)

    def flush(self, counts: Tensor) -> None:
        """Move the pending counts into ``counts`` (float64, flat): exact, they are whole numbers."""
        if self.count_col >= 0 and self.pending > 0:
            counts.add_(self.rows[:, self.count_col].double())
            self.rows[:, self.count_col] = 0.0
            self.pending = 0


__all__ = [
    "DOWN",
    "HI",
    "LO",
    "READ",
    "ROW_COUNT_FLUSH",
    "ROW_COUNT_STEP",
    "ROW_WIDTH",
    "SLOPE_DOWN",
    "SLOPE_UP",
    "UP",
    "DeviceRows",
    "W",
    "count_column",
    "flush_pairs",
    "pack",
    "pair_rows",
]
