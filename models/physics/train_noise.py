"""The c2c noise windows of a compiled pulse train, drawn as the torch path draws them.

The torch pulse train (:func:`~models.physics.update_rules.pulse_train`) draws one table window
(:func:`~models.physics.noise.normals`) per pulse: pulse 0 for every device, pulse j for the
devices with |n| > j, j < the largest |n| over the devices with |n| > 1. The kernels read the
same windows, so they need those sizes first: vectorized compiled passes over ``n`` (the
largest |n| as an integer maximum of bit patterns, then a count per pulse), instead of NumPy's
|n|, a boolean mask and a loop per device and pulse with a branch each (65 µs for 40k pulsed
devices, two pulses at most, now ~10 µs); the offsets then come from
:func:`~models.physics.noise.table_offsets`, one draw per window from the global stream, as before.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from models.physics.jit import jit
from models.physics.noise import table_offsets

DIRECT = 64
"""Up to this many pulses a train's window sizes are counted by one vectorized pass per pulse."""
_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


@jit()
def _top_bits(bits: np.ndarray, one: int, inf: int, mask: int) -> int:
    """The bit pattern of max |n| over the entries with 1 < |n| ≤ ∞ (0 if none; NaN never):
    non-negative floats order as their bit patterns, so an integer maximum (vectorized)."""
    top = bits.dtype.type(0)
    for i in range(bits.size):
        b = bits[i] & mask  # |n|
        top = max(top, b if (b > one) & (b <= inf) else bits.dtype.type(0))
    return top


def _bit_constants(dtype: np.dtype) -> tuple[type, int, int, int]:
    """(integer type, bits of 1, bits of +inf, the mask of |·|) of a float dtype."""
    kind = _BITS[dtype]
    one, inf = (int(np.array(x, dtype=dtype).view(kind)) for x in (1.0, np.inf))
    return kind, one, inf, int(np.iinfo(kind).max)


_CONSTANTS = {d: _bit_constants(d) for d in _BITS}


def largest_later(n: np.ndarray) -> float:
    """max |n| over the entries with |n| > 1 (0 if none; NaN never: it compares false)."""
    kind, one, inf, mask = _CONSTANTS[n.dtype]
    return float(np.array(_top_bits(n.view(kind), one, inf, mask), dtype=kind).view(n.dtype))


@jit()
def live_sizes(n: np.ndarray, last: int) -> np.ndarray:
    """Devices that pulse j runs on, j = 0 … last − 1: all of them, then those with |n| > j
    (``last`` = int(:func:`largest_later`)): a vectorized count per pulse up to :data:`DIRECT`
    pulses, else (rare) a device with |n| > 1 runs pulses 1 … t, t = min(⌈|n|⌉ − 1, last − 1)
    (the j ≥ 1 with j < |n|): counted once at t, then summed down."""
    out = np.zeros(max(last, 1), dtype=np.int64)
    out[0] = n.size
    if last <= DIRECT:
        for j in range(1, last):
            c = 0
            for i in range(n.size):
                c += abs(n[i]) > j
            out[j] = c
        return out
    for i in range(n.size):
        k = abs(n[i])
        if k > 1:
            t = last - 1 if k >= last else math.ceil(k) - 1  # no huge float to int
            out[t] += 1
    for j in range(last - 2, 0, -1):
        out[j] += out[j + 1]
    return out


class TrainSizes(NamedTuple):
    """A train's length and :func:`live_sizes`, counted where the pulses were made
    (:mod:`models.physics.chi_kernel`), which saves :func:`train_windows` its two scans."""

    last: int
    live: np.ndarray


def train_windows(n: np.ndarray, noisy: bool, sizes: TrainSizes | None = None) -> tuple[np.ndarray, int]:
    """(the window starts of the train's pulses, drawn in the torch loop's order; its length
    ``last``): the starts are ``[0]`` when the train draws no noise (``noisy`` false). ``sizes``:
    the length and live sizes of ``n``, already counted (else scanned here)."""
    if sizes is None:
        last = int(largest_later(n))  # int() as the torch loop's int(max): an infinity raises alike
        live = live_sizes(n, last) if noisy else None
    else:
        last, live = sizes
    if live is None or not noisy:
        return np.zeros(1, dtype=np.int64), last
    counts = [k for k in live.tolist() if k > 0]
    return np.array(table_offsets(counts) if counts else [0], dtype=np.int64), last


__all__ = ["DIRECT", "TrainSizes", "largest_later", "live_sizes", "train_windows"]
