"""Crossbar physics as pure, vectorized tensor functions.

Layers (``models/layers.py``) compose these; nothing here holds state. Conventions:
weights are ``(in, out)`` matrices (rows of the crossbar are inputs); conductances are
in µS. A weight ``w`` in ``[-w_max, w_max]`` maps onto ``S`` slices (bit slicing [HIC];
``S = 1`` without it), each a pair of devices ``(g_pos, g_neg)``; stacked conductances
have shape ``(S, 2, in, out)``, least significant slice first. Drift and read noise
live in ``models/drift.py``.
"""

from __future__ import annotations

import struct

import torch
from torch import Tensor

from models.config import AnalogConfig, Mapping
from models.devices import PCM_PROG_POLY_US, DeviceSpec, ProgNoiseModel

# ---------------------------------------------------------------- quantization


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


def percentile(values: Tensor, q: float, dim: int, max_samples: int = 65536) -> Tensor:
    """The ``q``-th percentile (0–100) along ``dim``; at most ``max_samples`` evenly strided
    samples are used (``torch.quantile`` refuses very large inputs; convolutions have many)."""
    n = values.shape[dim]
    if n > max_samples:
        idx = torch.linspace(0, n - 1, max_samples, device=values.device).long()
        values = values.index_select(dim, idx)
    if q >= 100.0:
        return values.amax(dim=dim)
    return torch.quantile(values.float(), q / 100.0, dim=dim).to(values.dtype)


# ---------------------------------------------------------------- mapping


def slice_caps(device: DeviceSpec, config: AnalogConfig | None = None) -> list[int]:
    """Largest level index of each slice device, least significant first [HIC].

    ``multilevel_devices`` slices of ``slice_levels`` (default: the device's) levels,
    then ``binary_devices`` slices of 2 levels. Without a config: one slice.
    """
    if config is None or not device.analog:
        return [device.levels - 1]
    levels = config.slice_levels or device.levels
    return [levels - 1] * config.multilevel_devices + [1] * config.binary_devices


def slice_significance(device: DeviceSpec, config: AnalogConfig | None = None) -> list[float]:
    """Weight of each slice in LSB units: ``base^k``, or positional (mixed radix) by default."""
    caps = slice_caps(device, config)
    if config is not None and config.slice_base is not None:
        return [float(config.slice_base) ** k for k in range(len(caps))]
    sig, s = [], 1.0
    for cap in caps:
        sig.append(s)
        s *= cap + 1
    return sig


def max_code(device: DeviceSpec, config: AnalogConfig | None = None) -> float:
    """Largest |weight| in LSB units: Σ cap_k·s_k (maps to ``w_max``)."""
    caps, sig = slice_caps(device, config), slice_significance(device, config)
    return sum(c * s for c, s in zip(caps, sig, strict=True))


def weight_levels(device: DeviceSpec, config: AnalogConfig | None = None) -> int:
    """Distinct weight values the mapping can represent.

    Sign pair: 2K+1 for K = :func:`max_code` (2L-1 without slicing); differential: L;
    the digital SRAM word is signed (L-1 values, symmetric).
    """
    if not device.analog:
        return device.levels - 1
    if config is not None and config.mapping is Mapping.DIFFERENTIAL:
        return device.levels
    return 2 * round(max_code(device, config)) + 1


def devices_per_weight(device: DeviceSpec, config: AnalogConfig | None = None) -> int:
    """Physical cells per weight: a pair per slice, or the bit cells of a digital word."""
    if not device.analog:
        return round(device.bits_per_cell)
    return 2 * (config.slices if config is not None else 1)


