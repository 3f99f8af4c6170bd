"""onchip_sgd's update of a row-packed array: the rounding and the device train, operands kept.

An RRAM or ECRAM layer under ``onchip_sgd`` (a bidirectional state-dependent array, one row per
device: :mod:`models.physics.device_rows`) updates in two compiled passes: the rounding
(:func:`~models.physics.chi_kernel.round_step`: the velocity, the pulses and the train's sizes)
and the train (:func:`~models.physics.kernels.pulse_rows`). The general route between them
(``chi_kernel.pulses`` → ``PulsedArray.pulse_at`` → ``DeviceRows.pulse`` → ``trains.pulse_rows_at``)
derives every operand again at each update: NumPy views of six tensors, buffers of the layer's
size, the checks on every tensor, through five calls. In the training loop, whose kernels and
matmuls evict the interpreter's caches, that took ~150 µs a layer, ~7 % of an RRAM step of the
benchmark MLP. A :class:`RowUpdate` keeps them for one layer; the updater's layers share one
:class:`Scratch` (they update one after the other). The same draws in the same order and the same
kernels: the general route's results bit for bit (``tests/models/test_row_update.py``).

The NumPy views alias the tensors they were made from, so an updater never pickles its row
updates (a copy would hold copies): it builds them again where it needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import DTypeLike
from torch import Tensor

from models.physics import kernels, trains
from models.physics.chi_kernel import SIZES, counted, round_step
from models.physics.device_rows import DeviceRows
from models.physics.pulses import UNIFORM_TABLE_SIZE, PulsedArray, uniform_table
from models.torch_device import random_int


@dataclass(frozen=True)
class Scratch:
    """Where the rounding puts the pulses it finds (flat indices, pulses), the train's read ω and
    the train's size histogram, sized for the largest layer that uses it."""

    idx: np.ndarray
    n: np.ndarray
    out: np.ndarray
    hist: np.ndarray

    @classmethod
    def of(cls, size: int, dtype: DTypeLike) -> Scratch:
        """Buffers for layers of at most ``size`` weights of ``dtype``."""
        return cls(
            np.empty(size, np.int64), np.empty(size, dtype), np.empty(size, dtype), np.zeros(SIZES, np.int64)
        )


@dataclass(frozen=True, eq=False)
class RowUpdate:
    """One layer's ``onchip_sgd`` update on its device rows (:func:`updates` makes them)."""

    array: PulsedArray
    rows: DeviceRows
    counts: Tensor
    """The devices' flat float64 write counter (where the rows' pending counts go)."""
    weight: torch.nn.Parameter
    """The layer's weight, written α·(read ω) by the train."""
    ptr: int
    """The weight's storage when the views were made (a replaced one sends updates the general way)."""
    alpha: float
    momentum: np.ndarray | None
    """Digital momentum's buffer (NumPy view), or None: the velocity is the gradient."""
    k: np.ndarray
    """:func:`~models.physics.chi_kernel.round_step`'s (scale, μ, cap) in the weight's dtype."""
    target: trains.RowTarget
    uniform: np.ndarray
    """The table of :func:`~models.physics.pulses.uniforms` (NumPy view)."""
    scratch: Scratch

    def step(self, grad: Tensor, scale: float, gen: torch.Generator) -> bool:
        """Update from ``grad``: ⌊U + scale·v⌋ pulses (uniforms' window drawn from ``gen``) on the
        devices, α·(read ω) into the weight, as the general route does. False, with nothing drawn,
        where that route must run instead: kernels off, a generator or gradient off the CPU, a
        gradient not contiguous or not of the weight's dtype, or a weight whose storage was replaced."""
        w = self.weight
        if not (
            kernels.ENABLED
            and gen.device.type == "cpu"
            and grad.device.type == "cpu"
            and grad.dtype == w.dtype
            and grad.is_contiguous()
            and w.data_ptr() == self.ptr
            and w.is_contiguous()
        ):
            return False
        g = grad.numpy().reshape(-1)
        size, s = g.size, self.scratch
        start = random_int(UNIFORM_TABLE_SIZE - size + 1, gen)  # as uniforms() draws its window
        self.k[0] = scale
        s.hist.fill(0)
        u, v = self.uniform[start : start + size], g if self.momentum is None else self.momentum
        r, last = round_step(g, u, self.k, s.idx, s.n, v, self.momentum is not None, s.hist)
        if r == 0:
            return True
        idx, n, sizes = s.idx[:r], s.n[:r], counted(last, s.hist)
        if not kernels.fits(r):  # beyond the noise table's windows: the general route's torch train
            self.array.pulse_at(torch.from_numpy(idx), torch.from_numpy(n), (w.data, self.alpha), sizes)
            return True
        grew = trains.rows_train(self.array.model, w.dtype, idx, n, self.target, s.out[:r], sizes)
        self.rows.grown(grew, self.counts)
        return True


def updates(
    arrays: list[PulsedArray],
    weights: list[torch.nn.Parameter],
    alphas: list[float],
    momenta: list[tuple[Tensor, float] | None],
    cap: int,
) -> list[RowUpdate | None]:
    """Each layer's :class:`RowUpdate` where its array is row-packed on the CPU with a weight and
    momentum buffer the kernels take (contiguous, of the rows' dtype, within the uniform table's
    windows), else None; one :class:`Scratch` per dtype for all of them."""
    found: list[tuple[int, PulsedArray, DeviceRows, Tensor]] = []
    for i, (arr, w) in enumerate(zip(arrays, weights, strict=True)):
        packed, buf = arr.rows(), momenta[i]
        if packed is None or w.device.type != "cpu" or not w.is_contiguous():
            continue
        rows, counts = packed
        if w.dtype != rows.rows.dtype or w.dtype not in kernels.DTYPES or w.numel() > UNIFORM_TABLE_SIZE // 2:
            continue
        if buf is not None and not (buf[0].is_contiguous() and buf[0].dtype == w.dtype):
            continue
        found.append((i, arr, rows, counts))
    largest: dict[torch.dtype, int] = {}
    for i, *_ in found:
        w = weights[i]
        largest[w.dtype] = max(largest.get(w.dtype, 0), w.numel())
    scratch = {d: Scratch.of(size, kernels.DTYPES[d]) for d, size in largest.items()}
    out: list[RowUpdate | None] = [None] * len(arrays)
    for i, arr, rows, counts in found:
        w, buf = weights[i], momenta[i]
        dt = kernels.DTYPES[w.dtype]
        weight = w.data.numpy().reshape(-1)
        target = trains.RowTarget(
            rows.rows.numpy(), counts.numpy(), weight, np.array([alphas[i]]).astype(dt), rows.count_col
        )
        out[i] = RowUpdate(
            array=arr,
            rows=rows,
            counts=counts,
            weight=w,
            ptr=w.data_ptr(),
            alpha=alphas[i],
            momentum=None if buf is None else buf[0].numpy().reshape(-1),
            k=np.array([0.0, 0.0 if buf is None else buf[1], cap], dtype=dt),
            target=target,
            uniform=uniform_table(w.dtype, w.device).numpy(),
            scratch=scratch[w.dtype],
        )
    return out


__all__ = ["RowUpdate", "Scratch", "updates"]
