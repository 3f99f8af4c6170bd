"""The tensor side of the fused CPU converter passes: when they apply, and their operands.

:mod:`models.physics.adc_kernel` holds the compiled loops; here the torch tensors become their
NumPy views, the noise windows are drawn as :func:`~models.physics.noise.normals` draws them, the
norms come from torch (``vector_norm``, whose reduction order a loop cannot match), and
:func:`in_order` says whether the loops add the tiles in torch's order (probed on this build).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from models.physics import kernels
from models.physics.adc_kernel import MAX_TILES, SIGN_DETECT, abs_top_two, convert_tiles, dac
from models.physics.converters import RANGE_FLOOR, percentile
from models.physics.noise import NOISE_TABLE_SIZE, cpu_normal_table, normal_table, table_offsets

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


GRAIN_SIZE = 32768
"""torch's ``at::internal::GRAIN_SIZE``: a reduction over fewer entries runs on one thread."""
PROBE_COLUMNS = (1064, 1048, 1088)


def sum_group(dtype: torch.dtype) -> int:
    """The columns per group of torch's vectorized ``sum(dim=0)`` (4 vectors): outputs before the
    last full group add the tiles in order, the rest as ``adc_kernel._tail_sum``. Measured on 5 rows whose
    two orders differ (1, three half-ulps, −1: in order 0, as the tail adds them 3 half-ulps), at
    three widths; 0 when torch adds otherwise (then only ≤ 3 tiles, always in order, are fused)."""
    tiny = 2.0 ** -(24 if dtype is torch.float32 else 53)
    bounds = []
    for m in PROBE_COLUMNS:
        p = torch.zeros(5, m, dtype=dtype)
        p[0], p[1:4], p[4] = 1.0, tiny, -1.0
        s = p.sum(dim=0)
        b = int((s != 0).int().argmax()) if bool((s != 0).any()) else m
        if not (bool((s[:b] == 0).all()) and bool((s[b:] == 3 * tiny).all())):
            return 0
        bounds.append(b)
    for g in (8, 16, 32, 64, 128, 256):
        if all(b == m - m % g for b, m in zip(bounds, PROBE_COLUMNS, strict=True)):
            return g
    return 0


SUM_GROUP = {d: sum_group(d) for d in _DTYPES}
"""This build's :func:`sum_group` per dtype, once at import."""


def in_order(parts: Tensor) -> bool:
    """True when :func:`convert_tiles` adds ``parts (tiles, N, out)`` as torch's ``sum(dim=0)`` does:
    up to 3 tiles (always in order); up to :data:`MAX_TILES` when this build's groups are known,
    the outputs fill at least one, and torch sums on one thread (else its column split moves the
    tails)."""
    tiles, n, out = parts.shape
    if tiles <= 3:
        return True
    return (
        tiles <= MAX_TILES
        and n * out >= 256
        and SUM_GROUP[parts.dtype] > 0
        and (torch.get_num_threads() == 1 or parts.numel() < GRAIN_SIZE)
    )


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
    c = _dac_consts(x_range, bits, x.dtype)
    signed = dac(x.numpy().reshape(-1), q.numpy().reshape(-1), c, sign, clip)
    return q, x_range, signed


@functools.lru_cache(maxsize=64)
def _dac_consts(x_range: float, bits: int, dtype: torch.dtype) -> np.ndarray:
    """:func:`dac`'s scalars in ``dtype`` (read-only, kept: a calibrated range changes at calibration)."""
    c = np.array([x_range, RANGE_FLOOR, 1.0, 2 ** (bits - 1) - 1, 2**bits - 1], dtype=_DTYPES[dtype])
    c.flags.writeable = False
    return c


_NONE: dict[torch.dtype, np.ndarray] = {d: np.zeros(0, dtype=v) for d, v in _DTYPES.items()}
_NO_STARTS = np.zeros(0, dtype=np.int64)


