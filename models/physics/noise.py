"""Noise draws shared by the analog layers and the pulsed-update rules.

:func:`normals` serves training noise from a fixed table of standard normals (the
noise-table trick of evolution strategies), or fresh seeded draws for evaluation reads;
:func:`output_noise` turns per-weight noise into its output-referred equivalent.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from models.torch_device import CPU, per_device, random_int

_NOISE_TABLE: dict[tuple[torch.dtype, torch.device], Tensor] = {}
NOISE_TABLE_SIZE = 1 << 22
"""Standard normals kept for training noise (16 MiB in float32)."""


def normals(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise of ``like``'s shape, dtype and device: fresh draws from ``generator``
    if one is given (seeded evaluation reads; it must live on ``like``'s device), else a window at
    a random offset into a fixed table of normals (one copy per device).

    The table is the noise-table trick of evolution strategies (Salimans et al. 2017): each
    window is i.i.d. N(0, 1) inside, windows of different steps are random shifts of one
    sequence. Drawing fresh normals cost ~40 % of a ResNet training step on the CPU; as a
    training regularizer the shifted windows are equivalent. Read-only: never write to it.
    """
    shape, n = like.shape, like.numel()
    if generator is not None or n > NOISE_TABLE_SIZE // 2:
        return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    return window(normal_table(like.dtype, like.device), _offset(n), shape)


def _offset(n: int) -> int:
    """A window's start for ``n`` normals, from the global CPU stream."""
    return random_int(NOISE_TABLE_SIZE - n + 1)


def normal_table(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The fixed table of standard normals that :func:`normals` windows (read-only)."""
    return per_device(_NOISE_TABLE, dtype, device, _normal_table)


def table_offsets(sizes: list[int]) -> list[int]:
    """The starts of the windows that :func:`normals` (no generator) would take for tensors of
    ``sizes`` entries, called in that order: the same draws from the same stream, so a compiled
    kernel reads the same noise values (each size at most half the table)."""
    return [_offset(n) for n in sizes]


_CPU_TABLES: dict[torch.dtype, np.ndarray] = {}


def cpu_normal_table(dtype: torch.dtype) -> np.ndarray:
    """The CPU table of :func:`normal_table` as a NumPy view, kept (what the compiled kernels read:
    every training read and update asks)."""
    table = _CPU_TABLES.get(dtype)
    if table is None:
        table = _CPU_TABLES[dtype] = normal_table(dtype, CPU).numpy()
    return table


def _normal_table(dtype: torch.dtype) -> Tensor:
    """The table, drawn on the CPU from seed 0 (the same values on every device)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    return torch.randn(NOISE_TABLE_SIZE, generator=gen, dtype=dtype, device="cpu")


def window(table: Tensor, start: int, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """``table[start : start + n].view(shape)`` as one ``as_strided`` call (a third of the time of
    the slice and the view; every training read and update takes windows)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return table.as_strided(shape, tuple(reversed(strides)), start)


def output_noise(
    x_tile: Tensor, part: Tensor, sigma: Tensor | float, generator: torch.Generator | None
) -> Tensor:
    """Output-referred equivalent of independent per-weight noise N(0, σ²), per sample.

    A weight perturbation n_ij adds Σ_i n_ij x_i to output j, which is N(0, σ²·Σ_i x_i²)
    over the tile's rows. Drawing that directly costs batch×out normals instead of
    in×out, and is a fresh read per sample. This is the hardware-aware training
    regularizer chosen here (noise per MVM, like a read), and the model of additive
    per-read noise at evaluation.
    """
    z = normals(part, generator)
    return z * (x_tile.detach().norm(dim=2, keepdim=True) * sigma)
