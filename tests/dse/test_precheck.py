"""Cheap objectives first: what the pre-check computes before training equals what the trial
computes after it (exact columns), or brackets it (bounded columns), for off-chip and on-chip modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.engine.data import Dataset, load_dataset
from dse.engine.precheck import precheck, training_free_cost
from dse.engine.space import Constraint
from dse.engine.trial import evaluate_point
from dse.schema.point import DesignPoint
from models.config import AnalogConfig
from models.cost.breakdown import LayerShape
from models.cost.model import hardware_cost
from models.physics.devices import get_device

NEEDS_TRAINING = {"max_writes_per_device", "energy_training_j", "writes_total", "lifetime_fraction_used"}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_dataset("digits")


@pytest.mark.parametrize(
    "point",
    [
        DesignPoint.of(device="pcm", mode="hwa", adc_bits=5, tile_size=64, hidden=(32,), epochs=1),
        DesignPoint.of(device="rram", mode="onchip_sgd", adc_bits=6, tile_size=32, hidden=(16,), epochs=1),
        DesignPoint.of(device="sram", mode="hwa", tile_size=64, hidden=(16,), epochs=1, width_mult=0.5),
    ],
    ids=["pcm-hwa", "rram-onchip", "sram-hwa"],
)
def test_precomputed_columns_equal_the_trained_trials_columns(point: DesignPoint, data: Dataset) -> None:
    exact, bounds = training_free_cost(point, data)
    row = evaluate_point(point, data)
    for name, value in exact.items():
        assert row[name] == value or (math.isinf(value) and row[name] == value), name
    for name, (lo, hi) in bounds.items():
        assert lo <= row[name] <= hi, (name, lo, row[name], hi)
    assert {"area_mm2", "latency_per_inference_ns", "tiles", "macs_per_inference"} <= set(exact)
    if point.device != "sram":  # the cost model gives SRAM no wear: its writes columns are fixed
        assert not NEEDS_TRAINING & (set(exact) | set(bounds))
    if point.mode == "hwa":  # off-chip modes keep no digital state: the model size is known
        assert "model_size_bits" in exact
    else:
        assert "model_size_bits" not in exact  # on-chip: momentum or accumulators may add to it
    if point.device != "sram":
        assert "energy_per_inference_pj" in bounds and "tops_per_w" in bounds


def test_bounded_columns_are_monotone_in_the_conductance_fraction() -> None:
    """Brute force over the fraction: the bounds at 0 and 1 contain every value in between."""
    analog, device = AnalogConfig(tile_size=64, adc_bits=6), get_device("pcm")
    shapes = [LayerShape(64, 32, 1), LayerShape(32, 10, 1)]
    values = [hardware_cost(analog, device, shapes, 0, 0, mean_g_fraction=g) for g in np.linspace(0, 1, 21)]
    for name in ("energy_per_inference_pj", "energy_array_pj", "tops_per_w"):
        series = [getattr(v, name) for v in values]
        assert series == sorted(series) or series == sorted(series, reverse=True), name
        assert series[0] != series[-1], name


def test_a_constraint_is_broken_only_when_every_outcome_of_training_breaks_it(data: Dataset) -> None:
    point = DesignPoint.of(device="pcm", mode="hwa", adc_bits=8, tile_size=64, hidden=(32,), epochs=1)
    exact, bounds = training_free_cost(point, data)
    area, (e_lo, e_hi) = exact["area_mm2"], bounds["energy_per_inference_pj"]
    assert precheck(point, data, [Constraint("area_mm2", "<=", area)]).reason is None  # holds with equality
    tight = precheck(point, data, [Constraint("area_mm2", "<=", area / 2)])
    assert tight.violations == {"area_mm2": pytest.approx(area / 2)}
    assert tight.reason.startswith("infeasible before training: area_mm2 = ")
    between = (e_lo + e_hi) / 2  # some trained conductance meets it, some does not: train and see
    assert precheck(point, data, [Constraint("energy_per_inference_pj", "<=", between)]).violations == {}
    below = precheck(point, data, [Constraint("energy_per_inference_pj", "<=", e_lo * 0.9)])
    assert below.violations == {"energy_per_inference_pj": pytest.approx(e_lo * 0.1)}
    floor = precheck(point, data, [Constraint("tops_per_w", ">=", 2 * bounds["tops_per_w"][1])])
    assert floor.violations["tops_per_w"] == pytest.approx(bounds["tops_per_w"][1])
    writes = precheck(point, data, [Constraint("max_writes_per_device", "<=", 0)])
    assert writes.violations == {} and writes.precomputed(["accuracy", "area_mm2"]) == ["area_mm2"]
