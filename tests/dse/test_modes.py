"""Training modes in the engine: cache keys, invalid device × mode pairs, new columns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dse.engine.data import load_digits
from dse.engine.space import SpaceError, parse_space
from dse.engine.trial import TrialContext, evaluate_point, run_trial
from dse.schema.point import DesignPoint

SPACE = {"study": {"name": "m"}, "objectives": {"accuracy": "max"}}


def test_off_chip_training_key_ignores_hardware_and_calibration_knobs() -> None:
    a = DesignPoint.of(mode="hwa", device="pcm", adc_bits=8, tile_size=256, hardware_seeds=3)
    b = DesignPoint.of(mode="hwa", device="sram", adc_bits=3, tile_size=64, hardware_seeds=1, read_time="1y")
    assert a.training_key() == b.training_key()
    assert (
        DesignPoint.of(mode="apt", apt_data_fraction=0.01).training_key()
        == DesignPoint.of(mode="apt", apt_data_fraction=0.1, apt_steps=5, device="rram").training_key()
    )
    assert a.training_key() != DesignPoint.of(mode="hwa", train_weight_bits=4).training_key()
    loop = DesignPoint.of(mode="hwa", hwa_converters_in_loop=True)
    assert (
        loop.training_key()
        != DesignPoint.of(mode="hwa", hwa_converters_in_loop=True, adc_bits=4).training_key()
    )
    assert (
        DesignPoint.of(mode="hic").training_key()
        != DesignPoint.of(mode="hic", binary_devices=2).training_key()
    )


def test_invalid_pair_fails_the_trial_before_training_with_the_reason() -> None:
    data = load_digits()
    point = DesignPoint.of(mode="qnn", device="pcm", epochs=1)
    with pytest.raises(ValueError, match=r"qnn.*invalid on device 'pcm'"):
        evaluate_point(point, data)
    record = run_trial(point, data, TrialContext("m", 0))
    assert record.status == "failed" and "stochastic switching" in (record.error or "")


def test_space_rejects_a_fixed_invalid_pair_and_an_all_invalid_product() -> None:
    with pytest.raises(SpaceError, match=r"params.mode.*digital SRAM"):
        parse_space({**SPACE, "params": {"device": "sram", "mode": "hic"}})
    with pytest.raises(SpaceError, match="no valid device × mode pair"):
        parse_space({**SPACE, "params": {"device": {"choices": ["sram", "stt_mram"]}, "mode": "hic"}})
    with pytest.raises(SpaceError, match="in_memory"):
        parse_space({**SPACE, "params": {"mode": "hic", "momentum_placement": "in_memory"}})
    space = parse_space({**SPACE, "params": {"device": {"choices": ["pcm", "stt_mram"]}, "mode": "qnn"}})
    assert space.fixed_params()["mode"] == "qnn"


def test_hic_trial_reports_writes_by_device_type(tmp_path: Path) -> None:
    point = DesignPoint.of(
        mode="hic",
        device="pcm",
        binary_devices=1,
        multilevel_devices=1,
        slice_levels=8,
        update_bits=4,
        hidden=(16,),
        epochs=1,
        hardware_seeds=1,
        tile_size=64,
    )
    m = evaluate_point(point, load_digits())
    assert m["max_writes_multilevel"] >= 1 and m["max_writes_binary"] >= 1
    assert m["max_writes_per_device"] == max(m["max_writes_multilevel"], m["max_writes_binary"])
    assert m["lifetime_fraction_used"] == pytest.approx(m["max_writes_per_device"] / 1e8)
    # pairs of 8-level and binary devices, plus the digital state kept (4-bit accumulator, momentum)
    assert m["model_size_device_bits"] == m["weights"] * (2 * (3 + 1) + 4 + 32)
    assert m["model_size_info_bits"] == pytest.approx(m["weights"] * math.log2(2 * (7 + 8) + 1))
    assert m["model_size_digital_bits"] == m["weights"] * (4 + 32)  # accumulator + digital momentum
    assert math.isnan(m["max_writes_momentum"]) and m["calibration_seconds"] == 0.0
