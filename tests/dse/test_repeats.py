"""Repeats: each design trained with R seeds; rows carry means, stds and 95 % intervals."""

from __future__ import annotations

import statistics

import pytest

from dse.engine.data import load_digits
from dse.engine.interval import accuracy_interval
from dse.engine.space import SpaceError, parse_space
from dse.engine.trial import evaluate_point
from dse.schema.point import DesignPoint
from dse.schema.record import COLUMNS, INTERVAL_COLUMNS, READ_TIME_COLUMNS, objective_columns

POINT = DesignPoint.of(hidden=[16], epochs=1, hardware_seeds=2, tile_size=64, seed=4)


def test_repeats_pool_the_runs_of_consecutive_training_seeds() -> None:
    """Brute force: a row of 2 repeats is the pool of two single runs with seeds 4 and 5."""
    data = load_digits()
    pooled = evaluate_point(POINT, data, repeats=2)
    single = [evaluate_point(POINT.replace(seed=s), data) for s in (4, 5)]
    assert pooled["repeats"] == 2
    for col in ("accuracy", *READ_TIME_COLUMNS):
        assert pooled[col] == pytest.approx(statistics.fmean(r[col] for r in single), abs=1e-12)
        assert pooled[f"{col}_ci_low"] <= pooled[col] <= pooled[f"{col}_ci_high"]
    assert pooled["accuracy_fp"] == pytest.approx(
        statistics.fmean(r["accuracy_fp"] for r in single), abs=1e-12
    )
    # the interval is the estimator's, on the per-repeat means (chips nested in repeats)
    iv = accuracy_interval([[single[0]["accuracy"]], [single[1]["accuracy"]]], len(data.y_test))
    assert pooled["accuracy_ci_low"] == pytest.approx(iv.low, abs=1e-12)
    assert pooled["accuracy_ci_high"] == pytest.approx(iv.high, abs=1e-12)
    # cost and writes are the first repeat's (the design's own seed)
    assert pooled["energy_per_inference_pj"] == single[0]["energy_per_inference_pj"]
    assert pooled["max_writes_per_device"] == single[0]["max_writes_per_device"]
    assert single[0]["repeats"] == 1 and single[0]["accuracy_ci_low"] < single[0]["accuracy"]


def test_interval_columns_are_in_the_schema_and_may_be_objectives() -> None:
    for col, (low, high) in INTERVAL_COLUMNS.items():
        assert {col, f"{col}_std", low, high} <= set(COLUMNS)
    assert {"accuracy_ci_low", "accuracy_t_1y_gdc_ci_high", "repeats"} <= objective_columns()
    space = parse_space({"study": {"name": "r", "repeats": 3}, "objectives": {"accuracy_ci_low": "max"}})
    assert space.repeats == 3 and space.canonical()["repeats"] == 3
    assert "repeats" not in parse_space({"objectives": {"accuracy": "max"}}).canonical()


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, 101])
def test_bad_repeats_name_the_field(bad: object) -> None:
    with pytest.raises(SpaceError, match=r"study\.repeats"):
        parse_space({"study": {"repeats": bad}, "objectives": {"accuracy": "max"}})
