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
from numba.cpython.unsafe.numbers import trailing_zeros
from torch import Tensor

from models.physics.jit import fma, jit
from models.physics.kernels import flat_views

K_SCALE, K_LSB, K_REACH, K_SATURATION, K_EPS, K_MU = 0, 1, 2, 3, 4, 5


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


BLOCK = 64
"""Entries per bit mask: the first pass of a kernel marks the entries that reach a pulse, 64 to a
word, with no branch (a loop the compiler vectorizes); the second visits only the marked ones,
by trailing-zero count (a branch per entry to find the few was ~1 ns an entry, mispredicted)."""


@jit(inline="always")
def _velocity(g: np.ndarray, buf: np.ndarray, mu: float, carried: bool, d: int) -> float:
    """v = μ·buf + g into ``buf`` when momentum is ``carried`` (``torch.add(g, buf, alpha=μ,
    out=buf)``: one rounding), else g."""
    if not carried:
        return g[d]
    v = fma(buf[d], mu, g[d])
    buf[d] = v
    return v


@jit()
def chi_step(
    v: np.ndarray,
    u: np.ndarray,
    chi: np.ndarray,
    k: np.ndarray,
    rounded: bool,
    idx: np.ndarray,
    pulses: np.ndarray,
    buf: np.ndarray,
    carried: bool,
) -> int:
    """χ ← χ + LSB·⌊U + a·v⌋ (``rounded``; else χ + a·v), v = μ·buf + v into ``buf`` first when
    ``carried``; where |χ| ≥ the reach (or NaN): clip to ±saturation, n = trunc(χ/ε) pulses,
    χ ← χ − n·ε, and the weight's flat index and n are appended to ``idx`` and ``pulses``;
    returns how many."""
    scale, lsb, reach, saturation, eps = k[K_SCALE], k[K_LSB], k[K_REACH], k[K_SATURATION], k[K_EPS]
    mu, size = k[K_MU], chi.size
    masks = np.zeros((size + BLOCK - 1) // BLOCK, dtype=np.uint64)
    for b in range(masks.size):  # the sums and the marks, no branch on the data
        m = np.uint64(0)
        for j in range(min(BLOCK, size - b * BLOCK)):
            d = b * BLOCK + j
            g = _velocity(v, buf, mu, carried, d)
            x = fma(np.floor(fma(g, scale, u[d])), lsb, chi[d]) if rounded else fma(g, scale, chi[d])
            chi[d] = x
            m |= np.uint64(not ((x < reach) & (x > -reach))) << np.uint64(j)
        masks[b] = m
    r = 0
    for b in range(masks.size):  # then the few that reach a pulse
        m = masks[b]
        while m != 0:
            d = b * BLOCK + trailing_zeros(m)
            m &= m - np.uint64(1)
            x = chi[d]
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
    momentum: tuple[Tensor, float] | None = None,
) -> tuple[Tensor, Tensor] | None:
    """Run :func:`chi_step` when the tensors allow (:func:`~models.physics.kernels.flat_views`):
    ``u`` the rounding's uniforms (None: a float register, ``scale`` = Δω/v; else ``scale`` =
    Δω/(v·LSB)); ``momentum`` = (buffer, μ): ``v`` is the gradient and the velocity
    μ·buffer + v goes into the buffer first, as ``DigitalMomentum.velocity``; returns (flat indices,
    pulses) of the transfers, or None (nothing touched): the caller's torch path runs (hic's
    accumulator has its own pass, :mod:`models.physics.hic_kernel`)."""
    views = flat_views(v, chi, v if u is None else u, v if momentum is None else momentum[0])
    if views is None:
        return None
    flat, chi_np, noise, buf = views
    mu = 0.0 if momentum is None else momentum[1]
    k = np.array([scale, lsb, reach, saturation, eps, mu], dtype=flat.dtype)  # each rounded once
    idx = np.empty(flat.size, dtype=np.int64)
    pulses = np.empty(flat.size, dtype=flat.dtype)
    r = chi_step(flat, noise, chi_np, k, u is not None, idx, pulses, buf, momentum is not None)
    return torch.from_numpy(idx[:r]), torch.from_numpy(pulses[:r])


@jit()
def round_step(
    g: np.ndarray,
    u: np.ndarray,
    k: np.ndarray,
    idx: np.ndarray,
    pulses: np.ndarray,
    buf: np.ndarray,
    carried: bool,
) -> int:
    """onchip_sgd's pulses: n = ⌊U + a·v⌋ (``k`` = (a, μ, cap); one rounding as ``torch.add(u, v,
    alpha=a)``), v = μ·buf + g into ``buf`` when ``carried`` else g; where n ≠ 0 (or NaN) its flat
    index and n clipped to ±cap are appended to ``idx`` and ``pulses``; returns how many."""
    a, mu, top, size = k[0], k[1], k[2], g.size
    masks = np.zeros((size + BLOCK - 1) // BLOCK, dtype=np.uint64)
    for b in range(masks.size):  # the velocities and the marks, no branch on the data
        m = np.uint64(0)
        for j in range(min(BLOCK, size - b * BLOCK)):
            d = b * BLOCK + j
            n = np.floor(fma(_velocity(g, buf, mu, carried, d), a, u[d]))
            m |= np.uint64(n != 0) << np.uint64(j)
        masks[b] = m
    r = 0
    for b in range(masks.size):  # then the pulsed ones, n recomputed from the stored velocity
        m = masks[b]
        while m != 0:
            d = b * BLOCK + trailing_zeros(m)
            m &= m - np.uint64(1)
            n = np.floor(fma(buf[d] if carried else g[d], a, u[d]))
            n = -top if n < -top else n  # clamp_(−cap, cap)
            idx[r] = d
            pulses[r] = top if top < n else n
            r += 1
    return r


def pulses(
    g: Tensor, u: Tensor, scale: float, cap: int, momentum: tuple[Tensor, float] | None = None
) -> tuple[Tensor, Tensor] | None:
    """:func:`round_step` when the tensors allow (else None, nothing touched: the caller's torch
    path runs): (flat indices, capped pulses) of ⌊U + scale·v⌋, as ``_sparse_pulses`` of the torch
    path; v = ``g``, or with ``momentum`` = (buffer, μ) the velocity μ·buffer + g, left in the buffer."""
    views = flat_views(g, u, g if momentum is None else momentum[0])
    if views is None:
        return None
    flat, noise, buf = views
    idx = np.empty(flat.size, dtype=np.int64)
    out = np.empty(flat.size, dtype=flat.dtype)
    k = np.array([scale, 0.0 if momentum is None else momentum[1], cap], dtype=flat.dtype)
    r = round_step(flat, noise, k, idx, out, buf, momentum is not None)
    return torch.from_numpy(idx[:r]), torch.from_numpy(out[:r])


__all__ = ["chi_grid", "chi_step", "chi_transfer", "pulses", "round_step", "step"]
