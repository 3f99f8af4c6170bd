"""Tiling: how a weight matrix and its inputs are cut into crossbar tiles.

Pure tensor functions. Weights are ``(in, out)`` matrices, so a row tile of ``tile_rows``
rows is a view; full tiles run as one batched matmul, the remainder tile separately.
"""

from __future__ import annotations

import torch
from torch import Tensor


def tile_count(size: int, tile: int) -> int:
    """Tiles needed to hold ``size`` rows or columns."""
    return -(-size // tile)


def split_sizes(n: int, tile_rows: int) -> list[int]:
    full, rem = divmod(n, tile_rows)
    return [s for s in (full * tile_rows, rem) if s]


def row_tiles(x: Tensor, tile_rows: int) -> list[Tensor]:
    """Split inputs ``(batch, in)`` into row tiles: a list of ``(tiles, batch, rows)`` views.

    All full tiles come as one tensor, the remainder tile (if any) as a second.
    """
    chunks = torch.split(x, split_sizes(x.shape[-1], tile_rows), dim=-1)
    return [c.reshape(x.shape[0], -1, min(tile_rows, c.shape[-1])).transpose(0, 1) for c in chunks]


def weight_tiles(w: Tensor, tile_rows: int) -> list[Tensor]:
    """Split a weight ``(in, out)`` the same way: ``(tiles, rows, out)`` views, no copy.

    ``torch.split`` (not slicing) keeps the backward pass a concatenation, not a zero-fill.
    """
    chunks = torch.split(w, split_sizes(w.shape[0], tile_rows))
    return [c.reshape(-1, min(tile_rows, c.shape[0]), w.shape[1]) for c in chunks]


def tile_partial_sums(x: Tensor, w: Tensor, tile_rows: int) -> list[Tensor]:
    """Per-row-tile partial sums of ``x @ w``, without padding or copying the weight.

    Returns ``(tiles, batch, out)`` tensors in the order of :func:`row_tiles`: one
    batched matmul for all full tiles and one for the remainder tile. Summing over
    tiles and the list gives ``x @ w`` (up to float rounding).
    """
    pairs = zip(row_tiles(x, tile_rows), weight_tiles(w, tile_rows), strict=True)
    return [torch.bmm(xt, wt) for xt, wt in pairs]


NARROW = 16
"""Matrices with fewer columns than this multiply faster column-major on the CPU (MKL's
row-major kernels are ~2× slower for, e.g., the 10 outputs of a classifier)."""


def column_major(w: Tensor) -> Tensor:
    """The same ``(in, out)`` matrix with column-major strides (a copy unless it already is)."""
    return w.t().contiguous().t()


def stacked_partial_sums(x: Tensor, w: Tensor, tile_rows: int) -> Tensor:
    """:func:`tile_partial_sums` as one ``(tiles, batch, out)`` tensor (the same values): the full
    tiles' batched matmul and the remainder tile's write into one buffer, so that converters
    treat all tiles in single passes."""
    n_in, out = w.shape
    full, rem = divmod(n_in, tile_rows)
    batch = x.shape[0]
    if out < NARROW:
        w = column_major(w)
    (sx0, sx1), (sw0, sw1) = x.stride(), w.stride()
    if full:  # (tiles, batch, rows) and (tiles, rows, out) views of the full row tiles, one call each
        x_full = x.as_strided((full, batch, tile_rows), (tile_rows * sx1, sx0, sx1))
        w_full = w.as_strided((full, tile_rows, out), (tile_rows * sw0, sw0, sw1))
        if not rem:
            return torch.bmm(x_full, w_full)
    dtype = x.dtype if x.dtype == w.dtype else torch.result_type(x, w)
    parts = torch.empty(full + 1, batch, out, dtype=dtype, device=x.device)
    if full:
        torch.bmm(x_full, w_full, out=parts[:full])
    cut = full * tile_rows
    x_rem = x.as_strided((1, batch, rem), (0, sx0, sx1), x.storage_offset() + cut * sx1)
    w_rem = w.as_strided((1, rem, out), (0, sw0, sw1), w.storage_offset() + cut * sw0)
    torch.bmm(x_rem, w_rem, out=parts[full:])
    return parts


def tile_row_sizes(n_in: int, tile_rows: int) -> list[int]:
    """Rows used in each row tile, in the order of :func:`tile_partial_sums`."""
    full, rem = divmod(n_in, tile_rows)
    return [tile_rows] * full + ([rem] if rem else [])


def per_column_tile(values: Tensor, tile_cols: int, reduce: str = "amax") -> Tensor:
    """Reduce ``(tiles, out)`` per-column values to ``(tiles, column tiles)`` by ``amax`` or ``sum``."""
    tiles, out = values.shape
    n_ct = tile_count(out, tile_cols)
    pad = n_ct * tile_cols - out
    padded = torch.nn.functional.pad(values, (0, pad)) if pad else values
    return getattr(padded.view(tiles, n_ct, tile_cols), reduce)(dim=-1)


def expand_column_tiles(per_tile: Tensor, tile_cols: int, out: int) -> Tensor:
    """Broadcast ``(tiles, column tiles)`` back to ``(tiles, 1, out)``."""
    return per_tile.repeat_interleave(tile_cols, dim=-1)[:, :out].unsqueeze(1)


def column_tile_max(values: Tensor, tile_cols: int) -> Tensor:
    """Reduce ``(tiles, out)`` per-column maxima to per-(row tile, column tile) maxima,
    broadcast back to ``(tiles, 1, out)`` so each tile's ADC shares one range."""
    return expand_column_tiles(per_column_tile(values, tile_cols), tile_cols, values.shape[1])


def tile_abs_sums(w: Tensor, tile_rows: int, tile_cols: int) -> Tensor:
    """Σ|w| per tile, ``(row tiles, column tiles)``: each tile's summed |outputs| when read
    with the identity as reference input, the readout of global drift compensation [A]."""
    per_col = torch.cat([wt.abs().sum(dim=1) for wt in weight_tiles(w, tile_rows)], dim=0)
    return per_column_tile(per_col, tile_cols, "sum")
