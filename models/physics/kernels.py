"""Compiled CPU kernels for the pulsed device updates: gather, pulse train and scatter in one loop.

The torch code of :mod:`models.physics.update_rules` and :mod:`models.physics.pulses` is the
reference and the path on every other torch device; these kernels do the same arithmetic on
the CPU tensors' NumPy views (no copy), device by device, instead of ~17 small torch calls per
pulse and a gather and scatter of every column (docs/training_modes.md, fourth speed pass).

Same physics, same noise: every operation of the torch chain is kept, in its order and dtype
(numba without ``fastmath``, so LLVM neither reorders nor fuses a multiply and an add: checked
in ``test_update_kernels.py``), and the c2c noise is read from the same table windows, whose
offsets are drawn by :func:`models.physics.noise.table_offsets` exactly as the torch path's
:func:`~models.physics.noise.normals` calls draw them, in the same order. The result is the
torch path's bit for bit where the chain has only +, −, ×, ÷ and clamps; the exponential rule's
``exp`` is LLVM's (glibc's ``expf``/``exp``) where torch uses Sleef's vectorized one, within
1 ULP of each other (bound measured in the tests).

:data:`ENABLED` (environment ``DSE_TORCH_UPDATES=1`` turns it off) selects the kernels for
CPU tensors; other devices always take the torch path. The first call compiles (~seconds,
once per dtype); ``cache=True`` keeps the machine code next to this file, and a read-only
install compiles at each start instead (numba warns that it cannot cache).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import Tensor

from models.physics.jit import AHEAD, fma, jit, prefetch, torch_fuses
from models.physics.noise import NOISE_TABLE_SIZE

TORCH_FUSES = torch_fuses()
"""This build's probe (:func:`~models.physics.jit.torch_fuses`), once at import."""
ENABLED = os.environ.get("DSE_TORCH_UPDATES", "") in ("", "0") and TORCH_FUSES
"""Use the kernels for CPU tensors (``DSE_TORCH_UPDATES=1``, or a torch build whose multiply-adds
round twice: the torch path everywhere)."""

Array = np.ndarray
"""A NumPy view of a CPU tensor (what the kernels take)."""
RULE_CONSTANT, RULE_LINEAR, RULE_EXP = 0, 1, 2
"""The factor f^d of the rule: 1, max(1 + γ^d·ω, 0), max(1 − A^d·e^{rate·z}, 0)."""
NOISE_NONE, NOISE_MULT, NOISE_ADD, NOISE_COMPLEX = 0, 1, 2, 3
"""The c2c noise's σ: none, f·s·c2c, s·c2c, (f·s + add + slope·|ω|)·c2c [A]."""

# consts: the Python scalars of the torch chain, rounded to the array's dtype as torch rounds them
C_EXP_SCALE, C_EXP_B, C_C2C, C_C2C_ADD, C_C2C_SLOPE = 0, 1, 2, 3, 4
C_RATE_UP, C_RATE_DN, C_NEG_AMP_UP, C_NEG_AMP_DN, C_SPAN_MIN = 5, 6, 7, 8, 9
C_ONE, C_ZERO, C_WRITE_SIGMA, C_REFRESH = 10, 11, 12, 13
N_CONSTS = 14


def usable(*tensors: Tensor) -> bool:
    """True when the kernels apply: :data:`ENABLED`, CPU tensors of float32 or float64."""
    return ENABLED and all(t.device.type == "cpu" for t in tensors) and tensors[0].dtype in DTYPES


DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
"""NumPy dtypes of the torch dtypes the kernels take."""


def flat_views(*tensors: Tensor) -> list[Array] | None:
    """Flat NumPy views (no copy) of ``tensors`` when the kernels take them all (:func:`usable`, one
    dtype, contiguous), else None: the check and the views in one pass (NumPy's reshape, a third
    of the time of torch's ``view`` then ``numpy``)."""
    first = tensors[0]
    if not (ENABLED and first.dtype in DTYPES):
        return None
    views = []
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != first.dtype or not t.is_contiguous():
            return None
        views.append(t.numpy().reshape(-1))
    return views


