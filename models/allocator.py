"""The process's heap policy for training: keep freed memory for the next step.

glibc returns the free top of its heap to the kernel once it exceeds ``M_TRIM_THRESHOLD``, and
serves large blocks from fresh ``mmap``s; both thresholds adapt to the program by default. A
training step frees and allocates the same megabyte tensors every step (gradients, partial
sums, scratch), so with the defaults many of them land on pages the kernel must hand out again,
one minor page fault per 4 KiB on first touch: 160–580 faults a step on the benchmark MLP of
``benchmarks/training_modes.py``, ~10 % of a plain PyTorch step and ~20 % of an on-chip one, in
some processes and not others (it depends on the order of allocations). Fixed thresholds keep
the pages: the process then holds its peak heap, which the next step and the next trial reuse.
No value changes, only where memory comes from.
"""

from __future__ import annotations

import ctypes
import sys

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


__all__ = ["KEEP_BYTES", "keep_freed_memory"]
