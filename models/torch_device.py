"""Placement: which torch device a model's tensors live on, and how work follows them there.

A trial runs on one torch device (``cpu`` or ``cuda``; not to be confused with a
:class:`~models.physics.devices.DeviceSpec`, the memory technology). The network is built on the CPU,
so its initial weights are the same everywhere, then moved. Everything created afterwards
follows the weights or inputs it works with: generators are seeded on that device, data
batches are moved to it, and constant tables are kept once per device. On the CPU every
helper here is exactly what the code did before (same generator streams, no copies).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from models.allocator import huge_page_empty

CPU = torch.device("cpu")
NUMPY_INDICES = True
"""Find flat indices with NumPy on the CPU (:func:`flat_indices`); off, the path other devices take."""


def device_of(model: nn.Module) -> torch.device:
    """The torch device of the model's first parameter (or buffer); the CPU for an empty model."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return CPU


def seeded(seed: int, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``: draws on that device need one there. On the
    CPU it is the stream of ``torch.Generator().manual_seed(seed)``."""
    return torch.Generator(device=device).manual_seed(seed)


_DRAW = torch.empty(1, dtype=torch.int64)
"""The CPU tensor :func:`random_int` draws into (``torch.randint`` allocates one per draw)."""


def random_int(high: int, generator: torch.Generator | None = None) -> int:
    """One integer in ``[0, high)`` from ``generator`` (``None``: the global CPU stream), drawn on
    its device (off the CPU this waits for the device). The integers of ``torch.randint(0, high,
    (1,))``; on the CPU drawn into one kept tensor, which halves the ~2.5 µs a draw costs (an
    on-chip training step draws about thirty table offsets)."""
    if generator is None or generator.device.type == "cpu":
        return int(_DRAW.random_(0, high, generator=generator))
    return int(torch.randint(0, high, (1,), generator=generator, device=generator.device))


def permutation(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A random permutation of ``range(n)`` from ``generator`` (drawn on its device), returned on
    ``device``: the device of the data it indexes."""
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def shuffled_batches(
    x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of ``(inputs, labels)`` mini-batches in an order drawn from ``generator``, moved
    to ``device``: the loop every trainer shares."""
    order = permutation(x.shape[0], generator, x.device)
    for i in range(0, x.shape[0], batch_size):
        idx = order[i : i + batch_size]
        yield to_device(x[idx], device), to_device(y[idx], device)


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """``x`` on ``device``: itself when it is already there; a host-to-device copy does not block."""
    return x.to(device, non_blocking=device.type != "cpu")


def flat_indices(x: Tensor, test: Callable[[Any], Any]) -> Tensor:
    """Flat indices (int64, on ``x``'s device, ascending) where ``test(x)`` holds; ``test`` uses only
    operators that NumPy arrays and tensors share (comparisons, ``~``, ``&``, ``abs``).

    On the CPU, NumPy's compare and :func:`flatnonzero` are 5–10× faster than torch's (the index
    tensor shares NumPy's memory); other devices use ``torch.nonzero``, same indices."""
    if NUMPY_INDICES and x.device.type == "cpu":
        return torch.from_numpy(flatnonzero(np.asarray(test(x.detach().reshape(-1).numpy()))))
    return test(x.detach().reshape(-1)).nonzero().squeeze(1)


SPARSE_NONZERO = 0.1
"""NumPy's ``nonzero`` of a bool array at most this dense skips runs of zeros (a branchy loop)."""
BRANCHY_SLOW = 0.04
"""Above this density (and up to :data:`SPARSE_NONZERO`) that loop is slower than the branchless one."""
NONZERO_PROBE_STRIDE = 61
"""Every 61st entry estimates the density: only masks near the slow band are counted exactly."""


def flatnonzero(mask: np.ndarray) -> np.ndarray:
    """``np.flatnonzero`` of a flat bool array, the same indices, faster at 4–10 % density.

    NumPy (2.x) finds the set entries of a bool array at most 10 % set by skipping zero runs,
    which mispredicts on scattered entries: 250–540 µs for 400k entries at 5–10 %, against
    ~190 µs for the branchless loop it runs above 10 % (this machine). In that band the mask
    is padded with set entries to just above 10 % and the padding's indices dropped. Whether a
    mask is in the band is estimated on a strided probe first, then counted exactly (the padding
    needs the exact count); the probe decides only which search runs, never the indices."""
    n = mask.size
    probe = mask[::NONZERO_PROBE_STRIDE]  # a strided look first: an exact count is a pass of its own
    near = probe.size >= 64 and 0.75 * BRANCHY_SLOW * probe.size < np.count_nonzero(probe)
    if not near or np.count_nonzero(probe) > 1.25 * SPARSE_NONZERO * probe.size:
        return np.flatnonzero(mask)
    count = int(np.count_nonzero(mask))
    if not BRANCHY_SLOW * n < count <= SPARSE_NONZERO * n:
        return np.flatnonzero(mask)
    extra = math.ceil((SPARSE_NONZERO * n - count) / (1.0 - SPARSE_NONZERO)) + 64
    padded = np.empty(n + extra, dtype=np.bool_)
    padded[:n] = mask
    padded[n:] = True
    return np.flatnonzero(padded)[:count]


def nonzero_indices(x: Tensor) -> Tensor:
    """Flat indices (int64, on ``x``'s device) of the nonzero (or NaN) entries of a contiguous tensor
    (:func:`flat_indices`)."""
    return flat_indices(x, lambda a: a != 0)


def whole_indices(x: Tensor) -> Tensor:
    """Flat indices where ``trunc(x) ≠ 0``, i.e. ``|x| ≥ 1`` (or NaN), as :func:`nonzero_indices`."""
    return flat_indices(x, lambda a: ~(abs(a) < 1.0))


def per_device(
    tables: dict[tuple[torch.dtype, torch.device], Tensor],
    dtype: torch.dtype,
    device: torch.device,
    make: Callable[[torch.dtype], Tensor],
) -> Tensor:
    """The constant table ``make(dtype)`` on ``device``, cached in ``tables``: ``make`` draws it on
    the CPU from a fixed seed, so every device holds the same values; copied once per device. The
    CPU's copy sits in huge pages (:func:`~models.allocator.huge_page_empty`): every step streams
    windows of it from random offsets (1–2 % of an on-chip step on the benchmark MLP)."""
    key = (dtype, device)
    table = tables.get(key)
    if table is None:
        made = make(dtype)
        if device.type == "cpu":
            made = huge_page_empty(tuple(made.shape), made.dtype).copy_(made)
        table = tables[key] = made.to(device)
    return table


__all__ = [
    "CPU",
    "NUMPY_INDICES",
    "device_of",
    "flat_indices",
    "flatnonzero",
    "nonzero_indices",
    "per_device",
    "permutation",
    "random_int",
    "seeded",
    "shuffled_batches",
    "to_device",
    "whole_indices",
]