@jit(inline="always")
def _pulse(
    w: float, s: float, unit: bool, step: float, rate: float, neg_amp: float, slope: float, lo: float,
    hi: float, span: float, xi: float, rule: int, noise: int, c: tuple[float, ...],
) -> float:  # fmt: skip
    """One pulse on one device: :func:`~models.physics.update_rules._one_pulse` and
    :func:`~models.physics.update_rules.pulse_once`, operation by operation (``c``: :func:`_scalars`)."""
    if rule == RULE_EXP:
        z = c[C_EXP_SCALE] * w / span + c[C_EXP_B]
        f = math.exp(z * rate) * neg_amp + c[C_ONE]
        if f < c[C_ZERO]:
            f = c[C_ZERO]
    elif rule == RULE_LINEAR:
        f = fma(slope, w, c[C_ONE])  # torch.addcmul(1, γ, ω): one rounding
        if f < c[C_ZERO]:
            f = c[C_ZERO]
    else:
        f = c[C_ONE]
    dw = step * f
    change = s * dw
    if noise != NOISE_NONE:
        if noise == NOISE_COMPLEX:
            sigma = (dw + c[C_C2C_ADD] + c[C_C2C_SLOPE] * abs(w)) * c[C_C2C]
        elif noise == NOISE_MULT:
            sigma = dw * c[C_C2C]
        else:
            sigma = step * c[C_C2C]
        change = change + (sigma * xi if unit else abs(s) * sigma * xi)
    v = change + w
    if v < lo:
        v = lo
    if hi < v:
        v = hi
    return v


@jit(inline="always")
def _scalars(c: np.ndarray) -> tuple[float, ...]:
    """The constants as a tuple of scalars: an array handed to the per-device helpers would be
    reference-counted (two atomic operations) at every call."""
    return (
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
    )  # fmt: skip


@jit(inline="always")
def _first(
    w: float, x: float, lo: float, hi: float, step: float, rate: float, neg_amp: float, slope: float,
    xi: float, rule: int, noise: int, c: tuple[float, ...],
) -> tuple[float, float, float]:  # fmt: skip
    """(sign, span, ω after the first pulse): the first pulse runs on every device, n = 0 included."""
    zero = c[C_ZERO]
    s = (c[C_ONE] if x > zero else zero) - (c[C_ONE] if x < zero else zero)  # sign(x); 0, NaN: 0
    span = hi - lo
    if span < c[C_SPAN_MIN]:
        span = c[C_SPAN_MIN]
    return s, span, _pulse(w, s, False, step, rate, neg_amp, slope, lo, hi, span, xi, rule, noise, c)


@jit(inline="always")
def _train(
    w: float, x: float, k: float, lo: float, hi: float, step: float, rate: float, neg_amp: float,
    slope: float, rule: int, noise: int, c: tuple[float, ...], table: Array, starts: Array,
    live: Array, i: int, last: int,
) -> float:  # fmt: skip
    """ω after one device's pulse train (``x`` signs it, ``k`` = |n| pulses): the first pulse on
    every device (n = 0 included) reads the table at ``starts[0] + i``; pulse j reads it at its
    window's start plus the device's rank among the devices it runs on (``live[j]``, counted
    here), as the torch loop draws them."""
    zero, quiet = c[C_ZERO], noise == NOISE_NONE
    xi = zero if quiet else table[starts[0] + i]
    s, span, v = _first(w, x, lo, hi, step, rate, neg_amp, slope, xi, rule, noise, c)
    j = 1
    while j < last and k > j:
        xi = zero if quiet else table[starts[j] + live[j]]
        live[j] += 1
        v = _pulse(v, s, True, step, rate, neg_amp, slope, lo, hi, span, xi, rule, noise, c)
        j += 1
    return v


