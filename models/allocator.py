"""Where training's memory comes from: the heap policy, and huge pages for scattered state.

glibc returns the free top of its heap to the kernel once it exceeds ``M_TRIM_THRESHOLD``, and
serves large blocks from fresh ``mmap``s; both thresholds adapt to the program by default. A
training step frees and allocates the same megabyte tensors every step (gradients, partial
sums, scratch), so with the defaults many of them land on pages the kernel must hand out again,
one minor page fault per 4 KiB on first touch: 160–580 faults a step on the benchmark MLP of
``benchmarks/training_modes.py``, ~10 % of a plain PyTorch step and ~20 % of an on-chip one, in
some processes and not others (it depends on the order of allocations). Fixed thresholds keep
the pages: the process then holds its peak heap, which the next step and the next trial reuse.
No value changes, only where memory comes from.

State that a kernel reads and writes at scattered places (a pulsed device's row, a carry's
digits) sits in transparent huge pages where the platform offers them
(:func:`scattered_empty`): each scattered row on a 4 KiB page is a TLB miss.
"""

from __future__ import annotations

import ctypes
import mmap
import sys

import numpy as np
import torch
from torch import Tensor

M_TRIM_THRESHOLD = -1
"""glibc's ``mallopt`` parameter: free bytes at the heap's top before it is returned to the kernel."""
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter: blocks from this size on get their own ``mmap``."""
KEEP_BYTES = 1 << 30
"""Both thresholds (1 GiB): a step's tensors stay on the heap, and its free pages stay mapped."""
_kept = False


def keep_freed_memory() -> bool:
    """Set the policy once per process (glibc on Linux); returns whether it is in force. Elsewhere
    (macOS, musl without ``mallopt``), nothing changes and it returns False."""
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _kept = mallopt(M_TRIM_THRESHOLD, KEEP_BYTES) == 1 and mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) == 1
    return _kept


HUGE_PAGE = 2 << 20
"""Bytes of a transparent huge page (x86-64 Linux)."""
_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.int32: np.int32, torch.uint8: np.uint8}


def huge_page_empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """An uninitialised CPU tensor in memory advised for transparent huge pages, where it spans at
    least one (2 MiB) and the platform offers them, else ``torch.empty``. On 4 KiB pages, each row
    read at a scattered place is a TLB miss (tens of MB of state on the benchmark MLP); on 2 MiB
    pages, a few hundred entries cover it all. Values, pickling and copies are those of any
    tensor (a loaded copy sits in ordinary memory)."""
    n = 1
    for k in shape:
        n *= k
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    nbytes = n * np.dtype(_NUMPY[dtype]).itemsize if dtype in _NUMPY else 0
    if nbytes < HUGE_PAGE or advise is None:
        return torch.empty(shape, dtype=dtype, device="cpu")
    size = (nbytes + 2 * HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE  # room to align the start
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.madvise(advise)
    raw = np.frombuffer(region, dtype=np.uint8)  # keeps the mapping alive as long as the tensor
    start = -raw.ctypes.data % HUGE_PAGE
    return torch.from_numpy(raw[start : start + nbytes].view(_NUMPY[dtype]).reshape(shape))


def scattered_empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Room for state read and written at scattered places: on the CPU in huge pages
    (:func:`huge_page_empty`), elsewhere ``torch.empty``."""
    if device.type == "cpu":
        return huge_page_empty(shape, dtype)
    return torch.empty(shape, dtype=dtype, device=device)


__all__ = ["HUGE_PAGE", "KEEP_BYTES", "huge_page_empty", "keep_freed_memory", "scattered_empty"]
