"""The calls of the compiled pulse trains: window sizes, noise offsets and constants, then the kernel.

The kernels themselves (:mod:`models.physics.kernels`) take NumPy views and scalars; these
functions prepare them from a :class:`~models.physics.pulses.PulsedArray`'s tensors in the order
the torch path draws its noise (:func:`~models.physics.train_noise.train_windows`, then the write
noise's window) and wrap the results as tensors.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from models.physics.devices import UpdateRule
from models.physics.kernels import (
    C_C2C,
    C_C2C_ADD,
    C_C2C_SLOPE,
    C_EXP_B,
    C_EXP_SCALE,
    C_NEG_AMP_DN,
    C_NEG_AMP_UP,
    C_ONE,
    C_RATE_DN,
    C_RATE_UP,
    C_REFRESH,
    C_SPAN_MIN,
    C_WRITE_SIGMA,
    C_ZERO,
    DTYPES,
    N_CONSTS,
    NOISE_ADD,
    NOISE_COMPLEX,
    NOISE_MULT,
    NOISE_NONE,
    ROW_COUNT_STEP,
    RULE_CONSTANT,
    RULE_EXP,
    RULE_LINEAR,
    pulse_devices,
    pulse_pairs,
    pulse_rows,
)
from models.physics.noise import cpu_normal_table, table_offsets
from models.physics.train_noise import TrainSizes, train_windows
from models.physics.update_rules import PulseModel


def consts(
    dtype: torch.dtype,
    *,
    exp_a: float,
    exp_b: float,
    c2c: float,
    c2c_add: float,
    c2c_slope: float,
    gamma_up: float,
    gamma_down: float,
    amp_up: float,
    amp_down: float,
    write_sigma: float,
    refresh: float,
) -> np.ndarray:
    """The chain's scalars in ``dtype`` (a Python float becomes the tensor's dtype by rounding
    to nearest, as torch casts a scalar operand)."""
    values = [0.0] * N_CONSTS
    values[C_EXP_SCALE], values[C_EXP_B] = 2.0 * exp_a, exp_b
    values[C_C2C], values[C_C2C_ADD], values[C_C2C_SLOPE] = c2c, c2c_add, c2c_slope
    values[C_RATE_UP], values[C_RATE_DN] = gamma_up, -gamma_down
    values[C_NEG_AMP_UP], values[C_NEG_AMP_DN] = -amp_up, -amp_down
    values[C_SPAN_MIN], values[C_ONE], values[C_ZERO] = 1e-12, 1.0, 0.0
    values[C_WRITE_SIGMA], values[C_REFRESH] = write_sigma, refresh
    return np.array(values, dtype=np.float64).astype(DTYPES[dtype])


@functools.lru_cache(maxsize=256)
def codes(model: PulseModel) -> tuple[int, int]:
    """(rule, noise) codes of a pulse model, as :func:`~models.physics.update_rules._one_pulse` branches
    (once per model: every update asks)."""
    if model.rule is UpdateRule.EXP_STEP:
        rule = RULE_EXP
    elif model.rule in (UpdateRule.LINEAR_STEP, UpdateRule.SOFT_BOUNDS):
        rule = RULE_LINEAR
    else:
        rule = RULE_CONSTANT
    if model.c2c <= 0:
        return rule, NOISE_NONE
    if model.complex_noise:
        return rule, NOISE_COMPLEX
    return rule, NOISE_MULT if model.mult_noise else NOISE_ADD


@functools.lru_cache(maxsize=256)
def model_consts(model: PulseModel, dtype: torch.dtype, refresh: float) -> np.ndarray:
    """:func:`consts` of a pulse model, once per (model, dtype, refresh): shared by every update of
    it, read-only (the kernels only read it)."""
    c = consts(
        dtype,
        exp_a=model.exp_a,
        exp_b=model.exp_b,
        c2c=model.c2c,
        c2c_add=model.c2c_add,
        c2c_slope=model.c2c_slope,
        gamma_up=model.gamma_up,
        gamma_down=model.gamma_down,
        amp_up=model.amp_up,
        amp_down=model.amp_down,
        write_sigma=model.write_sigma,
        refresh=refresh,
    )
    c.flags.writeable = False
    return c


Into = tuple[Tensor, float] | None
"""Where a kernel also writes α·ω: (a flat contiguous weight, α), or None."""


def writable(into: Into, like: Tensor) -> bool:
    """Whether a kernel may write ``into``'s weight itself: contiguous, of ``like``'s dtype and device."""
    return into is None or (
        into[0].is_contiguous() and into[0].dtype == like.dtype and into[0].device == like.device
    )


class Train(NamedTuple):
    """What every pulse kernel takes for one update besides the array: the rule and noise codes,
    the chain's constants, the pulses' NumPy view, the noise windows' starts and the train's
    length (drawn as the torch loop draws them), the normal table and the buffer of the new ω."""

    rule: int
    noise: int
    consts: np.ndarray
    n: np.ndarray
    starts: np.ndarray
    last: int
    table: np.ndarray
    out: np.ndarray


def _train(
    model: PulseModel, n: Tensor, like: Tensor, refresh: float = 0.0, sizes: TrainSizes | None = None
) -> Train:
    """The :class:`Train` of pulses ``n`` on an array whose tensors are like ``like`` (draws the
    train's noise windows from the global stream; ``sizes``: ``n``'s, if already counted)."""
    rule, noise = codes(model)
    c = model_consts(model, like.dtype, refresh)
    nn = n.numpy()
    starts, last = train_windows(nn, noise != NOISE_NONE, sizes)
    return Train(
        rule, noise, c, nn, starts, last, cpu_normal_table(like.dtype), np.empty(nn.size, dtype=c.dtype)
    )


def _target(into: Into, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The weight a kernel writes α·ω into (empty: none) and α, in the kernel's dtype."""
    weight = np.empty(0, dtype=dtype) if into is None else into[0].numpy()
    return weight, np.array([0.0 if into is None else into[1]]).astype(dtype)