@jit()
def pulse_devices(
    idx: Array, n: Array, w_all: Array, lo_all: Array, hi_all: Array, up_all: Array, down_all: Array,
    sup_all: Array, sdn_all: Array, counts: Array, read_all: Array, out: Array, rule: int, noise: int,
    consts: Array, table: Array, starts: Array, write_start: int, last: int,
) -> None:  # fmt: skip
    """:meth:`~models.physics.pulses.PulsedArray.pulse_at` of a bidirectional state-dependent array:
    per device, gather, the pulse train, scatter ω, count |n|, and with write noise (``write_start``
    ≥ 0) read ω + σ_w·ξ. ``out`` gets the read ω in the order of ``idx``.

    Pulse j of the train reads the table at its window's start plus the device's rank among the
    devices that pulse j runs on (``live[j]`` counts them so far), as the torch loop draws them."""
    c = _scalars(consts)
    live = np.zeros(max(last, 1), dtype=np.int64)
    zero = c[C_ZERO]
    last_i = idx.size - 1
    for i in range(idx.size):
        e = idx[min(i + AHEAD, last_i)]
        prefetch(w_all, e)
        prefetch(lo_all, e)
        prefetch(hi_all, e)
        prefetch(up_all, e)
        prefetch(down_all, e)
        prefetch(read_all, e)
        prefetch(counts, e)
        d = idx[i]
        x = n[i]
        up = x > zero  # lerp(down, up, clamp(sign, 0)) picks up exactly where sign = 1
        s_up, s_down = up_all[d], down_all[d]  # both loaded, one selected: no branch
        step = s_up if up else s_down
        rate = c[C_RATE_UP] if up else c[C_RATE_DN]
        neg_amp = c[C_NEG_AMP_UP] if up else c[C_NEG_AMP_DN]
        slope = zero
        if rule == RULE_LINEAR:
            g_up, g_down = sup_all[d], sdn_all[d]
            slope = g_up if up else g_down
        lo, hi = lo_all[d], hi_all[d]
        k = abs(x)
        v = _train(
            w_all[d], x, k, lo, hi, step, rate, neg_amp, slope, rule, noise, c, table, starts, live, i, last
        )
        w_all[d] = v
        counts[d] += abs(np.float64(x))
        if write_start >= 0:
            v = v + c[C_WRITE_SIGMA] * table[write_start + i]
            read_all[d] = v
        out[i] = v


PAIR_WIDTH = 8
"""Values per pair row: ω⁺, ω⁻, step, bound, the two devices' pending pulse counts (as
:data:`ROW_COUNT_STEP` bounds them), two unused: 32 bytes in float32."""
PAIR_COUNTS = 4
"""The column of ω⁺'s pending count (ω⁻'s is the next)."""


@jit()
def pulse_pairs(
    idx: Array, n: Array, rows: Array, value: Array, counts: Array, slopes: Array, out: Array,
    refreshed: Array, rule: int, noise: int, consts: Array, table: Array, starts: Array, last: int,
    weight: Array, alpha: Array, found: Array,
) -> int:  # fmt: skip
    """:meth:`~models.physics.pulses.PulsedArray._pulse_pairs` of a state-dependent one-directional
    pair (rows of :data:`PAIR_WIDTH`: ω⁺, ω⁻, step, bound, pending counts): the pulse train on the
    pulsed device (its noise as :func:`pulse_devices` reads it), its counts (whole |n| in the rows), the
    refresh test and RESET (the SETs are counted by the caller), the scatter of both devices and
    ω⁺ − ω⁻ into ``value``. ``out`` gets the new
    ω; for the refreshed pairs, in order, ``refreshed`` the device that gets the SETs (flat, into
    ``counts``) and ``found`` its (|ω⁺ − ω⁻|, step, bound, slope); returns how many.
    A ``weight`` not empty gets ``weight[d] = (ω⁺ − ω⁻)·α`` (the torch path's ``omega * alpha``)."""
    c = _scalars(consts)
    live = np.zeros(max(last, 1), dtype=np.int64)
    zero = c[C_ZERO]
    rate, neg_amp = c[C_RATE_UP], c[C_NEG_AMP_UP]
    size, write, a = value.size, weight.size > 0, alpha[0]
    r = 0
    last_i, flat_rows = idx.size - 1, rows.reshape(rows.size)
    for i in range(idx.size):
        ahead = min(i + AHEAD, last_i)
        e = idx[ahead]
        prefetch(flat_rows, e * PAIR_WIDTH)
        prefetch(value, e)
        if write:
            prefetch(weight, e)
        d = idx[i]
        x = n[i]
        k = abs(x)
        p, q, up, hi = rows[d, 0], rows[d, 1], rows[d, 2], rows[d, 3]
        on_pos = x > zero
        slope = slopes[d] if rule == RULE_LINEAR else zero
        new = _train(
            p if on_pos else q,
            k,
            k,
            zero,
            hi,
            up,
            rate,
            neg_amp,
            slope,
            rule,
            noise,
            c,
            table,
            starts,
            live,
            i,
            last,
        )
        p, q = (new, q) if on_pos else (p, new)  # selects, not a branch on the random direction
        # The refresh test, RESET and counts as selects: about half the pairs pass its first test,
        # so a branch on it (or on the direction) was mispredicted half the time.
        big = p if p > q else q
        small = q if p > q else p
        hit = (big >= c[C_REFRESH] * hi) & (small >= up)  # RESET both, SET the difference on one
        w = p - q
        p = (w if not w < zero else zero) if hit else p
        q = (-w if not -w < zero else zero) if hit else q
        once = c[C_ONE] if hit else zero  # one RESET each: whole, in the rows
        whole = (k == np.floor(k)) & (k <= ROW_COUNT_STEP)  # |n| into the rows (NaN is not whole)
        kk = k if whole else zero
        rows[d, PAIR_COUNTS] += (kk if on_pos else zero) + once  # exact: whole numbers below 2^24
        rows[d, PAIR_COUNTS + 1] += (zero if on_pos else kk) + once
        if not whole:
            counts[d + (0 if on_pos else size)] += np.float64(k)
        refreshed[r] = d + size * ((p - q) < zero)  # the device that gets the SETs (kept if hit)
        found[r, 0] = abs(p - q)
        found[r, 1] = up
        found[r, 2] = hi
        found[r, 3] = slope
        r += hit
        rows[d, 0] = p
        rows[d, 1] = q
        value[d] = p - q
        out[i] = p - q
        if write:
            weight[d] = (p - q) * a
    return r


