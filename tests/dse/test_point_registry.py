"""The registry as ``_registry`` builds it from the ``knob(...)`` declarations, checked against values
written out by hand. ``PARAMETERS`` is built once at import, so only a call here shows a change to how
the registry reads a declaration (``make mutants`` cannot reach the import-time call)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dse.schema import point
from dse.schema.point import Param
from models.config import TrainMode, derived, knob


@pytest.mark.parametrize(
    ("annotation", "choices", "kind"),
    [
        ("int", None, "int"),
        ("int | None", None, "int"),
        ("float", None, "float"),
        ("bool", None, "bool"),
        ("str", None, "str"),
        ("tuple[int, ...]", None, "ints"),
        ("tuple[float, ...]", None, "str"),
        ("bytes", None, "str"),
        ("str", "models.physics.devices:DEVICES", "choice"),
        ("TrainMode", TrainMode, "choice"),
    ],
)
def test_kind_of_each_annotation(annotation: str, choices: object, kind: str) -> None:
    assert point._kind(annotation, choices) == kind


def test_the_registry_reads_every_field_of_a_declaration() -> None:
    reg = point._registry()
    assert reg["adc_bits"] == Param(
        name="adc_bits", group="hardware", kind="int", default=8,
        doc="ADC resolution per tile partial sum (bits)", lo=1, hi=16, lo_open=False, registry=None,
        enum=None, cached=True, modes=(), analog_only=True,
    )  # fmt: skip
    assert reg["lr"] == Param(
        name="lr", group="train", kind="float", default=0.05, doc="learning rate of SGD", lo=0.0, hi=10.0,
        lo_open=True,
    )  # fmt: skip
    mode = reg["mode"]
    assert (mode.kind, mode.enum, mode.registry, mode.default) == ("choice", TrainMode, None, "hwa")
    assert type(mode.default) is str  # the enum's value, not the enum
    device = reg["device"]
    assert (device.kind, device.enum, device.registry) == ("choice", None, "models.physics.devices:DEVICES")
    assert (reg["apt_steps"].cached, reg["apt_steps"].modes) == (False, ("apt",))
    assert reg["eta_train"].modes == ("hwa",) and reg["backward"].modes[0] == "onchip_sgd"
    assert reg["hidden"].kind == "ints" and reg["hidden"].default == (128, 128)
    assert (reg["drift"].kind, reg["data_path"].kind, reg["data_path"].group) == ("bool", "str", "data")
    assert reg["node_nm"].group == "cost" and reg["model"].group == "network"


def test_the_registry_skips_derived_fields_and_keeps_the_rest_in_order() -> None:
    reg = point._registry()
    assert "in_features" not in reg and "in_shape" not in reg and "classes" not in reg
    assert list(reg)[:3] == ["device", "tile_size", "tile_rows"]
    assert [n for n, p in reg.items() if p.group == "network"] == ["model", "width_mult", "hidden"]
    assert list(reg)[-1] == "inference_batch"
    assert len({p.group for p in reg.values()}) == 5


@dataclass(frozen=True)
class _Late:
    early: int = derived(1, "set from the data")
    late: int = knob(2, "declared after a derived field", lo=0, hi=3)


def test_a_knob_declared_after_a_derived_field_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(point.GROUPS, "late", _Late)
    reg = point._registry()
    assert "early" not in reg and reg["late"].group == "late" and reg["late"].default == 2


@dataclass(frozen=True)
class _Again:
    adc_bits: int = knob(4, "declared a second time", lo=1, hi=16)


def test_a_name_declared_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(point.GROUPS, "again", _Again)
    with pytest.raises(TypeError) as err:
        point._registry()
    assert str(err.value) == "parameter 'adc_bits' is declared twice (hardware, again)"
