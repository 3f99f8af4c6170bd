"""The torch devices that device-parametrized tests run on: the CPU always, CUDA where this
machine has it (skipped otherwise, with the reason in pytest's summary)."""

from __future__ import annotations

import pytest
import torch

NO_CUDA = "CUDA is not available on this machine (torch.cuda.is_available() is False)"

TORCH_DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)),
]
"""Parametrize a test's torch device over these (``@pytest.mark.parametrize("where", TORCH_DEVICES)``)."""

DEVICE_PAIRS = [
    pytest.param(a.values[0], b.values[0], id=f"{a.id}-to-{b.id}", marks=[*a.marks, *b.marks])
    for a in TORCH_DEVICES
    for b in TORCH_DEVICES
]
"""Every (from, to) pair of :data:`TORCH_DEVICES`, e.g. a cache entry written on one, read on the other."""
