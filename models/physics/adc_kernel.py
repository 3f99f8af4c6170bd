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
the sum over at most :data:`MAX_TILES` tiles is sequential from zero, as torch's ``sum(dim=0)``
adds so few terms (tested). Noise values come from the same table windows, whose offsets are
drawn in the torch path's order; the norms (a vectorized reduction whose order a loop cannot
match) stay torch's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models.physics import kernels
from models.physics.converters import RANGE_FLOOR
from models.physics.jit import fma, jit, prefetch
from models.physics.noise import NOISE_TABLE_SIZE, normal_table, table_offsets

MAX_TILES = 8
"""Most tiles a fused read sums: torch's ``sum(dim=0)`` adds up to this many terms in order."""
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
def convert_tiles(
    parts: np.ndarray,
    shape: np.ndarray,
    y: np.ndarray,
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
) -> None:
    """``y = Σ_t ADC_t(parts[t] + σ·z_t·‖x_t‖) (+ σ_train·z·‖x‖) (+ bias)``, all arrays flat.

    ``parts`` holds ``shape = (tiles, N, out)``, ``y`` is ``(N, out)``. Read noise where ``starts``
    is not empty: tile ``t`` reads ``noise[starts[t]:]`` in ``(N, out)`` order, times
    ``norms[t·N + i]``. ADC where ``ranges (tiles, out)`` is not empty, clamped where ``clip``; the
    GDC ``scale (tiles, out)`` where not empty. Training noise from ``noise[train_start:]`` (when
    ``≥ 0``) times ``train_norms[i]``, then ``bias (out)`` where not empty.
    """
    tiles, rows, out = shape[0], shape[1], shape[2]
    adc, has_scale = ranges.size > 0, scale.size > 0
    if adc:
        factor, step = _factors(ranges, scale, c)
    else:
        factor, step = scale, scale
    buf = np.empty(out, dtype=y.dtype)
    sig, tsig, nf = c[C_SIGMA], c[C_TRAIN_SIGMA], c[C_N]
    # a single tile is its own sum (torch takes parts[0]): -0 + v keeps v's sign; several start at +0
    first = -c[C_ZERO] if tiles == 1 else c[C_ZERO]
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
            if t == 0:
                for j in range(out):
                    yr[j] = first + buf[j]
            else:
                for j in range(out):
                    yr[j] = yr[j] + buf[j]
    for i in range(rows):
        yr = y[i * out : (i + 1) * out]
        if train_start >= 0:
            tz, tn = noise[train_start + i * out : train_start + (i + 1) * out], train_norms[i]
            for j in range(out):
                yr[j] = fma(tsig * tz[j], tn, yr[j])
        if bias.size:
            for j in range(out):
                yr[j] = yr[j] + bias[j]


_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def usable(t: Tensor) -> bool:
    """True when the fused passes apply to ``t``: :data:`models.physics.kernels.ENABLED` (read at
    each call: ``DSE_TORCH_UPDATES=1`` turns it off), a non-empty CPU tensor of float32 or float64."""
    return kernels.ENABLED and t.device.type == "cpu" and t.dtype in _DTYPES and t.numel() > 0


def quantize(x: Tensor, bits: int, x_range: float, fixed: bool) -> tuple[Tensor, float, bool]:
    """The DAC of :meth:`~models.nn.layers.AnalogMatrix._dac` for ``bits ≥ 2``, one pass: signed and
    clipped at ``x_range`` when ``fixed``; else at ``x_range > 0``, signed if ``x`` has a negative
    entry; else dynamic (torch's ``aminmax`` gives the range and sign; no clamp). Returns the
    codes' values, the range and the sign, as the torch path does."""
    x = x.detach().contiguous()
    sign, clip = 1, True
    if not fixed and not x_range > 0:
        lo_t, hi_t = torch.aminmax(x)
        lo, hi = float(lo_t), float(hi_t)
        sign, clip = int(lo < 0), False
        x_range = max(hi, -lo) if sign else hi
    elif not fixed:
        sign = SIGN_DETECT
    q = torch.empty_like(x)
    c = np.array([x_range, RANGE_FLOOR, 1.0, 2 ** (bits - 1) - 1, 2**bits - 1], dtype=_DTYPES[x.dtype])
    signed = dac(x.view(-1).numpy(), q.view(-1).numpy(), c, sign, clip)
    return q, x_range, signed


_NONE: dict[torch.dtype, np.ndarray] = {d: np.zeros(0, dtype=v) for d, v in _DTYPES.items()}
_NO_STARTS = np.zeros(0, dtype=np.int64)
_TABLES: dict[torch.dtype, np.ndarray] = {}
"""NumPy views of the CPU noise tables (read-only, as the tables)."""


def noise_windows(
    sizes: list[int], like: Tensor, gen: torch.Generator | None
) -> tuple[np.ndarray, list[int]]:
    """The normals that :func:`~models.physics.noise.normals` would give, called for tensors of
    ``sizes`` entries in that order: one array and each window's start in it. Table windows are
    read in place; fresh draws (``gen``, or windows over half the table) fill a buffer in order."""
    half = NOISE_TABLE_SIZE // 2
    if gen is None and max(sizes) <= half:
        table_np = _TABLES.get(like.dtype)
        if table_np is None:
            table_np = _TABLES[like.dtype] = normal_table(like.dtype, like.device).numpy()
        return table_np, table_offsets(sizes)
    table = normal_table(like.dtype, like.device)
    buf = torch.empty(sum(sizes), dtype=like.dtype, device=like.device)
    starts, at = [], 0
    for n in sizes:
        window = buf[at : at + n]
        if gen is None and n <= half:
            window.copy_(table[table_offsets([n])[0] :][:n])
        else:
            window.normal_(generator=gen)
        starts.append(at)
        at += n
    return buf.numpy(), starts


