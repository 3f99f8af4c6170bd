"""The on-chip training knobs (``backward``, ``range_recalibration_steps``) act only on chip."""

from __future__ import annotations

import pytest

from dse.schema.point import DesignPoint
from models.config import TrainConfig


@pytest.mark.parametrize("name", ["backward", "range_recalibration_steps"])
def test_the_on_chip_knobs_are_ignored_off_chip(name: str) -> None:
    assert DesignPoint.of(mode="hwa").ignores(name) and DesignPoint.of(mode="apt").ignores(name)
    assert not DesignPoint.of(mode="onchip_sgd", device="rram").ignores(name)
    assert DesignPoint.of(mode="hwa").as_row()[name] is None


def test_a_negative_recalibration_interval_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="range_recalibration_steps"):
        TrainConfig(range_recalibration_steps=-1)