def pulse_devices_at(
    model: PulseModel, idx: Tensor, n: Tensor, state: tuple[Tensor, ...], slopes: tuple[Tensor, Tensor] | None
) -> Tensor:
    """The kernel of a bidirectional state-dependent array's ``pulse_at``: ``state`` is
    (ω, b_min, b_max, s⁺, s⁻, counts of the devices, read ω), all flat."""
    w, lo, hi, up, down, counts, read = state
    t = _train(model, n, w)
    write_start = table_offsets([idx.numel()])[0] if model.write_sigma > 0 else -1
    sup, sdn = (w, w) if slopes is None else slopes
    pulse_devices(
        idx.numpy(), t.n, w.numpy(), lo.numpy(), hi.numpy(), up.numpy(), down.numpy(), sup.numpy(),
        sdn.numpy(), counts.numpy(), read.numpy(), t.out, t.rule, t.noise, t.consts, t.table, t.starts,
        write_start, t.last,
    )  # fmt: skip
    return torch.from_numpy(t.out)


def pulse_pairs_at(
    model: PulseModel,
    idx: Tensor,
    n: Tensor,
    rows: Tensor,
    value: Tensor,
    counts: Tensor,
    slope: Tensor | None,
    refresh: float,
    into: Into = None,
    sizes: TrainSizes | None = None,
) -> tuple[Tensor, Tensor, Tensor, int]:
    """The kernel of a state-dependent one-directional pair's ``pulse_at``: ``rows`` (N,
    :data:`~models.physics.kernels.PAIR_WIDTH`), ``value`` and ``counts`` (2N) flat; ``into`` (flat
    contiguous weight, α): α·ω written there. Returns the new ω; for the refreshed pairs the
    devices that get their SETs (flat, into ``counts``) and (|ω|, step, bound, slope) rows (copies:
    they may wait); and the most a row's pending count grew by."""
    t = _train(model, n, rows, refresh, sizes)
    refreshed = np.empty(idx.numel(), dtype=np.int64)
    found = np.empty((idx.numel(), 4), dtype=t.consts.dtype)
    weight, alpha = _target(into, t.consts.dtype)
    r = pulse_pairs(
        idx.numpy(), t.n, rows.numpy(), value.numpy(), counts.numpy(),
        (value if slope is None else slope).numpy(), t.out, refreshed, t.rule, t.noise, t.consts, t.table,
        t.starts, t.last, weight, alpha, found,
    )  # fmt: skip
    grew = min(max(t.last, 1), ROW_COUNT_STEP) + 1  # whole |n| ≤ last (or ≤ 1), and a RESET
    return (
        torch.from_numpy(t.out),
        torch.from_numpy(refreshed[:r].copy()),
        torch.from_numpy(found[:r].copy()),
        grew,
    )


def pulse_rows_at(
    model: PulseModel,
    idx: Tensor,
    n: Tensor,
    rows: Tensor,
    counts: Tensor,
    into: Into,
    count_col: int = -1,
    sizes: TrainSizes | None = None,
) -> tuple[Tensor, int]:
    """The kernel of a row-packed array's ``pulse_at`` (``counts`` the devices' flat counter;
    ``into``: a flat contiguous weight and α to write α·(read ω) into; ``count_col``: the rows'
    count column or −1); returns the read ω and the most any device's row count grew by."""
    weight, alpha = _target(into, DTYPES[rows.dtype])
    out = np.empty(idx.numel(), dtype=weight.dtype)
    target = RowTarget(rows.numpy(), counts.numpy(), weight, alpha, count_col)
    grew = rows_train(model, rows.dtype, idx.numpy(), n.numpy(), target, out, sizes)
    return torch.from_numpy(out), grew


class RowTarget(NamedTuple):
    """What :func:`rows_train` writes: the rows and the devices' flat counter (NumPy views), the
    weight α·(read ω) goes into (empty: none) with α, and the rows' count column (or −1)."""

    rows: np.ndarray
    counts: np.ndarray
    weight: np.ndarray
    alpha: np.ndarray
    count_col: int


def rows_train(
    model: PulseModel,
    dtype: torch.dtype,
    idx: np.ndarray,
    n: np.ndarray,
    target: RowTarget,
    out: np.ndarray,
    sizes: TrainSizes | None = None,
) -> int:
    """:func:`~models.physics.kernels.pulse_rows` of pulses ``n`` at flat indices ``idx`` on NumPy
    operands of ``dtype``, its noise windows drawn as the torch loop draws them (the train's, then
    the write noise's); ``out`` gets the read ω in ``idx``'s order. Returns the most any device's
    row count grew by (whole |n| ≤ the train's length, or ≤ 1)."""
    rule, noise = codes(model)
    starts, last = train_windows(n, noise != NOISE_NONE, sizes)
    write_start = table_offsets([idx.size])[0] if model.write_sigma > 0 else -1
    pulse_rows(
        idx, n, target.rows, target.counts, target.weight, target.alpha, out, rule, noise,
        model_consts(model, dtype, 0.0), cpu_normal_table(dtype), starts, write_start, last, target.count_col,
    )  # fmt: skip
    return min(max(last, 1), ROW_COUNT_STEP)


__all__ = [
    "Into",
    "RowTarget",
    "codes",
    "consts",
    "model_consts",
    "pulse_devices_at",
    "pulse_pairs_at",
    "pulse_rows_at",
    "rows_train",
    "writable",
]
