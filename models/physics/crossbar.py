"""Crossbar physics as pure, vectorized tensor functions.

Layers (``models/nn/layers.py``) compose these; nothing here holds state. Conventions:
weights are ``(in, out)`` matrices (rows of the crossbar are inputs); conductances are
in µS. A weight ``w`` in ``[-w_max, w_max]`` maps onto ``S`` slices (bit slicing [HIC];
``S = 1`` without it), each a pair of devices ``(g_pos, g_neg)``; stacked conductances
have shape ``(S, 2, in, out)``, least significant slice first. Drift and read noise
live in ``models/physics/drift.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.config import AnalogConfig, Mapping
from models.physics.devices import PCM_PROG_POLY_US, DeviceSpec, ProgNoiseModel
from models.physics.tiling import split_sizes

# ---------------------------------------------------------------- quantization


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
    if config is not None and config.slice_base:
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

    Sign pair: |w| in LSB units, ``r = |w|/w_max·K``, is rounded to a whole code (so a
    rounding carries into the next slice; only a non-integer ``slice_base`` rounds in the
    last slice instead), then split greedily from the most significant slice down
    (``d_k = min(cap_k, ⌊r/s_k⌋)``) and
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
    if len(caps) == 1 or all(float(s).is_integer() for s in sig):
        # round the whole code first, then split it: the rounding carries into the higher
        # slices (r = 15.6 with digits of 16 becomes 16 = one carry, not 15), so the error
        # stays within ½ LSB for every integer significance
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
    """Per-device fault codes: 0 healthy, -1 stuck at g_min (prob. ``p_off``), +1 at g_max (``p_on``);
    on ``generator``'s torch device."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return (u < p_on).to(torch.int8) - ((u >= p_on) & (u < p_on + p_off)).to(torch.int8)


def apply_stuck(g: Tensor, mask: Tensor, device: DeviceSpec) -> Tensor:
    """Force faulty devices to their stuck conductance, whatever was programmed or drifted."""
    g = torch.where(mask > 0, torch.full_like(g, device.g_max_us), g)
    return torch.where(mask < 0, torch.full_like(g, device.g_min_us), g)


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
    for chunk in torch.split(g, split_sizes(n_in, tile_rows), dim=-2):
        rows = min(tile_rows, chunk.shape[-2])
        tiles = chunk.reshape(*chunk.shape[:-2], -1, rows, chunk.shape[-1])
        g_mean = tiles.mean(dim=-2, keepdim=True) / device.g_max_us
        delta = (ir_drop * g_mean * ((rows + 1) * (2 * rows + 1) / 6.0)).clamp(max=1.0)
        out.append((1.0 - delta).expand_as(tiles).reshape(chunk.shape))
    return torch.cat(out, dim=-2)
