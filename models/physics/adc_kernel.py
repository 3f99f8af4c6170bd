"""Compiled CPU converter passes of the analog reads: the DAC, and noise → ADC → tile sum → bias.

After its batched matmul, every analog read (:meth:`~models.nn.layers.AnalogMatrix._analog_pipeline`,
:func:`~models.nn.mvm.transposed_read`) ran a chain of small torch calls: the DAC (min, multiply,
round, clamp, multiply), the read noise (``addcmul_`` per group of tiles), the ADC (range floor,
reciprocal, multiply, round, clamp, multiply), the sum over tiles and the bias. Each call is one
pass over a few hundred kB and costs mostly dispatch time; here each chain is one loop over the
tensors' NumPy views (docs/training_modes.md, fifth speed pass).

Same values as the torch chain, which stays the reference and the path on other torch devices
(:data:`models.physics.kernels.ENABLED`): every operation is the torch kernel's, in its order and
dtype, without ``fastmath`` — ``addcmul_(z, norms, value=σ)`` is ``fma(σ·z, norm, p)`` (one
rounding, as this build computes it: :func:`~models.physics.jit.torch_fuses`), ``round_`` is
``rint`` (half to even), the range factor is ``(1/r)·n`` then ``r/n`` as torch forms them, and
the sum over at most :data:`MAX_TILES` tiles adds them as torch's ``sum(dim=0)`` does: in order
from zero, except past the last full group of columns (:func:`_tail_sum`). Noise values come
from the same table windows, whose offsets are drawn in the torch path's order; the norms (a
vectorized reduction whose order a loop cannot match) stay torch's. The tensor side (when the
passes apply, their operands) is :mod:`models.physics.fused_reads`.
"""

from __future__ import annotations

import numpy as np

from models.physics.jit import fma, jit, prefetch

MAX_TILES = 8
"""Most tiles a fused read sums (the orders of torch's ``sum(dim=0)`` are checked up to this many)."""
C_SIGMA, C_TRAIN_SIGMA, C_FLOOR, C_ZERO, C_ONE, C_N = 0, 1, 2, 3, 4, 5
"""Scalars of :func:`convert_tiles`, in the partial sums' dtype (``C_N``: the ADC's top code)."""
D_RANGE, D_FLOOR, D_ONE, D_N_SIGNED, D_N_UNSIGNED = 0, 1, 2, 3, 4
"""Scalars of :func:`dac`, in the inputs' dtype."""
PREFETCH_ROWS, LINE = 2, 16
"""The noise window is requested this many rows ahead, a 64-byte line (16 float32) per request:
the table is larger than the caches, and a window starts anywhere in it."""
SIGN_DETECT = -1
""":func:`dac`'s ``sign``: signed when an entry is negative (and none is NaN: ``x.amin() < 0``)."""

# Every loop below is one simple pass over row slices (no load under a branch, indices that are
# the loop's own), so that LLVM vectorizes it.


@jit()
def dac(x: np.ndarray, out: np.ndarray, c: np.ndarray, sign: int, clip: bool) -> bool:
    """DAC of the flat ``x`` into ``out``, as :func:`~models.physics.converters.quantize_scalar_range`
    at the range ``c[D_RANGE]`` (rounded to the dtype): signed if ``sign`` is 1, unsigned if 0,
    else (:data:`SIGN_DETECT`) signed when ``float(x.amin()) < 0`` would say so. Returns the sign."""
    signed = sign == 1
    if sign == SIGN_DETECT:
        neg, nan = 0, 0
        for i in range(x.size):
            neg += x[i] < 0
            nan += x[i] != x[i]
        signed = neg > 0 and nan == 0
    r, floor = c[D_RANGE], c[D_FLOOR]
    r = floor if floor > r else r  # max(round(r), round(RANGE_FLOOR)), as Python's max
    nf = c[D_N_SIGNED] if signed else c[D_N_UNSIGNED]
    factor = (c[D_ONE] / r) * nf
    step = r / nf
    low = -nf if signed else c[D_ONE] - c[D_ONE]
    if clip:
        for i in range(x.size):
            q = np.rint(x[i] * factor)
            if q < low:
                q = low
            if q > nf:
                q = nf
            out[i] = q * step
    else:
        for i in range(x.size):
            out[i] = np.rint(x[i] * factor) * step
    return signed


