"""Design-point values at their edges: the exact reason a value is refused, the allowed values each kind
names, conversions from Optuna params and stored rows, and what a point derives (found unpinned by
``make mutants``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dse.schema.point import PARAMETERS, DesignPoint, Param, allowed_text, check_value
from models.config import TrainMode


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("adc_bits", 0, "0 is out of range"),
        ("adc_bits", 17, "17 is out of range"),
        ("adc_bits", 2.0, "2.0 is not an integer"),
        ("adc_bits", True, "True is not an integer"),
        ("lr", 0.0, "0.0 is out of range"),  # lo is open
        ("lr", 10.5, "10.5 is out of range"),
        ("lr", "x", "'x' is not a number"),
        ("lr", False, "False is not a number"),
        ("width_mult", math.nan, "nan is not a finite number"),
        ("tile_rows", -1, "-1 is out of range"),
        ("hidden", [], "[] is not a non-empty list of positive integers"),
        ("hidden", [4, 0], "[4, 0] is not a non-empty list of positive integers"),
        ("hidden", [4, True], "[4, True] is not a non-empty list of positive integers"),
        ("hidden", [4, 2.0], "[4, 2.0] is not a non-empty list of positive integers"),
        ("hidden", "4", "'4' is not a non-empty list of positive integers"),
        ("drift", 1, "1 is not true or false"),
        ("data_path", 3, "3 is not a string"),
        ("device", "gold", "'gold' is not allowed"),
    ],
)
def test_check_value_says_why(name: str, value: object, why: str) -> None:
    assert check_value(name, value) == why


@pytest.mark.parametrize(
    ("name", "value"),
    [("lr", 10.0), ("lr", 1), ("tile_rows", 0), ("momentum", 0.0), ("hidden", (4,)), ("hidden", [1, 2]),
     ("drift", False), ("data_path", ""), ("device", "sram"), ("dataset", "digits")],
)  # fmt: skip
def test_check_value_accepts_the_edges(name: str, value: object) -> None:
    assert check_value(name, value) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("adc_bits", "integers in [1, 16]"),
        ("lr", "finite numbers in (0, 10]"),
        ("momentum", "finite numbers in [0, 0.999]"),
        ("drift", "true, false"),
        ("hidden", "a non-empty list of positive integers"),
        ("data_path", "a string"),
        ("device", "'pcm', 'rram', 'stt_mram', 'fefet', 'ecram', 'sram'"),
        ("qnn_weights", "'binary', 'ternary'"),
    ],
)
def test_allowed_text_per_kind(name: str, text: str) -> None:
    assert allowed_text(name) == text


def test_errors_name_the_parameter_the_value_and_the_allowed_values() -> None:
    with pytest.raises(ValueError) as err:
        DesignPoint.of(adc_bits=0)
    assert str(err.value) == "adc_bits: 0 is out of range; allowed: integers in [1, 16]"
    with pytest.raises(KeyError) as missing:
        DesignPoint.of(no_such=1, also_not=2)
    assert (
        missing.value.args[0]
        == f"unknown parameter(s) ['also_not', 'no_such']; allowed: {', '.join(PARAMETERS)}"
    )


def test_only_choice_parameters_have_choices() -> None:
    assert PARAMETERS["adc_bits"].choices() == [] and PARAMETERS["hidden"].choices() == []
    assert PARAMETERS["dataset"].choices()[0] == "digits" and PARAMETERS["dataset"].registry is not None
    kinds = {n: p.kind for n, p in PARAMETERS.items()}
    assert kinds["adc_bits"] == "int" and kinds["dac_bits"] == "int"  # declared int | None
    assert kinds["lr"] == "float" and kinds["drift"] == "bool" and kinds["hidden"] == "ints"
    assert kinds["data_path"] == "str" and kinds["device"] == "choice"


def test_from_params_converts_to_the_declared_types() -> None:
    point = DesignPoint.of(adc_bits=None, lr=1, hidden=[7, 5], device="rram", mode="hic")
    assert type(point.train.lr) is float and point.lr == 1.0
    assert point.hidden == (7, 5) and point.network.hidden == (7, 5)
    assert point.device == "rram" and point.train.mode is TrainMode.HIC
    assert type(point.mode) is str and point.mode == "hic"  # an enum inside, its value outside
    assert point.adc_bits == PARAMETERS["adc_bits"].default  # None: the knob was ignored, the default
    with pytest.raises(AttributeError, match="no parameter 'nope'"):
        _ = point.nope


def test_from_row_reads_what_pandas_and_pyarrow_give_back() -> None:
    row = {
        "adc_bits": np.int64(5),
        "epochs": 3.0,  # an integer column read back as float
        "lr": np.float64(0.25),
        "hidden": "[7, 5]",  # list columns are JSON text
        "dac_bits": math.nan,  # ignored knob: NaN or None is the default
        "dac_percentile": None,
        "tile_size": 64,
        "tile_rows": 64,  # the rows that ran equal tile_size: tile_rows was its default 0
        "tile_cols": 32,
        "not_a_parameter": 1,
    }
    point = DesignPoint.from_row(row)
    assert (point.adc_bits, point.epochs, point.lr, point.hidden) == (5, 3, 0.25, (7, 5))
    assert type(point.adc_bits) is int and type(point.epochs) is int
    assert point.dac_bits == PARAMETERS["dac_bits"].default
    assert (point.tile_rows, point.tile_cols, point.rows, point.cols) == (0, 32, 64, 32)
    assert DesignPoint.from_row({"tile_rows": 256, "tile_cols": 256}).tile_rows == 0  # default tile_size
    assert DesignPoint.from_row({"tile_rows": 256, "tile_cols": 64}).tile_cols == 64
    with pytest.raises(ValueError, match=r"^adc_bits: 2.5 is not an integer"):
        DesignPoint.from_row({"adc_bits": 2.5})  # a fraction is never rounded into an integer knob


def test_a_point_derives_its_chips_network_and_stored_row() -> None:
    point = DesignPoint.of(seed=3, hardware_seeds=3, tile_size=64, tile_cols=16, model="mlp")
    assert point.hardware_seeds_list() == [3001, 3002, 3003]  # replays derive the same chips
    assert DesignPoint.of(seed=4, hardware_seeds=1).hardware_seeds_list() == [4001]
    net = point.network_config((3, 4, 4), 7)
    assert (net.in_features, net.in_shape, net.classes) == (48, (3, 4, 4), 7)
    row = point.as_row()
    assert (row["tile_rows"], row["tile_cols"]) == (64, 16)  # the rows and columns that ran
    assert json.loads(row["hidden"]) == list(point.hidden) and row["eta_train"] == point.eta_train
    assert point.is_analog and not DesignPoint.of(device="sram").is_analog
    assert point.analog_config() is point.hardware and point.train_config() is point.train
    assert point.cost_config() is point.cost


def test_the_knobs_an_apt_design_ignores_are_those_of_other_modes() -> None:
    other_modes = [
        "eta_train", "train_weight_bits", "hwa_converters_in_loop", "momentum_placement", "pcm_gain",
        "transfer_images", "cap_retention_images", "cap_update_bits", "backward", "range_recalibration_steps",
        "qnn_weights",
    ]  # fmt: skip
    assert DesignPoint.of(mode="apt", device="pcm", input_duty_source="fixed").ignored() == other_modes
    # with the duty measured (the default), the fixed input_duty does not act either
    assert DesignPoint.of(mode="apt", device="pcm").ignored() == [*other_modes, "input_duty"]


def test_an_unbounded_number_is_described_by_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PARAMETERS, "free_int", Param("free_int", "train", "int", 0, "no bounds declared"))
    assert allowed_text("free_int") == "a value of type int"