def weight_step(w_max: float, device: DeviceSpec, config: AnalogConfig | None = None) -> float:
    """The weight value of one least-significant level of the mapping."""
    if not device.analog:
        return w_max / (device.levels // 2 - 1)
    step = w_max / max_code(device, config)
    return 2 * step if config is not None and config.mapping is Mapping.DIFFERENTIAL else step


def weight_to_conductance(w: Tensor, w_max: Tensor | float, device: DeviceSpec) -> tuple[Tensor, Tensor]:
    """Map weights onto one sign pair of quantized conductances (µS), no slicing.

    The device of the weight's sign is programmed to ``g_min + k·Δg`` with
    ``k = round(|w|/w_max·(L-1))`` and ``Δg = (g_max-g_min)/(L-1)``; its partner stays at
    ``g_min``. Weights beyond ``w_max`` clip. For the digital baseline the pair is a
    signed integer word, returned as (positive part, negative part) in LSB units.
    """
    g = weight_to_slices(w, w_max, device)
    return g[0, 0], g[0, 1]


def weight_to_slices(
    w: Tensor, w_max: Tensor | float, device: DeviceSpec, config: AnalogConfig | None = None
) -> Tensor:
    """Map weights onto ``(S, 2, *w.shape)`` target conductances (µS).

    Sign pair: |w| in LSB units, ``r = |w|/w_max·K``, is split greedily from the most
    significant slice down (``d_k = min(cap_k, ⌊r/s_k⌋)``, the last slice rounds) and
    each digit goes onto the device of the weight's sign, ``g = g_min + d_k·span/cap_k``
    [HIC]. Differential (one slice): ``g± = g_min + k±·span/cap`` with
    ``k+ = round((1+w/w_max)/2·cap)``, ``k- = cap - k+``.
    """
    if not device.analog:
        n = device.levels // 2 - 1
        k = torch.round((w / w_max).clamp(-1.0, 1.0) * n)
        return torch.stack((k.clamp_min(0.0), (-k).clamp_min(0.0))).unsqueeze(0)
    span = device.g_max_us - device.g_min_us
    caps = slice_caps(device, config)
    if config is not None and config.mapping is Mapping.DIFFERENTIAL:
        cap = caps[0]
        k_pos = torch.round((1.0 + (w / w_max).clamp(-1.0, 1.0)) * (cap / 2.0))
        return (device.g_min_us + torch.stack((k_pos, cap - k_pos)) * (span / cap)).unsqueeze(0)
    sig = slice_significance(device, config)
    r = (w.abs() / w_max).clamp(max=1.0) * max_code(device, config)
    if len(caps) == 1:
        r = torch.round(r)
    digits: list[Tensor] = []
    for k in range(len(caps) - 1, -1, -1):
        d = torch.round(r / sig[k]) if k == 0 else torch.floor(r / sig[k] + 1e-6)
        d = d.clamp(0.0, caps[k])
        r = r - d * sig[k]
        digits.append(device.g_min_us + d * (span / caps[k]))
    g_on = torch.stack(digits[::-1])
    g_off = torch.full_like(g_on, device.g_min_us)
    positive = w >= 0
    return torch.stack((torch.where(positive, g_on, g_off), torch.where(positive, g_off, g_on)), dim=1)


def slices_to_weight(
    g: Tensor, w_max: Tensor | float, device: DeviceSpec, config: AnalogConfig | None = None
) -> Tensor:
    """Invert :func:`weight_to_slices`: ``w = w_max/K·Σ_k s_k·cap_k·(g+ − g−)/span``."""
    if not device.analog:
        return (g[0, 0] - g[0, 1]) * (w_max / (device.levels // 2 - 1))
    span = device.g_max_us - device.g_min_us
    if config is not None and config.mapping is Mapping.DIFFERENTIAL:
        return (g[0, 0] - g[0, 1]) * (w_max / span)
    caps, sig = slice_caps(device, config), slice_significance(device, config)
    coef = torch.tensor([s * c for s, c in zip(sig, caps, strict=True)], dtype=g.dtype, device=g.device)
    diff = g[:, 0] - g[:, 1]
    total = diff[0] * coef[0] if len(caps) == 1 else torch.tensordot(coef, diff, dims=1)
    return total * (w_max / (span * max_code(device, config)))


def conductance_to_weight(g_pos: Tensor, g_neg: Tensor, w_max: Tensor | float, device: DeviceSpec) -> Tensor:
    """Invert :func:`weight_to_conductance`: ``w = (g_pos - g_neg)/(g_max - g_min)·w_max``."""
    return slices_to_weight(torch.stack((g_pos, g_neg)).unsqueeze(0), w_max, device)


# ---------------------------------------------------------------- programming noise and faults


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


def stuck_mask(shape: torch.Size, p_off: float, p_on: float, generator: torch.Generator) -> Tensor:
    """Per-device fault codes: 0 healthy, -1 stuck at g_min (prob. ``p_off``), +1 at g_max (``p_on``)."""
    u = torch.rand(shape, generator=generator)
    return (u < p_on).to(torch.int8) - ((u >= p_on) & (u < p_on + p_off)).to(torch.int8)


def apply_stuck(g: Tensor, mask: Tensor, device: DeviceSpec) -> Tensor:
    """Force faulty devices to their stuck conductance, whatever was programmed or drifted."""
    g = torch.where(mask > 0, torch.full_like(g, device.g_max_us), g)
    return torch.where(mask < 0, torch.full_like(g, device.g_min_us), g)


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
    # (tiles, batch, rows) and (tiles, rows, out) views of the row tiles, one call each
    x_full = x.as_strided((full, batch, tile_rows), (tile_rows * sx1, sx0, sx1))
    w_full = w.as_strided((full, tile_rows, out), (tile_rows * sw0, sw0, sw1))
    if not rem:
        return torch.bmm(x_full, w_full)
    parts = torch.empty(full + 1, batch, out, dtype=torch.result_type(x, w), device=x.device)
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


# ---------------------------------------------------------------- IR drop


def ir_drop_factor(g: Tensor, device: DeviceSpec, tile_rows: int, ir_drop: float) -> Tensor:
    """First-order IR-drop attenuation of every device, same shape as ``g`` ``(..., in, out)``.

    A column wire of ``n`` cells with segment resistance ``r`` between cells, all rows
    driven at full scale: the voltage lost across cell ``i`` is ``r·Σ`` of the currents
    below it, which averages to ``r·ḡ·V·(n+1)(2n+1)/6`` over the column. The relative
    loss is ``δ = ir_drop·(ḡ/g_max)·(n+1)(2n+1)/6`` with ``ir_drop = r·g_max``; it grows
    quadratically with the tile's rows. Worst-case activity, input-independent: a
    documented approximation, off (``ir_drop = 0``) by default.
    """
    if ir_drop <= 0 or not device.analog:
        return torch.ones_like(g)
    n_in = g.shape[-2]
    out = []
    for chunk in torch.split(g, _split_sizes(n_in, tile_rows), dim=-2):
        rows = min(tile_rows, chunk.shape[-2])
        tiles = chunk.reshape(*chunk.shape[:-2], -1, rows, chunk.shape[-1])
        g_mean = tiles.mean(dim=-2, keepdim=True) / device.g_max_us
        delta = (ir_drop * g_mean * ((rows + 1) * (2 * rows + 1) / 6.0)).clamp(max=1.0)
        out.append((1.0 - delta).expand_as(tiles).reshape(chunk.shape))
    return torch.cat(out, dim=-2)