# One row per device (models/physics/device_rows.py): the columns and the kernel on rows, here with
# the helpers it inlines.
W, READ, LO, HI, UP, DOWN, SLOPE_UP, SLOPE_DOWN = range(8)
"""The columns of a row: ω, the read ω (ω plus the write noise), b_min, b_max, s⁺, s⁻, γ⁺, γ⁻."""
ROW_WIDTH = 8
"""Values per row: 32 bytes in float32, so a row never straddles a 64-byte cache line."""
ROW_COUNT_STEP = 1 << 16
"""Largest |n| a row's count column takes from one update (larger ones go to the float64 counter)."""
ROW_AHEAD = 16
"""Devices ahead whose lines the kernel requests (8 for the seven separate arrays before; with
three lines a device, 16 measured 5–10 % faster on 40k of 400k RRAM devices, 24 no better)."""


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
    zero = c[C_ZERO]
    write, a, c_step = weight.size > 0, alpha[0], ROW_COUNT_STEP
    last_i, flat = idx.size - 1, rows.reshape(rows.size)
    for i in range(idx.size):
        e = idx[min(i + ROW_AHEAD, last_i)]
        prefetch(flat, e * ROW_WIDTH)
        if count_col < 0:
            prefetch(counts, e)
        if write:
            prefetch(weight, e)
        d = idx[i]
        x = n[i]
        up = x > zero  # the direction's constants, as pulse_devices selects them
        step = rows[d, UP if up else DOWN]  # a load at a selected column: no branch to mispredict
        rate = c[C_RATE_UP] if up else c[C_RATE_DN]
        neg_amp = c[C_NEG_AMP_UP] if up else c[C_NEG_AMP_DN]
        slope = zero
        if rule == RULE_LINEAR:
            slope = rows[d, SLOPE_UP if up else SLOPE_DOWN]
        lo, hi = rows[d, LO], rows[d, HI]
        k = abs(x)
        v = _train(
            rows[d, W], x, k, lo, hi, step, rate, neg_amp, slope, rule, noise, c, table, starts, live, i, last
        )
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


def fits(m: int) -> bool:
    """A train of ``m`` devices reads its noise from the table (:func:`~models.physics.noise.normals`
    draws fresh normals above half of it, which the kernels do not)."""
    return m <= NOISE_TABLE_SIZE // 2


__all__ = [
    "ENABLED",
    "NOISE_ADD",
    "NOISE_COMPLEX",
    "NOISE_MULT",
    "NOISE_NONE",
    "PAIR_COUNTS",
    "PAIR_WIDTH",
    "RULE_CONSTANT",
    "RULE_EXP",
    "RULE_LINEAR",
    "TORCH_FUSES",
    "fits",
    "flat_views",
    "pulse_devices",
    "pulse_pairs",
    "pulse_rows",
    "usable",
]