@jit()
def _factors(ranges: np.ndarray, scale: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (tile, output): the quantizer's ``n/r`` as ``(1/r)·n`` and its step ``r/n`` (× the GDC
    scale when not empty), ``r`` floored at ``c[C_FLOOR]`` (a NaN range stays NaN, as clamp_min)."""
    factor = np.empty_like(ranges)
    step = np.empty_like(ranges)
    one, nf, floor = c[C_ONE], c[C_N], c[C_FLOOR]
    for k in range(ranges.size):
        r = ranges[k]
        if r < floor:
            r = floor
        factor[k] = (one / r) * nf
        step[k] = r / nf
    if scale.size:
        for k in range(ranges.size):
            step[k] = step[k] * scale[k]
    return factor, step


@jit()
def _tail_sum(q: np.ndarray, zero: float) -> float:
    """Σ q over 4–8 tiles as torch's ``sum(dim=0)`` adds the outputs past its last full group of
    columns (``row_sum``: four interleaved partial sums, then the leftover tiles, then the partials)."""
    ilp = q.size // 4
    ps0, ps1, ps2, ps3 = zero + q[0], zero + q[1], zero + q[2], zero + q[3]
    if ilp == 2:
        ps0, ps1, ps2, ps3 = ps0 + q[4], ps1 + q[5], ps2 + q[6], ps3 + q[7]
    for i in range(4 * ilp, q.size):
        ps0 = ps0 + q[i]
    return zero + (((ps0 + ps1) + ps2) + ps3)


@jit()
def convert_tiles(
    parts3: np.ndarray,
    y2: np.ndarray,
    noise: np.ndarray,
    starts: np.ndarray,
    norms: np.ndarray,
    ranges: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    c: np.ndarray,
    clip: bool,
    train_start: int,
    train_norms: np.ndarray,
    seq_end: int,
) -> None:
    """``y = Σ_t ADC_t(parts[t] + σ·z_t·‖x_t‖) (+ σ_train·z·‖x‖) (+ bias)``.

    ``parts3 (tiles, N, out)`` and ``y2 (N, out)`` are C-contiguous, the others flat. Read noise
    where ``starts`` is not empty: tile ``t`` reads ``noise[starts[t]:]`` in ``(N, out)`` order, times
    ``norms[t·N + i]``. ADC where ``ranges (tiles, out)`` is not empty, clamped where ``clip``; the
    GDC ``scale (tiles, out)`` where not empty. Training noise from ``noise[train_start:]`` (when
    ``≥ 0``) times ``train_norms[i]``, then ``bias (out)`` where not empty. The tiles' sum runs in
    order up to the flat output ``seq_end``, beyond it in the order of torch's tail (:func:`_tail_sum`).
    """
    tiles, rows, out = parts3.shape
    parts, y = parts3.reshape(-1), y2.reshape(-1)
    adc, has_scale = ranges.size > 0, scale.size > 0
    if adc:
        factor, step = _factors(ranges, scale, c)
    else:
        factor, step = scale, scale
    buf = np.empty(out, dtype=y.dtype)
    sig, tsig, nf = c[C_SIGMA], c[C_TRAIN_SIGMA], c[C_N]
    # a single tile is its own sum (torch takes parts[0]): -0 + v keeps v's sign; several start at +0
    first = -c[C_ZERO] if tiles == 1 else c[C_ZERO]
    tail = np.empty((tiles, rows * out - seq_end), dtype=y.dtype)
    for t in range(tiles):  # tile by tile: each tile's partial sums and noise window are one stream
        for i in range(rows):
            pr = parts[(t * rows + i) * out : (t * rows + i + 1) * out]
            yr = y[i * out : (i + 1) * out]
            if starts.size:
                nz, nrm = noise[starts[t] + i * out : starts[t] + (i + 1) * out], norms[t * rows + i]
                ahead = starts[t] + (i + PREFETCH_ROWS) * out
                for k in range(ahead, min(ahead + out, noise.size), LINE):
                    prefetch(noise, k)
                for j in range(out):
                    buf[j] = fma(sig * nz[j], nrm, pr[j])
            else:
                for j in range(out):
                    buf[j] = pr[j]
            if adc:
                fr, sr = factor[t * out : (t + 1) * out], step[t * out : (t + 1) * out]
                if clip:
                    for j in range(out):
                        q = np.rint(buf[j] * fr[j])
                        if q < -nf:
                            q = -nf
                        if q > nf:
                            q = nf
                        buf[j] = q * sr[j]
                else:
                    for j in range(out):
                        buf[j] = np.rint(buf[j] * fr[j]) * sr[j]
            elif has_scale:
                sc = scale[t * out : (t + 1) * out]
                for j in range(out):
                    buf[j] = buf[j] * sc[j]
            lim = min(out, max(seq_end - i * out, 0))
            if t == 0:
                for j in range(lim):
                    yr[j] = first + buf[j]
            else:
                for j in range(lim):
                    yr[j] = yr[j] + buf[j]
            for j in range(lim, out):
                tail[t, i * out + j - seq_end] = buf[j]
    for f in range(rows * out - seq_end):
        y[seq_end + f] = _tail_sum(tail[:, f], c[C_ZERO])
    for i in range(rows):
        yr = y[i * out : (i + 1) * out]
        if train_start >= 0:
            tz, tn = noise[train_start + i * out : train_start + (i + 1) * out], train_norms[i]
            for j in range(out):
                yr[j] = fma(tsig * tz[j], tn, yr[j])
        if bias.size:
            for j in range(out):
                yr[j] = yr[j] + bias[j]


@jit()
def abs_top_two(parts: np.ndarray, first: np.ndarray, second: np.ndarray) -> bool:
    """The largest and second largest ``|parts[t, :, c]|`` of ``parts (tiles, N ≥ 2, out)`` into
    ``first``, ``second (tiles, out)`` of its dtype (ties counted: the sorted values' last two, as
    :func:`~models.physics.converters.top_two` of ``|parts|``); one pass instead of |·| and a
    dozen maximum/minimum calls. Returns False, and leaves the outputs unspecified, when an entry
    is NaN (the torch path propagates NaN; the caller falls back to it)."""
    tiles, n, out = parts.shape
    nan = 0
    for t in range(tiles):
        hi, lo = first[t], second[t]
        for c in range(out):
            a, b = abs(parts[t, 0, c]), abs(parts[t, 1, c])
            nan += (a != a) + (b != b)
            hi[c] = a if a >= b else b
            lo[c] = b if a >= b else a
        for i in range(2, n):
            row = parts[t, i]
            for c in range(out):
                v = abs(row[c])
                nan += v != v
                h = hi[c]
                lo[c] = h if v > h else (v if v > lo[c] else lo[c])
                hi[c] = v if v > h else h
    return nan == 0


__all__ = ["MAX_TILES", "SIGN_DETECT", "abs_top_two", "convert_tiles", "dac"]
