"""Conditional sampling: the deciding knobs are asked first and a knob the design ignores is never
asked, so the sampler never models a value that did not act (real Optuna study, in memory)."""

from __future__ import annotations

import optuna

from dse.engine.space import parse_space
from dse.engine.study import DECIDING, suggest


def test_deciding_knobs_come_first_and_ignored_knobs_are_never_asked() -> None:
    assert DECIDING[:2] == ("device", "mode") and "input_duty_source" in DECIDING
    raw = {
        "objectives": {"accuracy": "max"},
        "params": {
            # declared in an order where the conditioned knobs come before their conditions
            "input_duty": {"low": 0.1, "high": 0.9},
            "adc_bits": {"low": 2, "high": 8},
            "input_duty_source": {"choices": ["measured", "fixed"]},
            "device": {"choices": ["pcm", "sram"]},
        },
    }
    space = parse_space(raw)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        point = suggest(trial, space)
        analog = point.device == "pcm"
        fixed = analog and trial.params.get("input_duty_source") == "fixed"
        assert ("adc_bits" in trial.params) == analog
        assert ("input_duty_source" in trial.params) == analog
        assert ("input_duty" in trial.params) == fixed
        row = point.as_row()
        assert (row["input_duty"] is None) == (not fixed)
        if fixed:
            assert row["input_duty"] == trial.params["input_duty"]
        seen.add((point.device, row["input_duty_source"], row["input_duty"] is None))
        study.tell(trial, 0.5)
    assert seen >= {("pcm", "measured", True), ("pcm", "fixed", False), ("sram", None, True)}
