"""numba helpers of the compiled CPU kernels: how they compile and cache, LLVM's fma and prefetch.

Two operations that numba does not offer as functions, emitted as LLVM intrinsics:
:func:`fma` (one rounding, as torch's ``addcmul`` and ``add(..., alpha=)`` CPU kernels compute)
and :func:`prefetch` (a cache hint, no effect on any value).
"""

from __future__ import annotations

import functools
import hashlib
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.extending import intrinsic


def jit(inline: str = "never") -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit`` as every kernel is compiled: IEEE semantics (no ``fastmath``; division by
    zero gives ±inf or NaN, as torch, not an exception) and the machine code cached next to the
    source, else in numba's user-wide cache directory, valid while no source of this package
    changes (:class:`PackageCache`); where neither is writable (a read-only install without a
    writable home), numba refuses to cache, and the kernel compiles at each start instead, with
    a warning."""

    def wrap(fn: Callable[..., Any]) -> Any:
        kernel = njit(error_model="numpy", cache=False, inline=inline)(fn)
        try:
            kernel._cache = PackageCache(fn)  # what njit(cache=True) sets, with the package's stamp
        except RuntimeError as err:  # "cannot cache function ...: no locator available"
            warnings.warn(f"{fn.__name__} compiles at each start: {err}", RuntimeWarning, stacklevel=2)
        return kernel

    return wrap


def source_stamp(folder: Path) -> str:
    """SHA-256 of the names and contents of the Python files in ``folder`` (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def package_stamp() -> str:
    """:func:`source_stamp` of this package's folder, once per process."""
    return source_stamp(Path(__file__).parent)


class PackageCache(FunctionCache):
    """numba's cache of one kernel, stamped with its own file *and* the whole package's sources.

    numba stamps a kernel's cache with the kernel's own file only: a kernel that inlines a helper,
    an intrinsic or a constant of another file would keep stale machine code after that file
    changed. Here a change anywhere in ``models/physics`` recompiles every kernel once (seconds),
    so kernels may share helpers across files."""

    def __init__(self, py_func: Callable[..., Any]) -> None:
        super().__init__(py_func)
        stamp = (self._impl.locator.get_source_stamp(), package_stamp())
        self._cache_file = IndexDataCacheFile(self._cache_path, self._impl.filename_base, stamp)


@intrinsic
def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a·b + c rounded once (LLVM's ``fma``): torch's ``addcmul`` and ``add(..., alpha=)`` kernels
    compute so on this CPU (the bits of a float64 fma rounded to float32; tests compare)."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.fma(*args)

    return a(a, b, c), codegen


@intrinsic
def prefetch(typingctx: Any, arr: Any, i: Any) -> Any:
    """A hint to load ``arr[i]``'s cache line for writing (LLVM's ``prefetch``; no effect on
    values): the pulsed devices are scattered, and each device's chain of dependent operations
    leaves the processor too few independent loads in flight to hide memory latency."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


AHEAD = 8
"""Devices ahead whose state :func:`prefetch` requests."""


@jit()
def exp_values(z: np.ndarray) -> np.ndarray:
    """The kernels' exponential (LLVM's, i.e. the C library's) of each entry: tested against torch's."""
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = math.exp(z[i])
    return out


def torch_fuses() -> bool:
    """Whether this torch build's CPU ``addcmul`` and ``add(..., alpha=)`` round once (fused
    multiply-adds), as the kernels' :func:`fma` does: probed on 4,096 float32
    values against the float64 multiply-add rounded to float32 (a build that rounds twice differs on
    ~20 % of them). Where it does not, the kernels would differ from the torch path in last bits,
    so they stay off."""
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.rand(4096, generator=g) * 2 - 1 for _ in range(3))
    alpha = float(torch.tensor(0.3, dtype=torch.float32))
    once = (c.double() + a.double() * b.double()).float()
    once_alpha = (c.double() + alpha * a.double()).float()
    return torch.equal(torch.addcmul(c, a, b), once) and torch.equal(torch.add(c, a, alpha=alpha), once_alpha)


def numba_version() -> str:
    """The numba release the kernels are compiled with (reported beside JIT times)."""
    return str(numba.__version__)


__all__ = [
    "AHEAD",
    "PackageCache",
    "exp_values",
    "fma",
    "jit",
    "numba_version",
    "package_stamp",
    "prefetch",
    "source_stamp",
    "torch_fuses",
]
