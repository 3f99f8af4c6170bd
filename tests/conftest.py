"""Shared fixtures: tiny search spaces that run in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback-only test clusters, set consistently
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

TINY_SPACE = """
[study]
name = "{name}"
sampler = "{sampler}"
trials = {trials}
workers = 2
seed = 3

[params]
device = {{ choices = ["pcm", "rram", "sram"] }}
adc_bits = {{ low = 3, high = 8 }}
tile_size = {{ low = 32, high = 64, step = 32 }}
width_mult = 0.5
hidden = [32]
epochs = 2
batch_size = 64
hardware_seeds = 2

[objectives]
accuracy = "max"
energy_per_inference_pj = "min"
"""


@pytest.fixture
def tiny_space(tmp_path: Path):
    """Write a tiny search space TOML and return a factory for its path."""

    def make(name: str = "tiny", sampler: str = "random", trials: int = 4) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(TINY_SPACE.format(name=name, sampler=sampler, trials=trials))
        return path

    return make
