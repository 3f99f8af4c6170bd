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
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

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


def random_int(high: int, generator: torch.Generator) -> int:
    """One integer in ``[0, high)`` from ``generator``, drawn on its device (off the CPU this
    waits for the device)."""
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

    On the CPU, NumPy's compare and ``flatnonzero`` are 5–10× faster than torch's (the index
    tensor shares NumPy's memory); other devices use ``torch.nonzero``, same indices."""
    if NUMPY_INDICES and x.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(test(x.detach().reshape(-1).numpy())))
    return test(x.detach().reshape(-1)).nonzero().squeeze(1)


def per_device(
    tables: dict[tuple[torch.dtype, torch.device], Tensor],
    dtype: torch.dtype,
    device: torch.device,
    make: Callable[[torch.dtype], Tensor],
) -> Tensor:
    """The constant table ``make(dtype)`` on ``device``, cached in ``tables``: ``make`` draws it on
    the CPU from a fixed seed, so every device holds the same values; copied once per device."""
    key = (dtype, device)
    table = tables.get(key)
    if table is None:
        table = tables[key] = make(dtype).to(device)
    return table


__all__ = [
    "CPU",
    "NUMPY_INDICES",
    "device_of",
    "flat_indices",
    "per_device",
    "permutation",
    "random_int",
    "seeded",
    "shuffled_batches",
    "to_device",
]