def noise_windows(
    sizes: list[int], like: Tensor, gen: torch.Generator | None
) -> tuple[np.ndarray, list[int]]:
    """The normals that :func:`~models.physics.noise.normals` would give, called for tensors of
    ``sizes`` entries in that order: one array and each window's start in it. Table windows are
    read in place; fresh draws (``gen``, or windows over half the table) fill a buffer in order."""
    half = NOISE_TABLE_SIZE // 2
    if gen is None and max(sizes) <= half:
        return cpu_normal_table(like.dtype), table_offsets(sizes)
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
        norms = norm_t.numpy().reshape(-1)
    if train_sigma > 0:
        sizes.append(n * out)
        train_norms = torch.linalg.vector_norm(x_q.detach(), dim=1).numpy()
    noise, group_starts = noise_windows(sizes, parts, gen) if sizes else (_NONE[dt], [])
    starts = _NO_STARTS
    if read_sigma > 0:  # tile t of a group starts t·N·out entries into the group's window
        step = n * out
        groups = zip(group_starts, sizes, strict=False)
        starts = np.array([at + k * step for at, size in groups for k in range(size // step)], dtype=np.int64)
    if ranges is not None and ranges.dim() == 4:  # (tiles, 1, column tiles, 1) → (tiles, 1, out)
        ranges = ranges.expand(tiles, 1, ranges.shape[2], out // ranges.shape[2]).reshape(tiles, 1, out)
    y = torch.empty(n, out, dtype=dt, device=parts.device)
    top = 2 ** (adc_bits - 1) - 1 if ranges is not None else 0
    convert_tiles(
        parts.detach().numpy(),
        y.numpy(),
        noise,
        starts,
        norms,
        _NONE[dt] if ranges is None else _flat(ranges, tiles, out),
        _NONE[dt] if scale is None else _flat(scale, tiles, out),
        _NONE[dt] if bias is None else bias.detach().numpy(),
        _read_consts(read_sigma, train_sigma, top, dt),
        clip,
        group_starts[-1] if train_sigma > 0 else -1,
        train_norms,
        n * out if tiles <= 3 else n * out - (n * out) % SUM_GROUP[dt],
    )
    return y


def abs_percentile(parts: Tensor, q: float) -> Tensor:
    """``percentile(parts.abs(), q, dim=1)`` of partial sums ``parts (tiles, N, out)``: the same
    values; where the percentile lies between the two largest (``q`` of a calibrated ADC range,
    99.99 % of 64 samples), by one compiled pass (:func:`~models.physics.adc_kernel.abs_top_two`),
    then the interpolation in torch as :func:`~models.physics.converters.percentile` does it."""
    n = parts.shape[1]
    pos = q / 100.0 * (n - 1)
    if not (usable(parts) and parts.dim() == 3 and 2 <= n <= 65536 and q < 100.0 and n - int(pos) <= 2):
        return percentile(parts.abs(), q, dim=1)
    src = parts.detach().contiguous()
    first = torch.empty(parts.shape[0], parts.shape[2], dtype=parts.dtype, device=parts.device)
    second = torch.empty_like(first)
    if not abs_top_two(src.numpy(), first.numpy(), second.numpy()):  # NaN: as the torch path
        return percentile(parts.abs(), q, dim=1)
    hi = first.float()
    lo = second.float() if n - int(pos) == 2 else hi
    return torch.lerp(lo, hi, pos - int(pos)).to(parts.dtype)


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


@functools.lru_cache(maxsize=64)
def _read_consts(read_sigma: float, train_sigma: float, top: int, dtype: torch.dtype) -> np.ndarray:
    """:func:`convert_tiles`'s scalars in ``dtype`` (read-only, kept: they change at calibration)."""
    c = np.array([read_sigma, train_sigma, RANGE_FLOOR, 0.0, 1.0, top], dtype=_DTYPES[dtype])
    c.flags.writeable = False
    return c


def _flat(t: Tensor, tiles: int, out: int) -> np.ndarray:
    """``t`` broadcast to ``(tiles, 1, out)``, as a flat contiguous array."""
    if t.shape != (tiles, 1, out) or not t.is_contiguous():
        t = t.expand(tiles, 1, out).contiguous()
    return t.detach().numpy().reshape(-1)


__all__ = [
    "SUM_GROUP",
    "abs_percentile",
    "in_order",
    "noise_windows",
    "quantize",
    "read",
    "sum_group",
    "usable",
]
