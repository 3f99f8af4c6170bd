"""The calls of the compiled pulse trains: window sizes, noise offsets and constants, then the kernel.

The kernels themselves (:mod:`models.physics.kernels`) take NumPy views and scalars; these
functions prepare them from a :class:`~models.physics.pulses.PulsedArray`'s tensors in the order
the torch path draws its noise (:func:`~models.physics.train_noise.train_windows`, then the write
noise's window) and wrap the results as tensors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models.physics.kernels import (
    NOISE_NONE,
    ROW_COUNT_STEP,
    codes,
    model_consts,
    pulse_devices,
    pulse_pairs,
    pulse_rows,
)
from models.physics.noise import normal_table, table_offsets
from models.physics.train_noise import train_windows
from models.physics.update_rules import PulseModel


def pulse_devices_at(
    model: PulseModel, idx: Tensor, n: Tensor, state: tuple[Tensor, ...], slopes: tuple[Tensor, Tensor] | None
) -> Tensor:
    """The kernel of a bidirectional state-dependent array's ``pulse_at``: ``state`` is
    (ω, b_min, b_max, s⁺, s⁻, counts of the devices, read ω), all flat."""
    w, lo, hi, up, down, counts, read = state
    rule, noise = codes(model)
    c = model_consts(model, w.dtype, 0.0)
    nn = n.numpy()
    starts, last = train_windows(nn, noise != NOISE_NONE)
    write_start = table_offsets([idx.numel()])[0] if model.write_sigma > 0 else -1
    table = normal_table(w.dtype, w.device).numpy()
    sup, sdn = (w, w) if slopes is None else slopes
    out = np.empty(idx.numel(), dtype=c.dtype)
    pulse_devices(
        idx.numpy(), nn, w.numpy(), lo.numpy(), hi.numpy(), up.numpy(), down.numpy(), sup.numpy(),
        sdn.numpy(), counts.numpy(), read.numpy(), out, rule, noise, c, table, starts, write_start, last,
    )  # fmt: skip
    return torch.from_numpy(out)


def pulse_pairs_at(
    model: PulseModel,
    idx: Tensor,
    n: Tensor,
    rows: Tensor,
    value: Tensor,
    counts: Tensor,
    slope: Tensor | None,
    refresh: float,
    into: tuple[Tensor, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """The kernel of a state-dependent one-directional pair's ``pulse_at``: ``rows`` (N, 4) of
    (ω⁺, ω⁻, step, bound), ``value`` and ``counts`` (2N) flat; returns the new ω and the
    positions (in ``idx``) of the refreshed pairs; ``into`` (flat contiguous weight, α): α·ω written there."""
    rule, noise = codes(model)
    c = model_consts(model, rows.dtype, refresh)
    nn = n.numpy()
    starts, last = train_windows(nn, noise != NOISE_NONE)
    table = normal_table(rows.dtype, rows.device).numpy()
    out = np.empty(idx.numel(), dtype=c.dtype)
    refreshed = np.empty(idx.numel(), dtype=np.int64)
    weight = np.empty(0, dtype=c.dtype) if into is None else into[0].numpy()
    alpha = np.array([0.0 if into is None else into[1]]).astype(c.dtype)
    r = pulse_pairs(
        idx.numpy(), nn, rows.numpy(), value.numpy(), counts.numpy(),
        (value if slope is None else slope).numpy(), out, refreshed, rule, noise, c, table, starts, last,
        weight, alpha,
    )  # fmt: skip
    return torch.from_numpy(out), torch.from_numpy(refreshed[:r])


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


__all__ = ["pulse_devices_at", "pulse_pairs_at", "pulse_rows_at"]
