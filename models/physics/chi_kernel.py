"""The compiled CPU kernel of mixed precision's χ register [N20]: accumulate, saturate, transfer.

:meth:`models.training.onchip.MixedPrecision.step` adds the rounded update to χ, finds the
weights whose |χ| reaches min(saturation, ε), clips them to the register and splits off
⌊|χ|/ε⌋ pulses (:func:`models.physics.pulses.chi_transfer`): ~12 torch calls, five of them dense
passes. This kernel does it in one pass over the NumPy views of the CPU tensors (no copy),
with the uniforms of the rounding drawn by the torch code as before. The operations are the
torch path's, in its order and dtype: ``add(u, v, alpha=a)`` and ``add_(d, alpha=LSB)`` are
single-rounding multiply-adds in torch's CPU kernels, so :func:`models.physics.jit.fma`
here; the results are bit for bit the same (``tests/models/test_update_kernels.py``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from models.physics.jit import fma, jit
from models.physics.kernels import usable

K_SCALE, K_LSB, K_REACH, K_SATURATION, K_EPS = 0, 1, 2, 3, 4


def chi_grid(bits: int | None, eps: float) -> tuple[float, float]:
    """(LSB, saturation) of a ``bits``-bit signed χ register in units where the device step is ε.

    Half the bits (⌊b/2⌋) are fractional, so both resolution (ε/2^⌊b/2⌋) and saturation
    ((2^(b−1)−1) LSBs, e.g. 1.75ε at 4 bits, 7.9ε at 8 bits) grow with b [N20]. ``None``: a
    float register (no grid, no saturation).
    """
    if bits is None:
        return 0.0, math.inf
    lsb = eps / 2 ** (bits // 2)
    return lsb, (2 ** (bits - 1) - 1) * lsb


def chi_transfer(chi: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Mixed-precision transfer [N20]: ``⌊|χ|/ε⌋`` pulses of χ's sign, and χ less those steps.

    No pulse is ever applied while |χ| < ε; the remainder keeps χ's sign with |rest| < ε.
    """
    q = chi / eps
    n = q - torch.frac(q)  # trunc(q), exactly (torch.trunc is ~30× slower here)
    return n, chi - n * eps


@jit()
def chi_step(
    v: np.ndarray,
    u: np.ndarray,
    chi: np.ndarray,
    k: np.ndarray,
    rounded: bool,
    idx: np.ndarray,
    pulses: np.ndarray,
) -> int:
    """χ ← χ + LSB·⌊U + a·v⌋ (``rounded``; else χ + a·v); where |χ| ≥ the reach (or NaN): clip to
    ±saturation, n = trunc(χ/ε) pulses, χ ← χ − n·ε, and the weight's flat index and n are
    appended to ``idx`` and ``pulses``; returns how many."""
    scale, lsb, reach, saturation, eps = k[K_SCALE], k[K_LSB], k[K_REACH], k[K_SATURATION], k[K_EPS]
    if rounded:  # first the sums alone: a loop the compiler vectorizes
        for d in range(chi.size):
            chi[d] = fma(np.floor(fma(v[d], scale, u[d])), lsb, chi[d])
    else:
        for d in range(chi.size):
            chi[d] = fma(v[d], scale, chi[d])
    r = 0
    for d in range(chi.size):  # then the few that reach a pulse (a branch mostly not taken)
        x = chi[d]
        if (x < reach) & (x > -reach):
            continue
        if x < -saturation:  # clamp(−saturation, saturation)
            x = -saturation
        if saturation < x:
            x = saturation
        q = x / eps
        n = q - (q - np.trunc(q))  # q − frac(q), as chi_transfer
        chi[d] = x - n * eps
        idx[r] = d
        pulses[r] = n
        r += 1
    return r


def step(
    v: Tensor,
    u: Tensor | None,
    chi: Tensor,
    scale: float,
    lsb: float,
    reach: float,
    saturation: float = math.inf,
    eps: float = 1.0,
) -> tuple[Tensor, Tensor] | None:
    """Run :func:`chi_step` when the tensors allow (:func:`~models.physics.kernels.usable`, all
    contiguous): ``u`` the rounding's uniforms (None: a float register, ``scale`` = Δω/v; else
    ``scale`` = Δω/(v·LSB)); returns (flat indices, pulses) of the transfers, or None: the
    caller's torch path runs. With ε = 1 and no saturation, n = trunc(χ) and χ keeps frac(χ)
    (q − frac(q) with q = χ/1 = χ: hic's carries, :meth:`models.training.hic.HicArray.update`)."""
    tensors = (v, chi) if u is None else (v, chi, u)
    if not usable(*tensors) or not all(t.is_contiguous() for t in tensors) or v.dtype != chi.dtype:
        return None
    dtype = v.numpy().dtype
    k = np.array([scale, lsb, reach, saturation, eps]).astype(dtype)
    idx = np.empty(chi.numel(), dtype=np.int64)
    pulses = np.empty(chi.numel(), dtype=dtype)
    flat = v.view(-1).numpy()
    noise = flat if u is None else u.reshape(-1).numpy()
    r = chi_step(flat, noise, chi.view(-1).numpy(), k, u is not None, idx, pulses)
    return torch.from_numpy(idx[:r]), torch.from_numpy(pulses[:r])


@jit()
def round_step(
    v: np.ndarray, u: np.ndarray, scale: np.ndarray, cap: np.ndarray, idx: np.ndarray, pulses: np.ndarray
) -> int:
    """onchip_sgd's pulses: n = ⌊U + a·v⌋ (``scale`` = a, one rounding as ``torch.add(u, v,
    alpha=a)``); where n ≠ 0 (or NaN) its flat index and n clipped to ±``cap`` are appended to
    ``idx`` and ``pulses``; returns how many."""
    a, top = scale[0], cap[0]
    r = 0
    for d in range(v.size):
        n = np.floor(fma(v[d], a, u[d]))
        m = -top if n < -top else n  # clamp_(−cap, cap)
        idx[r] = d  # written for all, kept where n ≠ 0 (or NaN): no branch to mispredict
        pulses[r] = top if top < m else m
        r += n != 0
    return r


def pulses(v: Tensor, u: Tensor, scale: float, cap: int) -> tuple[Tensor, Tensor] | None:
    """:func:`round_step` when the tensors allow (else None: the caller's torch path runs):
    (flat indices, capped pulses) of ⌊U + scale·v⌋, as ``_sparse_pulses`` of the torch path."""
    if not usable(v, u) or not (v.is_contiguous() and u.is_contiguous()) or v.dtype != u.dtype:
        return None
    dtype = v.numpy().dtype
    idx = np.empty(v.numel(), dtype=np.int64)
    out = np.empty(v.numel(), dtype=dtype)
    k, top = np.array([scale]).astype(dtype), np.array([cap]).astype(dtype)
    r = round_step(v.view(-1).numpy(), u.reshape(-1).numpy(), k, top, idx, out)
    return torch.from_numpy(idx[:r]), torch.from_numpy(out[:r])


__all__ = ["chi_grid", "chi_step", "chi_transfer", "pulses", "round_step", "step"]
