"""What happens to programmed conductances over time: drift, read noise, drift compensation.

Pure tensor functions. ``t`` is the read time after programming in seconds. As in
aihwkit's ``PCMLikeNoiseModel`` [A, J20], the drift law is referenced to ``t0``:
``g(t) = g0·((t + t0)/t0)^(−ν)``, and PCM's accumulated 1/f read noise is drawn once per
read time on top of the drifted conductance (it is a slow fluctuation, not a per-MVM one).
Additive per-read noise (RRAM) is drawn fresh on every read by the layer instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from models.physics.devices import (
    PCM_NU_MEAN,
    PCM_NU_STD,
    PCM_READ_EXP,
    PCM_READ_MAX,
    PCM_READ_Q,
    PCM_READ_TR_S,
    PCM_X_MIN,
    DeviceSpec,
    DriftLaw,
    ReadNoiseModel,
)


def pcm_nu_stats(g: Tensor, g_max: float) -> tuple[Tensor, Tensor]:
    """Mean and std of PCM's drift exponent at conductance ``g`` [A, J20].

    μ = clip(−0.0155·ln x + 0.0244, 0.049, 0.1), σ = clip(−0.0125·ln x − 0.0059, 0.008, 0.045),
    x = |g|/g_max clipped below at 1e-7.
    """
    log_x = torch.log((g.abs() / g_max).clamp_min(PCM_X_MIN))
    a, b, lo, hi = PCM_NU_MEAN
    mu = (a * log_x + b).clamp(lo, hi)
    a, b, lo, hi = PCM_NU_STD
    return mu, (a * log_x + b).clamp(lo, hi)


def drift_exponents(g: Tensor, device: DeviceSpec, generator: torch.Generator) -> Tensor:
    """One device-to-device draw of ν for every device at programmed conductance ``g``.

    PCM: ν = |μ(x) + σ(x)·z| [A]. POWER: ν = max(0, ν̄ + σ_ν·z). NONE: 0.
    """
    if device.drift_law is DriftLaw.NONE:
        return torch.zeros_like(g)
    z = torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device)
    if device.drift_law is DriftLaw.PCM:
        mu, sigma = pcm_nu_stats(g, device.g_max_us)
        return (mu + sigma * z).abs()
    return (device.drift_nu_mean + device.drift_nu_std * z).clamp_min(0.0)


def drift_factor(t_s: float, nu: Tensor, t0_s: float) -> Tensor:
    """g(t)/g0 = ((t + t0)/t0)^(−ν) [A, J20]."""
    return torch.exp(-nu * math.log((t_s + t0_s) / t0_s))


def pcm_read_noise_rel(g_prog: Tensor, t_s: float, device: DeviceSpec) -> Tensor:
    """σ/g of PCM's accumulated 1/f read noise at read time ``t`` [A].

    σ/g = min(0.0088/x^0.65, 0.2)·√ln((T + t_r)/(2 t_r)), x = |g_prog|/g_max (x^0.65 ≥ 1e-3),
    T = t + t0 the time since the programming pulse, t_r = 250 ns, as aihwkit does.
    """
    x_pow = ((g_prog.abs() / device.g_max_us) ** PCM_READ_EXP).clamp_min(1e-3)
    q = (PCM_READ_Q / x_pow).clamp(max=PCM_READ_MAX)
    total = t_s + device.drift_t0_s
    return q * math.sqrt(math.log((total + PCM_READ_TR_S) / (2 * PCM_READ_TR_S)))


def read_at(
    g_prog: Tensor,
    nu: Tensor,
    t_s: float,
    device: DeviceSpec,
    generator: torch.Generator,
    drift: bool = True,
    read_noise_scale: float = 1.0,
) -> Tensor:
    """Conductances at read time ``t``: drift, then PCM's accumulated 1/f read noise.

    ``t = 0`` is the state right after programming (no drift, no accumulated noise): the
    reference of drift compensation and of converter calibration. Results clip at 0.
    """
    if t_s <= 0:
        return g_prog.clone()
    g = g_prog * drift_factor(t_s, nu, device.drift_t0_s) if drift else g_prog
    if device.read_noise_model is ReadNoiseModel.PCM_1F and read_noise_scale > 0:
        z = torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device)
        g = g + g.abs() * (read_noise_scale * pcm_read_noise_rel(g_prog, t_s, device)) * z
    return g.clamp_min(0.0)


def additive_read_std_us(device: DeviceSpec, read_noise_scale: float = 1.0) -> float:
    """Per-read, per-device std (µS) of additive read noise: ``read_noise·g_max`` [A]; else 0."""
    if device.read_noise_model is not ReadNoiseModel.ADDITIVE:
        return 0.0
    return read_noise_scale * device.read_noise * device.g_max_us


def gdc_scale(reference: Tensor, current: Tensor) -> Tensor:
    """Global drift compensation factor per tile [A, J20]: summed |reference outputs| right
    after programming over the same readout now; applied digitally to the tile's outputs."""
    return reference / current.clamp_min(1e-12)
