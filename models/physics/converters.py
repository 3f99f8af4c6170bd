"""Converters: DAC and ADC quantization, range finding, and the straight-through quantizer.

Pure tensor functions. The in-place ADC helpers serve the analog layers' forward pass; the
functional quantizers serve tests, training and the ranges' calibration.
"""

from __future__ import annotations

import struct

import torch
from torch import Tensor

from models.physics import tiling

RANGE_FLOOR = 1e-30
"""Smallest converter range. Not ``finfo.tiny``: ``n / r`` must stay finite, or an all-zero tile
(range 0, e.g. dead ReLUs) gives 0·inf = NaN."""


def quantize_uniform(x: Tensor, bits: int, x_range: Tensor | float, signed: bool) -> Tensor:
    """Round ``x`` onto a uniform grid of at most ``2**bits`` codes, clipping at the range.

    Signed: mid-tread, codes ``-(2^(b-1)-1) … 2^(b-1)-1`` times ``Δ = r/(2^(b-1)-1)``
    (zero is exact; a 1-bit signed quantizer outputs ``±r``). Unsigned: codes
    ``0 … 2^b-1`` times ``Δ = r/(2^b-1)``. The error inside the range is at most Δ/2.
    No gradient trick here; see :func:`fake_quant` for the straight-through version.
    """
    r = torch.as_tensor(x_range, dtype=x.dtype, device=x.device).clamp_min(RANGE_FLOOR)
    if signed and bits == 1:
        return torch.where(x >= 0, r, -r).expand_as(x)
    n = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    # round(clip(x/r)·n) == clip(round(x·n/r)) for integer n; the second is fewer passes.
    return torch.round(x * (n / r)).clamp_(-n if signed else 0, n).mul_(r / n)


def quantize_uniform_(x: Tensor, bits: int, x_range: Tensor | float) -> Tensor:
    """In-place signed :func:`quantize_uniform` for tensors outside autograd (4 passes, no copies)."""
    r = torch.as_tensor(x_range, dtype=x.dtype, device=x.device).clamp_min(RANGE_FLOOR)
    if bits == 1:
        return x.copy_(torch.where(x >= 0, r, -r).expand_as(x))
    n = 2 ** (bits - 1) - 1
    return x.mul_(n / r).round_().clamp_(-n, n).mul_(r / n)


