"""Fixtures shared by the models tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from models.physics.devices import DEVICES, UpdateRule


@pytest.fixture
def ideal_devices() -> Iterator[None]:
    """Noise-free pulsed presets (exact steps, far bounds), so applied pulses can be read back
    from the weight change: one bidirectional, one one-directional (SET only)."""
    base = dataclasses.replace(
        DEVICES["rram"],
        step_c2c=0.0,
        step_d2d=0.0,
        bound_d2d=0.0,
        up_down_asymmetry=0.0,
        up_down_d2d=0.0,
        write_noise=0.0,
        update_rule=UpdateRule.CONSTANT,
        dw_min=0.01,
    )
    DEVICES["ideal_bi"] = dataclasses.replace(base, name="ideal_bi", w_bound_min=-100.0, w_bound_max=100.0)
    DEVICES["ideal_set"] = dataclasses.replace(
        base, name="ideal_set", one_directional=True, w_bound_min=0.0, w_bound_max=100.0
    )
    try:
        yield
    finally:
        del DEVICES["ideal_bi"], DEVICES["ideal_set"]
