"""Crossbar physics as pure, vectorized tensor functions.

Layers (``models/layers.py``) compose these; nothing here holds state. Conventions:
weights are ``(in, out)`` matrices (rows of the crossbar are inputs); conductances are
in µS; a weight ``w`` in ``[-w_max, w_max]`` maps onto a differential pair
``(g_pos, g_neg)`` with one device at ``g_min`` and the other carrying ``|w|``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.devices import PCM_PROG_POLY_US, DeviceSpec, ProgNoiseModel

# ---------------------------------------------------------------- quantization


def quantize_uniform(x: Tensor, bits: int, x_range: Tensor | float, signed: bool) -> Tensor:
    """Round ``x`` onto a uniform grid of at most ``2**bits`` codes, clipping at the range.

    Signed: mid-tread, codes ``-(2^(b-1)-1) … 2^(b-1)-1`` times ``Δ = r/(2^(b-1)-1)``
    (zero is exact; a 1-bit signed quantizer outputs ``±r``). Unsigned: codes
    ``0 … 2^b-1`` times ``Δ = r/(2^b-1)``. The error inside the range is at most Δ/2.
    No gradient trick here; see :func:`fake_quant` for the straight-through version.
    """
    r = torch.as_tensor(x_range, dtype=x.dtype, device=x.device).clamp_min(torch.finfo(x.dtype).tiny)
    if signed:
        if bits == 1:
            return torch.where(x >= 0, r, -r).expand_as(x)
        n = 2 ** (bits - 1) - 1
        return torch.round((x / r).clamp(-1.0, 1.0) * n) * (r / n)
    n = 2**bits - 1
    return torch.round((x / r).clamp(0.0, 1.0) * n) * (r / n)


def fake_quant(x: Tensor, bits: int, x_range: Tensor | float, signed: bool) -> Tensor:
    """:func:`quantize_uniform` in the forward pass, identity gradient (straight-through)."""
    return x + (quantize_uniform(x, bits, x_range, signed) - x).detach()


def quant_step(bits: int, x_range: float, signed: bool) -> float:
    """The step Δ of :func:`quantize_uniform` (for signed 1-bit, the distance r to zero)."""
    if signed:
        return x_range if bits == 1 else x_range / (2 ** (bits - 1) - 1)
    return x_range / (2**bits - 1)


# ---------------------------------------------------------------- mapping


def weight_levels(device: DeviceSpec) -> int:
    """Distinct weight values one device mapping can represent.

    Analog devices use a differential pair (2L-1 values); the digital SRAM word is
    signed (L-1 values, symmetric).
    """
    return 2 * device.levels - 1 if device.analog else device.levels - 1


def devices_per_weight(device: DeviceSpec) -> int:
    """Physical cells per weight: a differential pair, or the bit cells of a digital word."""
    return 2 if device.analog else round(device.bits_per_cell)


def weight_step(w_max: float, device: DeviceSpec) -> float:
    """The weight value of one least-significant level of the mapping."""
    return w_max / (device.levels - 1) if device.analog else w_max / (device.levels // 2 - 1)


def weight_to_conductance(w: Tensor, w_max: Tensor | float, device: DeviceSpec) -> tuple[Tensor, Tensor]:
    """Map weights onto a differential pair of quantized conductances (µS).

    The device of the weight's sign is programmed to ``g_min + k·Δg`` with
    ``k = round(|w|/w_max·(L-1))`` and ``Δg = (g_max-g_min)/(L-1)``; its partner stays at
    ``g_min``. Weights beyond ``w_max`` clip. For the digital baseline the pair is a
    signed integer word, returned as (positive part, negative part) in LSB units.
    """
    if not device.analog:
        n = device.levels // 2 - 1
        k = torch.round((w / w_max).clamp(-1.0, 1.0) * n)
        return k.clamp_min(0.0), (-k).clamp_min(0.0)
    span = device.g_max_us - device.g_min_us
    k = torch.round((w.abs() / w_max).clamp(max=1.0) * (device.levels - 1))
    g_on = device.g_min_us + k * (span / (device.levels - 1))
    g_off = torch.full_like(g_on, device.g_min_us)
    positive = w >= 0
    return torch.where(positive, g_on, g_off), torch.where(positive, g_off, g_on)


def conductance_to_weight(g_pos: Tensor, g_neg: Tensor, w_max: Tensor | float, device: DeviceSpec) -> Tensor:
    """Invert :func:`weight_to_conductance`: ``w = (g_pos - g_neg)/(g_max - g_min)·w_max``."""
    if not device.analog:
        return (g_pos - g_neg) * (w_max / (device.levels // 2 - 1))
    return (g_pos - g_neg) * (w_max / (device.g_max_us - device.g_min_us))


# ---------------------------------------------------------------- programming noise


def programming_noise_std(g: Tensor, device: DeviceSpec) -> Tensor:
    """Std (µS) of the programming error for target conductances ``g``.

    PCM uses aihwkit's polynomial σ = 0.26348 + 1.9650x − 1.1731x² µS, x = g/g_max [A];
    RELATIVE devices a constant fraction of g_max [M]; others none.
    """
    model = device.prog_noise_model
    if model is ProgNoiseModel.PCM_POLY:
        x = (g / device.g_max_us).clamp(0.0, 1.0)
        c0, c1, c2 = PCM_PROG_POLY_US
        return (c0 + c1 * x + c2 * x * x).clamp_min(0.0)
    if model is ProgNoiseModel.RELATIVE:
        return torch.full_like(g, device.prog_noise * device.g_max_us)
    return torch.zeros_like(g)


def program(g: Tensor, device: DeviceSpec, generator: torch.Generator, scale: float = 1.0) -> Tensor:
    """One programming of target conductances: add noise, clip to physical conductances ≥ 0."""
    if scale == 0.0 or device.prog_noise_model is ProgNoiseModel.NONE:
        return g.clone()
    noise = torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device)
    return (g + scale * programming_noise_std(g, device) * noise).clamp_min(0.0)


# ---------------------------------------------------------------- tiling


def tile_count(size: int, tile: int) -> int:
    """Tiles needed to hold ``size`` rows or columns."""
    return -(-size // tile)


def _split_sizes(n: int, tile_rows: int) -> list[int]:
    full, rem = divmod(n, tile_rows)
    return [s for s in (full * tile_rows, rem) if s]


def row_tiles(x: Tensor, tile_rows: int) -> list[Tensor]:
    """Split inputs ``(batch, in)`` into row tiles: a list of ``(tiles, batch, rows)`` views.

    All full tiles come as one tensor, the remainder tile (if any) as a second.
    """
    chunks = torch.split(x, _split_sizes(x.shape[-1], tile_rows), dim=-1)
    return [c.reshape(x.shape[0], -1, min(tile_rows, c.shape[-1])).transpose(0, 1) for c in chunks]


def weight_tiles(w: Tensor, tile_rows: int) -> list[Tensor]:
    """Split a weight ``(in, out)`` the same way: ``(tiles, rows, out)`` views, no copy.

    ``torch.split`` (not slicing) keeps the backward pass a concatenation, not a zero-fill.
    """
    chunks = torch.split(w, _split_sizes(w.shape[0], tile_rows))
    return [c.reshape(-1, min(tile_rows, c.shape[0]), w.shape[1]) for c in chunks]


def tile_partial_sums(x: Tensor, w: Tensor, tile_rows: int) -> list[Tensor]:
    """Per-row-tile partial sums of ``x @ w``, without padding or copying the weight.

    Returns ``(tiles, batch, out)`` tensors in the order of :func:`row_tiles`: one
    batched matmul for all full tiles and one for the remainder tile. Summing over
    tiles and the list gives ``x @ w`` (up to float rounding).
    """
    return [torch.bmm(xt, wt) for xt, wt in zip(row_tiles(x, tile_rows), weight_tiles(w, tile_rows), strict=True)]


def tile_row_sizes(n_in: int, tile_rows: int) -> list[int]:
    """Rows used in each row tile, in the order of :func:`tile_partial_sums`."""
    full, rem = divmod(n_in, tile_rows)
    return [tile_rows] * full + ([rem] if rem else [])


def column_tile_max(values: Tensor, tile_cols: int) -> Tensor:
    """Reduce ``(tiles, out)`` per-column maxima to per-(row tile, column tile) maxima,
    broadcast back to ``(tiles, 1, out)`` so each tile's ADC shares one range."""
    tiles, out = values.shape
    n_ct = tile_count(out, tile_cols)
    pad = n_ct * tile_cols - out
    padded = torch.nn.functional.pad(values, (0, pad)) if pad else values
    per_tile = padded.view(tiles, n_ct, tile_cols).amax(dim=-1)
    return per_tile.repeat_interleave(tile_cols, dim=-1)[:, :out].unsqueeze(1)