def read(
    parts: Tensor,
    x_q: Tensor,
    tile_rows: int,
    *,
    read_sigma: float,
    gen: torch.Generator | None,
    ranges: Tensor | None,
    adc_bits: int,
    clip: bool,
    scale: Tensor | None = None,
    train_sigma: float = 0.0,
    bias: Tensor | None = None,
) -> Tensor:
    """``Σ_t ADC_t(parts[t] + read noise) (+ training noise) (+ bias)`` as the torch chain of
    :meth:`~models.nn.layers.AnalogMatrix._analog_pipeline` computes it, for contiguous CPU
    ``parts (tiles ≤ MAX_TILES, N, out)`` from the DAC'd input ``x_q (N, rows)`` in row tiles of
    ``tile_rows``. ``ranges``: the ``adc_bits``-bit ADC's (≥ 2), broadcastable to ``(tiles, 1, out)``
    or in the 4-D per-column-tile form of :func:`~models.physics.converters.tile_abs_max`;
    ``None``: no ADC. Noise (``read_sigma``, ``train_sigma`` > 0) as :func:`noise_windows` draws it."""
    tiles, n, out = parts.shape
    dt = parts.dtype
    sizes: list[int] = []
    norms = starts = train_norms = _NONE[dt]
    if read_sigma > 0:
        norm_t = torch.empty(tiles, n, dtype=dt, device=parts.device)
        sizes = _tile_norms(x_q.detach(), tile_rows, norm_t)
        sizes = [k * n * out for k in sizes]
        norms = norm_t.view(-1).numpy()
    if train_sigma > 0:
        sizes.append(n * out)
        train_norms = torch.linalg.vector_norm(x_q.detach(), dim=1).numpy()
    noise, group_starts = noise_windows(sizes, parts, gen) if sizes else (_NONE[dt], [])
    if read_sigma > 0:  # tile t of a group starts t·N·out entries into the group's window
        per_tile = [
            at + k * n * out
            for at, size in zip(group_starts, sizes, strict=False)
            for k in range(size // (n * out))
        ]
        starts = np.array(per_tile, dtype=np.int64)
    else:
        starts = _NO_STARTS
    if ranges is not None and ranges.dim() == 4:  # (tiles, 1, column tiles, 1) → (tiles, 1, out)
        ranges = ranges.expand(tiles, 1, ranges.shape[2], out // ranges.shape[2]).reshape(tiles, 1, out)
    y = torch.empty(n, out, dtype=dt, device=parts.device)
    top = 2 ** (adc_bits - 1) - 1 if ranges is not None else 0
    c = np.array([read_sigma, train_sigma, RANGE_FLOOR, 0.0, 1.0, top], dtype=_DTYPES[dt])
    convert_tiles(
        parts.detach().view(-1).numpy(),
        np.array(parts.shape, dtype=np.int64),
        y.view(-1).numpy(),
        noise,
        starts,
        norms,
        _NONE[dt] if ranges is None else _flat(ranges, tiles, out),
        _NONE[dt] if scale is None else _flat(scale, tiles, out),
        _NONE[dt] if bias is None else bias.detach().numpy(),
        c,
        clip,
        group_starts[-1] if train_sigma > 0 else -1,
        train_norms,
    )
    return y


def _tile_norms(x: Tensor, tile_rows: int, norms: Tensor) -> list[int]:
    """‖x_t‖ per row tile and sample into ``norms (tiles, N)``, one ``vector_norm`` per group of
    tiles (the full ones, then the remainder), on the views :func:`~models.physics.tiling.row_tiles`
    makes (same strides, same reduction); returns the tiles per group."""
    batch, n_in = x.shape
    full, rem = divmod(n_in, tile_rows)
    (s0, s1), at = x.stride(), x.storage_offset()
    groups = []
    if full:
        view = x.as_strided((full, batch, tile_rows), (tile_rows * s1, s0, s1), at)
        torch.linalg.vector_norm(view, dim=2, out=norms[:full])
        groups.append(full)
    if rem:
        view = x.as_strided((1, batch, rem), (0, s0, s1), at + full * tile_rows * s1)
        torch.linalg.vector_norm(view, dim=2, out=norms[full:])
        groups.append(1)
    return groups


def _flat(t: Tensor, tiles: int, out: int) -> np.ndarray:
    """``t`` broadcast to ``(tiles, 1, out)``, as a flat contiguous array."""
    if t.shape != (tiles, 1, out) or not t.is_contiguous():
        t = t.expand(tiles, 1, out).contiguous()
    return t.detach().view(-1).numpy()


__all__ = [
    "MAX_TILES",
    "convert_tiles",
    "dac",
    "noise_windows",
    "quantize",
    "read",
    "usable",
]
