"""The conductance the cell-read energy charges is the one the weights put on the devices."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.config import AnalogConfig, CostConfig, InputEncoding
from models.cost.conductance import mean_conductance_fraction
from models.cost.model import LayerShape, hardware_cost
from models.physics.crossbar import weight_to_slices
from models.physics.devices import DEVICES


def test_without_slices_the_fraction_is_the_quantized_weight_magnitude() -> None:
    rram = DEVICES["rram"]  # 16 levels: |w|/w_max rounds to k/15
    w = torch.tensor([[0.3, -0.6], [1.0, 0.0]])
    expected = sum(round(abs(v) * 15) / 15 for v in (0.3, 0.6, 1.0, 0.0)) / 4
    assert mean_conductance_fraction([(w, 1.0)], rram, AnalogConfig(device="rram")) == pytest.approx(expected)


def test_binary_slices_hold_the_bits_of_the_code_not_its_magnitude() -> None:
    # 4 binary slices: codes 1, 2, 3 of 15 (|w|/w_max 0.067, 0.133, 0.2) set 1, 1 and 2 of 4 bits
    analog = AnalogConfig(device="rram", binary_devices=4, multilevel_devices=0)
    w = torch.tensor([1.0, -2.0, 3.0]) / 15
    f = mean_conductance_fraction([(w, 1.0)], DEVICES["rram"], analog)
    assert f == pytest.approx((1 + 1 + 2) / 12)  # 0.333, where mean |w|/w_max is 0.133
    # Gaussian weights: the low bits of small weights are set half the time
    g = torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    assert mean_conductance_fraction([(g, g.abs().max())], DEVICES["rram"], analog) > 1.5 * float(
        (g.abs() / g.abs().max()).mean()
    )


def test_cell_read_energy_with_it_is_the_sum_over_the_programmed_devices() -> None:
    # Every row driven for one pulse: the array energy must be V²·t·Σ g over every device the
    # mapping programs (2 multi-level slices of 4 levels, sign pairs), 0.5 V and 10 ns.
    rram = dataclasses.replace(DEVICES["rram"], g_min_us=2.0, g_max_us=32.0)
    analog = AnalogConfig(device="rram", tile_size=64, dac_bits=4, multilevel_devices=2, slice_levels=4)
    w = torch.randn(12, 5, generator=torch.Generator().manual_seed(1))  # rows × columns
    w_max = float(w.abs().max())
    devices_g_us = float(weight_to_slices(w, w_max, rram, analog).double().sum())
    f = mean_conductance_fraction([(w, w_max)], rram, analog)
    cost = CostConfig(input_encoding=InputEncoding.MULTI_BIT, input_duty=1.0)
    c = hardware_cost(analog, rram, [LayerShape(12, 5)], 0.0, 0.0, f, cost=cost)
    assert c.energy_array_pj == pytest.approx(0.5**2 * devices_g_us * 1e-6 * 10e-9 * 1e12, rel=1e-12)


def test_digital_baseline_has_no_conductance() -> None:
    assert (
        mean_conductance_fraction([(torch.ones(3), 1.0)], DEVICES["sram"], AnalogConfig(device="sram")) == 0.0
    )
