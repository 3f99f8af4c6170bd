"""The registry's ``acts_if`` conditions, pinned by hand: what the mutation run of point.py found
untested (issue 16). ``PARAMETERS`` is built once at import, so these call ``_registry`` themselves."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from dse.schema import point
from dse.schema.point import PARAMETERS, check_conditions
from models.config import knob


def test_the_registry_reads_each_knobs_condition() -> None:
    reg = point._registry()
    assert reg["input_duty"].acts_if == ("input_duty_source", ("fixed",))  # models/config/cost.py
    assert {n for n, p in reg.items() if p.acts_if is not None} == {"input_duty"}  # the only one today


@dataclass(frozen=True)
class _Conditioned:
    duty_scale: float = knob(
        1.0, "acts with a measured duty only", lo=0.0, hi=2.0, acts_if=("input_duty_source", ("measured",))
    )
    plain: int = knob(3, "no condition", lo=0, hi=9)


def test_a_new_knobs_condition_reaches_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(point.GROUPS, "conditioned", _Conditioned)
    reg = point._registry()
    assert reg["duty_scale"].acts_if == ("input_duty_source", ("measured",))
    assert reg["plain"].acts_if is None


def test_a_condition_may_name_every_choice_of_its_knob() -> None:
    every = ("input_duty_source", ("measured", "fixed"))  # the whole set: a subset, not a proper one
    check_conditions(dict(PARAMETERS) | {"input_duty": replace(PARAMETERS["input_duty"], acts_if=every)})
    with pytest.raises(TypeError, match="'input_duty': acts_if names 'input_duty_source'"):
        bad = ("input_duty_source", ("measured", "fixed", "sometimes"))  # a superset: one is no choice
        check_conditions(dict(PARAMETERS) | {"input_duty": replace(PARAMETERS["input_duty"], acts_if=bad)})
