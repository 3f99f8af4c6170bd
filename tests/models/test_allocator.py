"""The training heap policy (models/allocator.py): freed megabyte tensors keep their pages.

Measured in fresh subprocesses (the policy is process-wide and cannot be undone): minor page
faults per step of a plain PyTorch SGD step on the benchmark MLP, with glibc's adaptive
thresholds and with the policy.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from models import allocator

STEPS = """
import resource, sys, torch
from torch import nn
from models import allocator
torch.set_num_threads(1)
kept = allocator.keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
def step():
    opt.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
for _ in range(10):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    step()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""


def _faults_per_step(policy: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", STEPS, policy], capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept == "True", float(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the policy is glibc's mallopt")
def test_kept_heap_steps_without_page_faults() -> None:
    kept, faults = _faults_per_step("keep")
    assert kept
    # a step allocates ~6 MB of tensors (~1,500 pages), which come back from the kept heap; the few
    # faults left (0–7 a step seen) are Python's own arenas, mapped outside malloc's thresholds
    assert faults < 16
    default_kept, default_faults = _faults_per_step("default")
    assert not default_kept
    if default_faults < 20:
        pytest.skip(f"this libc kept the pages by itself ({default_faults} faults a step)")
    assert faults < default_faults / 4


def test_policy_is_set_once_and_reported() -> None:
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
    assert first is sys.platform.startswith("linux")
