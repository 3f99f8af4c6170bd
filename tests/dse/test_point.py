"""Contract of every parameter in the registry: defaults, choices, bounds, NaN, round-trips, cache keys."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from dse.engine.space import SpaceError, parse_space
from dse.schema.point import GROUPS, PARAMETERS, TRAINING_GROUPS, DesignPoint, check_value
from dse.schema.record import COLUMNS, arrow_schema, objective_columns

NAMES = list(PARAMETERS)
NUMERIC = [n for n, p in PARAMETERS.items() if p.kind in ("int", "float") and p.lo is not None]
FLOATS = [n for n, p in PARAMETERS.items() if p.kind == "float"]
CHOICES = [n for n, p in PARAMETERS.items() if p.kind == "choice"]


def relevant_point(name: str, **extra: Any) -> DesignPoint:
    """A point in which ``name`` acts: a mode that uses it, an analog device."""
    param = PARAMETERS[name]
    mode = param.modes[0] if param.modes else "hwa"
    device = {"qnn": "stt_mram"}.get(mode, "pcm")
    if param.acts_if is not None:  # the condition that makes it act
        extra.setdefault(param.acts_if[0], param.acts_if[1][0])
    return DesignPoint.of(mode=mode, device=device, **extra)


def other_value(name: str) -> Any:
    """A valid value of ``name`` different from its default."""
    param = PARAMETERS[name]
    if param.kind == "choice":
        return next(c for c in param.choices() if c != param.default)
    if param.kind == "bool":
        return not param.default
    if param.kind == "ints":
        return (7, 5)
    if param.kind == "str":
        return param.default + "x"
    hi = param.hi if param.hi is not None else param.default + 1
    lo = param.lo if param.lo is not None else param.default - 1
    value = (param.default + hi) / 2 if param.default != hi else (param.default + lo) / 2
    return round(value) if param.kind == "int" and round(value) != param.default else value


@pytest.mark.parametrize("name", NAMES)
def test_default_validates_and_builds(name: str) -> None:
    param = PARAMETERS[name]
    assert check_value(name, param.default) is None
    assert getattr(DesignPoint(), name) == param.default
    assert param.doc and param.group in GROUPS


@pytest.mark.parametrize("name", CHOICES)
def test_every_choice_validates_and_round_trips(name: str) -> None:
    choices = PARAMETERS[name].choices()
    assert choices
    for choice in choices:
        assert check_value(name, choice) is None, (name, choice)
        if name in ("mode", "device"):
            continue  # pairs are checked against models.training.modes, not here
        point = (
            DesignPoint.of(**{name: choice})
            if name != "momentum_placement"
            else DesignPoint.of(mode="onchip_sgd", device="rram", momentum_placement=choice)
        )
        assert getattr(point, name) == choice
    assert check_value(name, "no-such-choice") is not None


def test_mapping_choices_are_the_projects_enum() -> None:
    # regression: the choices iterated collections.abc.Mapping and raised TypeError
    assert check_value("mapping", "sign_pair") is None
    assert check_value("mapping", "differential") is None
    assert DesignPoint.of(mapping="differential").mapping == "differential"


@pytest.mark.parametrize("name", NUMERIC)
def test_bounds_hold(name: str) -> None:
    p = PARAMETERS[name]
    assert p.lo is not None and p.hi is not None
    step = 1 if p.kind == "int" else 1e-9 * max(1.0, abs(p.hi))
    assert check_value(name, p.hi) is None
    assert check_value(name, p.hi + step) is not None
    assert check_value(name, p.lo - step) is not None
    assert (check_value(name, p.lo) is None) == (not p.lo_open)
    if p.kind == "int":
        assert check_value(name, float(p.lo) + 0.5) is not None  # a fraction is not an integer
        assert check_value(name, True) is not None  # nor is a bool


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused(name: str, bad: float) -> None:
    assert "finite" in str(check_value(name, bad))
    with pytest.raises(ValueError, match=name):
        DesignPoint.of(**{name: bad})


@pytest.mark.parametrize("name", NAMES)
def test_a_space_may_fix_each_parameter(name: str) -> None:
    value = PARAMETERS[name].default
    raw = {
        "objectives": {"accuracy": "max"},
        "params": {name: list(value) if isinstance(value, tuple) else value},
    }
    space = parse_space(raw, "fix.toml")
    assert space.fixed_params()[name] == value


def test_flat_round_trip_is_exact() -> None:
    point = DesignPoint.of(
        **{n: other_value(n) for n in ("adc_bits", "tile_size", "lr", "hidden", "node_nm")}
    )
    assert DesignPoint.from_params(point.as_dict()) == point
    assert DesignPoint.from_params(DesignPoint().as_dict()) == DesignPoint()


def test_unknown_and_invalid_parameters_are_named() -> None:
    with pytest.raises(KeyError, match="no_such"):
        DesignPoint.of(no_such=1)
    with pytest.raises(ValueError, match="adc_bits"):
        DesignPoint.of(adc_bits=0)


def test_multilevel_devices_zero_without_binary_is_rejected_at_load() -> None:
    # regression: accepted by the loader, then every trial failed
    raw = {"objectives": {"accuracy": "max"}, "params": {"multilevel_devices": 0}}
    with pytest.raises(SpaceError, match="multilevel_devices"):
        parse_space(raw, "slices.toml")


def test_sram_ignores_analog_knobs_and_stores_null() -> None:
    sram = DesignPoint.of(device="sram", adc_bits=3, dac_bits=5, drift=False)
    row = sram.as_row()
    analog_only = {n for n, p in PARAMETERS.items() if p.analog_only}
    assert {n for n, v in row.items() if v is None} == analog_only | {
        n for n, p in PARAMETERS.items() if p.modes and "hwa" not in p.modes
    }
    assert sram.normalized() == DesignPoint.of(device="sram")
    assert sram.training_key() == DesignPoint.of(device="sram").training_key()


def test_knobs_of_other_modes_are_ignored() -> None:
    hwa = DesignPoint.of(mode="hwa", apt_steps=7, qnn_weights="binary")
    assert hwa.ignores("apt_steps") and hwa.ignores("qnn_weights") and not hwa.ignores("eta_train")
    assert hwa.as_row()["apt_steps"] is None and hwa.as_row()["eta_train"] == 0.04
    assert hwa.normalized() == DesignPoint.of(mode="hwa")


def test_a_fixed_input_duty_acts_only_when_the_duty_is_not_measured() -> None:
    measured = DesignPoint.of(device="pcm", input_duty=0.3)  # input_duty_source defaults to measured
    fixed = measured.replace(input_duty_source="fixed")
    assert measured.ignores("input_duty") and not fixed.ignores("input_duty")
    assert measured.as_row()["input_duty"] is None and fixed.as_row()["input_duty"] == 0.3
    assert measured.normalized() == DesignPoint.of(device="pcm")
    assert measured.normalized().input_duty == PARAMETERS["input_duty"].default
    # the condition knob is itself analog-only: on SRAM both are ignored
    sram = DesignPoint.of(device="sram", input_duty_source="fixed", input_duty=0.3)
    assert sram.ignores("input_duty_source") and sram.ignores("input_duty")


def test_a_condition_must_name_choices_of_another_knob() -> None:
    from dataclasses import replace

    from dse.schema.point import check_conditions

    good = dict(PARAMETERS)
    check_conditions(good)
    for bad in (("input_duty_source", ("sometimes",)), ("no_such_knob", ("fixed",)), ("epochs", ("1",))):
        with pytest.raises(TypeError, match="'input_duty': acts_if names"):
            check_conditions(good | {"input_duty": replace(PARAMETERS["input_duty"], acts_if=bad)})


@pytest.mark.parametrize(
    "name",
    [n for n, p in PARAMETERS.items() if p.group in TRAINING_GROUPS and p.cached and n not in ("mode",)],
)
def test_every_training_knob_changes_the_cache_key(name: str) -> None:
    base = relevant_point(name)
    changed = base.replace(**{name: other_value(name)})
    assert changed.normalized() != base.normalized()
    assert changed.training_key() != base.training_key(), name


@pytest.mark.parametrize("name", [n for n, p in PARAMETERS.items() if p.group in ("hardware", "cost")])
def test_hardware_and_cost_knobs_leave_offchip_keys_alone(name: str) -> None:
    base = DesignPoint.of(mode="hwa", device="pcm")
    changed = base.replace(**{name: other_value(name)})
    assert changed.training_key() == base.training_key(), name


@pytest.mark.parametrize("name", [n for n, p in PARAMETERS.items() if p.group == "hardware"])
def test_hardware_knobs_change_onchip_keys(name: str) -> None:
    # training on the chip sees the whole hardware group, so every hardware knob is in the key
    base = DesignPoint.of(mode="onchip_sgd", device="rram")
    changed = base.replace(**{name: "pcm" if name == "device" else other_value(name)})
    assert changed.normalized() != base.normalized(), name
    assert changed.training_key() != base.training_key(), name


def test_apt_calibration_knobs_are_outside_the_key() -> None:
    a = DesignPoint.of(mode="apt", apt_data_fraction=0.01)
    assert a.training_key() == a.replace(apt_data_fraction=0.1, apt_steps=5, apt_lr=0.01).training_key()


def test_every_parameter_and_metric_is_a_column() -> None:
    schema = arrow_schema()
    assert set(PARAMETERS) <= set(schema.names)
    assert schema.field("adc_bits").type == pa.int64() and schema.field("device").type == pa.string()
    assert schema.field("hidden").type == pa.string() and schema.field("gdc").type == pa.bool_()
    assert len(set(schema.names)) == len(schema.names) == len(COLUMNS)
    assert {"accuracy", "energy_per_inference_pj", "area_mm2", "max_writes_per_device"} <= objective_columns()
    assert not objective_columns() & {"trial_number", "attempt", "schema_version", "adc_bits"}
    assert COLUMNS["energy_per_inference_pj"].unit == "pJ" and COLUMNS["area_mm2"].label == "Area (mm²)"


def test_a_stored_row_gives_back_its_point() -> None:
    import pandas as pd

    from dse.results.store import ResultStore
    from dse.schema.record import TrialRecord

    points = [
        DesignPoint.of(device="sram", mode="hwa", hidden=(7, 5), adc_bits=3),  # ignored knobs stored null
        DesignPoint.of(device="rram", mode="onchip_sgd", tile_rows=32, lr=0.2),  # eta_train (float) null
        DesignPoint.of(device="pcm", mode="apt", apt_steps=3, node_nm=14.0),
    ]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ResultStore(tmp).append(TrialRecord("s", n, "complete", p) for n, p in enumerate(points))
        rows = ResultStore(tmp).read().to_dict("records")
    assert [DesignPoint.from_row(r) for r in rows] == [p.normalized() for p in points]
    assert pd.isna(rows[1]["eta_train"])  # the float knob onchip_sgd ignores is NaN in pandas


def test_the_multi_fidelity_columns_and_the_stopped_status_round_trip_through_the_store(tmp_path) -> None:
    import pyarrow as pa

    from dse.results.store import ResultStore
    from dse.schema.record import Status, TrialRecord

    schema = arrow_schema()
    assert (
        schema.field("epochs_done").type == pa.int64()
        and schema.field("resumed_from_epochs").type == pa.int64()
    )
    assert schema.field("warning").type == pa.string()
    assert Status("stopped") is Status.STOPPED and COLUMNS["epochs_done"].group == "training"
    metrics = {"epochs_done": 3, "resumed_from_epochs": 1, "warning": "checkpoint x.pt: damaged"}
    ResultStore(tmp_path).append([TrialRecord("s", 0, "stopped", DesignPoint(), metrics)])
    row = ResultStore(tmp_path).read().iloc[0]
    assert (row["status"], row["epochs_done"], row["resumed_from_epochs"], row["warning"]) == (
        "stopped",
        3,
        1,
        "checkpoint x.pt: damaged",
    )