def round_to_dtype(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to the nearest ``dtype`` value (what a 0-dim tensor of ``dtype`` holds)."""
    if dtype is torch.float64:
        return value
    if dtype is torch.float32:
        return struct.unpack("f", struct.pack("f", value))[0]
    return float(torch.tensor(value, dtype=dtype))


def quantize_scalar_range(x: Tensor, bits: int, x_range: float, signed: bool, clip: bool = True) -> Tensor:
    """:func:`quantize_uniform` with a Python-float range: 3–4 passes, no 0-dim tensor arithmetic.

    Bit-identical to it: the range is rounded to ``x.dtype`` and its factors are computed as
    the tensor code does, ``n/r`` as ``fl(fl(1/r)·n)`` (``Tensor.__rdiv__``) and ``r/n`` as a
    true division (double rounding through float64 is innocuous for float32: 53 ≥ 2·24 + 2).
    ``clip=False`` skips the clamp, a no-op when the range covers ``x`` (``|x| ≤ r``, or
    ``0 ≤ x ≤ r`` unsigned): then ``|x·fl(n/r)| ≤ n(1+u)² < n + ½`` rounds to at most ``n``.
    """
    dtype = x.dtype
    r = max(round_to_dtype(x_range, dtype), round_to_dtype(RANGE_FLOOR, dtype))
    if signed and bits == 1:
        return quantize_uniform(x, bits, r, signed)
    n = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    q = x.mul(round_to_dtype(round_to_dtype(1.0 / r, dtype) * n, dtype)).round_()
    if clip:
        q.clamp_(-n if signed else 0, n)
    return q.mul_(round_to_dtype(r / n, dtype))


class _StraightThrough(torch.autograd.Function):
    """Quantize in the forward pass, pass the gradient unchanged (saves no tensors)."""

    @staticmethod
    def forward(ctx: object, x: Tensor, bits: int, x_range: Tensor | float, signed: bool) -> Tensor:
        return quantize_uniform(x, bits, x_range, signed)

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None, None, None]:
        return grad, None, None, None


def fake_quant(x: Tensor, bits: int, x_range: Tensor | float, signed: bool) -> Tensor:
    """:func:`quantize_uniform` in the forward pass, identity gradient (straight-through).

    A custom autograd function rather than ``x + (q - x).detach()``: same values and
    gradient, two fewer elementwise passes and no saved activations.
    """
    if not x.requires_grad:
        return quantize_uniform(x, bits, x_range, signed)
    r = x_range.detach() if isinstance(x_range, Tensor) else x_range
    return _StraightThrough.apply(x, bits, r, signed)


def quant_step(bits: int, x_range: float, signed: bool) -> float:
    """The step Δ of :func:`quantize_uniform` (for signed 1-bit, the distance r to zero)."""
    if signed:
        return x_range if bits == 1 else x_range / (2 ** (bits - 1) - 1)
    return x_range / (2**bits - 1)


TOPK_PERCENTILE = 8
"""A percentile within the 8 largest values is read from ``topk`` instead of a full sort."""
TOP_TWO_TREE = 768
"""From this many reductions (the entries of the other dimensions) on, the two largest values
come from :func:`top_two` (its dozen small calls cost less than two compare-and-select passes)."""


def top_two(v: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The largest and second largest entry along ``dim`` (``size ≥ 2``), ties counted: the sorted
    values' last two, ``sort(v, dim)[-1]`` and ``[-2]``, selected exactly (NaN propagates).

    A tournament of elementwise maxima and minima: the halves give each pair's (larger, smaller),
    then pairs of pairs merge as (max(a₁, b₁), max(min(a₁, b₁), a₂, b₂)) until one is left. Every
    pass is a vectorized ``maximum``/``minimum``; this CPU build's compare and ``where`` (which
    the mask-the-maximum method needs, with a count for ties) are 4–6× slower per entry."""
    n = v.shape[dim]
    h = n // 2
    a, b = v.narrow(dim, 0, h), v.narrow(dim, h, h)
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    left: list[tuple[Tensor, Tensor | None]] = [(v.narrow(dim, n - 1, 1), None)] if n % 2 else []
    while hi.shape[dim] > 1:
        m = hi.shape[dim]
        h = m // 2
        if m % 2:
            left.append((hi.narrow(dim, m - 1, 1), lo.narrow(dim, m - 1, 1)))
        a1, b1, a2, b2 = (
            hi.narrow(dim, 0, h),
            hi.narrow(dim, h, h),
            lo.narrow(dim, 0, h),
            lo.narrow(dim, h, h),
        )
        hi, lo = torch.maximum(a1, b1), torch.maximum(torch.minimum(a1, b1), torch.maximum(a2, b2))
    for b1, b2 in left:
        lo = torch.maximum(torch.minimum(hi, b1), lo if b2 is None else torch.maximum(lo, b2))
        hi = torch.maximum(hi, b1)
    return hi.squeeze(dim), lo.squeeze(dim)


def percentile(values: Tensor, q: float, dim: int, max_samples: int = 65536) -> Tensor:
    """The ``q``-th percentile (0–100) along ``dim``; at most ``max_samples`` evenly strided
    samples are used (``torch.quantile`` refuses very large inputs; convolutions have many)."""
    n = values.shape[dim]
    if n > max_samples:
        idx = torch.linspace(0, n - 1, max_samples, device=values.device).long()
        values = values.index_select(dim, idx)
        n = max_samples  # the position is among the samples (the full n read the wrong order statistic)
    if q >= 100.0:
        return values.amax(dim=dim)
    pos = q / 100.0 * (n - 1)  # torch.quantile's linear interpolation between sorted[lo], sorted[lo + 1]
    top = n - int(pos)
    if top == 2 and values.numel() // n >= TOP_TWO_TREE:  # wide: by pairwise maxima and minima
        first, second = top_two(values.float(), dim)
        return torch.lerp(second, first, pos - int(pos)).to(values.dtype)
    if top <= 2:  # the two largest values, by two maxima (topk along a middle dim is ~4× slower)
        v = values.float()
        first = v.amax(dim=dim, keepdim=True)
        at_max = v == first
        second = torch.where(at_max, -torch.inf, v).amax(dim=dim, keepdim=True)
        second = torch.where(at_max.sum(dim=dim, keepdim=True) > 1, first, second)  # a tie at the top
        lo_v = (second if top == 2 else first).squeeze(dim)
        return torch.lerp(lo_v, first.squeeze(dim), pos - int(pos)).to(values.dtype)
    if top <= TOPK_PERCENTILE:  # a high percentile: the few largest values suffice (no full sort)
        big = values.float().topk(top, dim=dim).values  # descending: sorted[lo + 1], sorted[lo] last
        lo_v, hi_v = big.select(dim, top - 1), big.select(dim, max(top - 2, 0))
        return torch.lerp(lo_v, hi_v, pos - int(pos)).to(values.dtype)
    return torch.quantile(values.float(), q / 100.0, dim=dim).to(values.dtype)


# ---------------------------------------------------------------- in-place ADC of stacked tiles


def abs_max(x: Tensor, dim: int) -> Tensor:
    """max |x| along ``dim`` without materializing |x| (amax and amin are vectorized; aminmax
    along a middle dimension is ~10× slower on the CPU)."""
    return torch.maximum(x.amax(dim=dim), x.amin(dim=dim).neg_())


def column_tile_max_fast(per_col: Tensor, tile_cols: int) -> Tensor:
    """Per-(row tile, column tile) maxima of ``(tiles, out)`` per-column maxima, shaped
    ``(tiles, 1, out)`` (or ``(tiles, 1, 1)`` when one column tile holds every output)."""
    tiles, out = per_col.shape
    if out <= tile_cols:
        return per_col.amax(dim=1).view(tiles, 1, 1)
    n_ct = -(-out // tile_cols)
    if out % tile_cols:
        return tiling.column_tile_max(per_col, tile_cols)
    per_tile = per_col.view(tiles, n_ct, tile_cols).amax(dim=2, keepdim=True)
    return per_tile.expand(tiles, n_ct, tile_cols).reshape(tiles, 1, out)


def tile_abs_max(parts: Tensor, tile_cols: int, layer: bool) -> Tensor:
    """max |p| of contiguous partial sums ``(tiles, N, out)`` per (row tile, column tile), or of
    the whole layer (|p| then one reduction: fewer calls than amax and amin, no slower).

    Shaped to broadcast: ``(tiles, 1, 1)`` (or ``(1, 1, 1)``) against ``parts``; with several
    column tiles of ``tile_cols`` each, ``(tiles, 1, column tiles, 1)`` against ``parts`` viewed
    ``(tiles, N, column tiles, tile_cols)`` (see :func:`adc_`).
    """
    tiles, n, out = parts.shape
    if layer:
        return parts.abs().amax(dim=(0, 1, 2), keepdim=True)
    if out <= tile_cols:
        return parts.abs().amax(dim=(1, 2), keepdim=True)
    if out % tile_cols:
        return tiling.column_tile_max(abs_max(parts, dim=1), tile_cols)
    return parts.abs().view(tiles, n, out // tile_cols, tile_cols).amax(dim=(1, 3), keepdim=True)


def adc_(parts: Tensor, bits: int, ranges: Tensor, scale: Tensor | None, clip: bool) -> Tensor:
    """In-place signed ADC of ``parts (tiles, N, out)`` with ``ranges`` broadcastable to
    ``(tiles, 1, out)`` (or the 4-D per-column-tile form of :func:`tile_abs_max`), then the
    digital per-tile ``scale (tiles, 1, out)`` (GDC), folded into the dequantization step. Same
    codes as :func:`quantize_uniform_`; ``clip=False`` (dynamic ranges, which cover the
    partial sums) skips its no-op clamp."""
    if ranges.dim() == 4:  # per column tile: quantize the (tiles, N, column tiles, cols) view
        tiles, n_ct = ranges.shape[0], ranges.shape[2]
        scale = None if scale is None else scale.reshape(tiles, 1, n_ct, -1)
        _adc_core_(parts.view(tiles, parts.shape[1], n_ct, -1), bits, ranges, scale, clip)
        return parts
    return _adc_core_(parts, bits, ranges, scale, clip)


def _adc_core_(parts: Tensor, bits: int, ranges: Tensor, scale: Tensor | None, clip: bool) -> Tensor:
    if bits == 1:
        quantize_uniform_(parts, bits, ranges)
        return parts if scale is None else parts.mul_(scale)
    r = ranges.clamp_min(RANGE_FLOOR)
    n = 2 ** (bits - 1) - 1
    parts.mul_(r.reciprocal().mul_(n)).round_()  # n / r as Tensor.__rdiv__ computes it
    if clip:
        parts.clamp_(-n, n)
    step = r / n
    return parts.mul_(step if scale is None else step * scale)
