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
from models.physics.train_noise import TrainSizes

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


SIZES = 64
"""Pulse numbers the producers below count per train size (larger ones: the scan of
:func:`~models.physics.train_noise.train_windows`)."""


@jit(inline="always")
def _slot(a: float) -> int:
    """Where a pulse number ``a`` = |n| counts: its own entry of the counts (a whole number
    1 < a < :data:`SIZES`), 0 (beyond them, or not whole), −1 (a ≤ 1 or NaN: not counted, as
    the scans). Scalars only: the count itself stays in the kernel's loop (a helper that took the
    counts array made the rounding pass ~5 ns a pulse slower)."""
    if not a > 1:
        return -1
    return int(a) if a < SIZES and a == np.floor(a) else 0


@jit(inline="always")
def _sizes(hist: np.ndarray, r: int, top: float) -> int:
    """Turn the counts by :func:`_slot` into the trains' sizes, in place: ``hist[0]`` = ``r``
    devices, ``hist[j]`` = those with |n| > j for 1 ≤ j < last (:func:`~models.physics.train_noise.
    live_sizes`); returns last = int(max |n| > 1), 0 if none, or −1 where one was not counted."""
    if hist[0] > 0:
        return -1
    last = int(top) if top > 1 else 0
    hist[0] = r
    above = 0
    for j in range(hist.size - 1, 0, -1):  # |n| > j: the counts of j + 1 and above
        here = hist[j]
        hist[j] = above
        above += here
    return last


Found = tuple[Tensor, Tensor, TrainSizes | None]
"""(flat indices, pulses, the train's sizes or None) of the weights that get pulses."""


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
    hist: np.ndarray,
) -> tuple[int, int]:
    """χ ← χ + LSB·⌊U + a·v⌋ (``rounded``; else χ + a·v), v = μ·buf + v into ``buf`` first when
    ``carried``; where |χ| ≥ the reach (or NaN): clip to ±saturation, n = trunc(χ/ε) pulses,
    χ ← χ − n·ε, and the weight's flat index and n are appended to ``idx`` and ``pulses``;
    returns how many, and the pulse train's length with its sizes in ``hist`` (zeros, :data:`SIZES`
    long: :func:`_sizes`)."""
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
    r, top = 0, 0.0
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
            slot = _slot(abs(n))
            if slot >= 0:
                hist[slot] += 1
                top = max(top, abs(n))
            r += 1
    return r, _sizes(hist, r, top)


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
) -> Found | None:
    """Run :func:`chi_step` when the tensors allow (:func:`~models.physics.kernels.flat_views`):
    ``u`` the rounding's uniforms (None: a float register, ``scale`` = Δω/v; else ``scale`` =
    Δω/(v·LSB)); ``momentum`` = (buffer, μ): ``v`` is the gradient and the velocity
    μ·buffer + v goes into the buffer first, as ``DigitalMomentum.velocity``; returns (flat indices,
    pulses, the train's sizes) of the transfers (:data:`Found`), or None (nothing touched): the
    caller's torch path runs (hic's accumulator has its own pass, :mod:`models.physics.hic_kernel`)."""
    views = flat_views(v, chi, v if u is None else u, v if momentum is None else momentum[0])
    if views is None:
        return None
    flat, chi_np, noise, buf = views
    mu = 0.0 if momentum is None else momentum[1]
    k = np.array([scale, lsb, reach, saturation, eps, mu], dtype=flat.dtype)  # each rounded once
    idx = np.empty(flat.size, dtype=np.int64)
    pulses = np.empty(flat.size, dtype=flat.dtype)
    hist = np.zeros(SIZES, dtype=np.int64)
    r, last = chi_step(flat, noise, chi_np, k, u is not None, idx, pulses, buf, momentum is not None, hist)
    return _found(idx, pulses, r, last, hist)


def _found(idx: np.ndarray, pulses: np.ndarray, r: int, last: int, hist: np.ndarray) -> Found:
    """The first ``r`` transfers as tensors, with the train's sizes where they were counted."""
    return torch.from_numpy(idx[:r]), torch.from_numpy(pulses[:r]), counted(last, hist)


def counted(last: int, hist: np.ndarray) -> TrainSizes | None:
    """The train's sizes as a kernel here returned them (``last`` < 0: not counted, None)."""
    return None if last < 0 else TrainSizes(last, hist[: max(last, 1)])


@jit()
def round_step(
    g: np.ndarray,
    u: np.ndarray,
    k: np.ndarray,
    idx: np.ndarray,
    pulses: np.ndarray,
    buf: np.ndarray,
    carried: bool,
    hist: np.ndarray,
) -> tuple[int, int]:
    """onchip_sgd's pulses: n = ⌊U + a·v⌋ (``k`` = (a, μ, cap); one rounding as ``torch.add(u, v,
    alpha=a)``), v = μ·buf + g into ``buf`` when ``carried`` else g; where n ≠ 0 (or NaN) its flat
    index and n clipped to ±cap are appended to ``idx`` and ``pulses``; returns how many, and the
    train's length with its sizes in ``hist`` (as :func:`chi_step`)."""
    a, mu, top, size = k[0], k[1], k[2], g.size
    masks = np.zeros((size + BLOCK - 1) // BLOCK, dtype=np.uint64)
    for b in range(masks.size):  # the velocities and the marks, no branch on the data
        m = np.uint64(0)
        for j in range(min(BLOCK, size - b * BLOCK)):
            d = b * BLOCK + j
            n = np.floor(fma(_velocity(g, buf, mu, carried, d), a, u[d]))
            m |= np.uint64(n != 0) << np.uint64(j)
        masks[b] = m
    r, largest = 0, 0.0
    for b in range(masks.size):  # then the pulsed ones, n recomputed from the stored velocity
        m = masks[b]
        while m != 0:
            d = b * BLOCK + trailing_zeros(m)
            m &= m - np.uint64(1)
            n = np.floor(fma(buf[d] if carried else g[d], a, u[d]))
            n = -top if n < -top else n  # clamp_(−cap, cap)
            n = top if top < n else n
            idx[r] = d
            pulses[r] = n
            slot = _slot(abs(n))
            if slot >= 0:
                hist[slot] += 1
                largest = max(largest, abs(n))
            r += 1
    return r, _sizes(hist, r, largest)


def pulses(
    g: Tensor, u: Tensor, scale: float, cap: int, momentum: tuple[Tensor, float] | None = None
) -> Found | None:
    """:func:`round_step` when the tensors allow (else None, nothing touched: the caller's torch
    path runs): (flat indices, capped pulses, the train's sizes) of ⌊U + scale·v⌋, the first two as
    ``_sparse_pulses`` of the torch path; v = ``g``, or with ``momentum`` = (buffer, μ) the velocity
    μ·buffer + g, left in the buffer."""
    views = flat_views(g, u, g if momentum is None else momentum[0])
    if views is None:
        return None
    flat, noise, buf = views
    idx = np.empty(flat.size, dtype=np.int64)
    out = np.empty(flat.size, dtype=flat.dtype)
    k = np.array([scale, 0.0 if momentum is None else momentum[1], cap], dtype=flat.dtype)
    hist = np.zeros(SIZES, dtype=np.int64)
    r, last = round_step(flat, noise, k, idx, out, buf, momentum is not None, hist)
    return _found(idx, out, r, last, hist)


__all__ = [
    "SIZES",
    "Found",
    "chi_grid",
    "chi_step",
    "chi_transfer",
    "counted",
    "pulses",
    "round_step",
    "step",
]
