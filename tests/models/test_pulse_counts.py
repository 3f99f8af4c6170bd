"""Nominal pulse counts: ``pulses_toward`` (the open-loop SET count of a 2PCM + 3T1C transfer [A18]) and
``pulses_to_reach`` (a refresh's program-and-verify count [N20]), against closed forms and a scalar walk
of the documented pulse response (update_rules' docstring) [A]."""

from __future__ import annotations

import dataclasses
import math

import torch

from models.physics.devices import DEVICES, UpdateRule
from models.physics.update_rules import PulseModel, device_slopes, pulses_to_reach, pulses_toward

PCM = PulseModel.of(DEVICES["pcm"])


def _walk(start: float, target: float, up: float, hi: float, m: PulseModel, slope: float | None) -> int:
    """Pulse while the next nominal step ends nearer the target than the device stands (and moves it)."""
    w, n = start, 0
    for _ in range(math.ceil(10.0 * m.hi / m.dw_min)):
        if slope is not None:
            f = max(1.0 + slope * w, 0.0)
        elif m.rule is UpdateRule.EXP_STEP:
            z = (2.0 * m.exp_a) * w / max(hi, 1e-12) + m.exp_b
            f = max(1.0 - m.amp_up * math.exp(m.gamma_up * z), 0.0)
        else:
            f = 1.0
        step = min(w + up * f, hi) - w
        if not (w + step / 2 < target and step > 0):
            break
        w, n = w + step, n + 1
    return n


def _case(seed: int, n: int = 300) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    hi = 1.6 + 0.8 * torch.rand(n, generator=g, dtype=torch.float64)
    start = hi * 0.6 * torch.rand(n, generator=g, dtype=torch.float64)
    target = start + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)  # some beyond hi
    up = 0.01 * (0.7 + 0.6 * torch.rand(n, generator=g, dtype=torch.float64))
    return start, target, up, hi


def test_constant_steps_pulse_to_the_nearest_multiple_and_stop_at_the_bound() -> None:
    m = dataclasses.replace(PCM, rule=UpdateRule.CONSTANT, c2c_add=0.0, c2c_slope=0.0)
    hi = torch.full((5,), 10.0, dtype=torch.float64)
    up = torch.full((5,), 0.25, dtype=torch.float64)
    start = torch.zeros(5, dtype=torch.float64)
    target = torch.tensor([0.0, 0.1, 0.2, 1.05, 0.62], dtype=torch.float64)
    # nearest of k·0.25: 0, 0 (0.1 nearer 0), 1 (0.2 nearer 0.25), 4 (1.05 nearer 1.0), 2 (0.62 → 0.5)
    assert pulses_toward(start, target, up, hi, m, None).tolist() == [0.0, 0.0, 1.0, 4.0, 2.0]
    # a target past the bound stops where a step no longer moves the device: ⌈hi/s⌉ pulses
    hi = torch.tensor([1.0, 1.1], dtype=torch.float64)
    far = torch.full((2,), 5.0, dtype=torch.float64)
    assert pulses_toward(torch.zeros(2, dtype=torch.float64), far, up[:2], hi, m, None).tolist() == [4.0, 5.0]


def test_the_pcm_exponential_response_matches_a_scalar_walk_of_the_documented_rule() -> None:
    start, target, up, hi = _case(0)
    got = pulses_toward(start, target, up, hi, PCM, None)
    want = [_walk(*map(float, row), PCM, None) for row in zip(start, target, up, hi, strict=True)]
    assert got.tolist() == [float(v) for v in want]
    assert min(want) == 0 and max(want) >= 10  # the case spans empty and long trains


def test_a_soft_bounds_slope_shrinks_the_steps_as_the_scalar_walk_says() -> None:
    m = dataclasses.replace(PCM, rule=UpdateRule.SOFT_BOUNDS, c2c_add=0.0, c2c_slope=0.0)
    start, target, up, hi = _case(1)
    slopes = device_slopes(m, torch.zeros_like(hi), hi, torch.Generator().manual_seed(0))
    assert slopes is not None
    got = pulses_toward(start, target, up, hi, m, slopes[0])
    want = [
        _walk(*map(float, row), m, float(s)) for *row, s in zip(start, target, up, hi, slopes[0], strict=True)
    ]
    assert got.tolist() == [float(v) for v in want]
    plain = pulses_toward(start, target, up, hi, m, None)
    assert not torch.equal(plain, got)  # the slope is what shrinks the steps here


def test_constant_steps_reach_a_target_in_its_ceiling_of_steps_even_with_complex_noise() -> None:
    """Constant steps: ⌈target/s⁺⌉ exactly, a target a hair past k steps needing k + 1, whether or not
    the (noise-only) complex c2c terms make the model state dependent."""
    up = torch.tensor([0.25, 0.25, 0.5, 0.3], dtype=torch.float64)
    target = torch.tensor([1.0, 1.0 + 1e-9, 0.2, 0.91], dtype=torch.float64)
    hi = torch.full((4,), 10.0, dtype=torch.float64)
    for m in (
        dataclasses.replace(PCM, rule=UpdateRule.CONSTANT, c2c_add=0.0, c2c_slope=0.0),
        dataclasses.replace(PCM, rule=UpdateRule.CONSTANT),
    ):
        assert pulses_to_reach(target, up, hi, m, None).tolist() == [4.0, 5.0, 1.0, 4.0]


def _levels(up: float, hi: float, count: int) -> list[float]:
    """The PCM preset's nominal levels after 1 … ``count`` SET pulses from 0 (float64, as the loop steps)."""
    w, out = 0.0, []
    for _ in range(count):
        w = _walk_step(w, up, hi)
        out.append(w)
    return out


def _walk_step(w: float, up: float, hi: float) -> float:
    z = (2.0 * PCM.exp_a) * w / max(hi, 1e-12) + PCM.exp_b
    return min(w + up * max(1.0 - PCM.amp_up * math.exp(PCM.gamma_up * z), 0.0), hi)


def test_a_target_on_a_nominal_level_takes_exactly_that_levels_pulses() -> None:
    """A device counts while it is short of the target less 10⁻⁶ relative: a target equal to the k-th
    level takes k pulses, as does one 10⁻⁷ above it; one 10⁻⁵ above takes k + 1."""
    up, hi = 0.01, 2.0
    levels = _levels(up, hi, 12)
    k = torch.arange(1, 13, dtype=torch.float64)
    on = torch.tensor(levels, dtype=torch.float64)
    ones = torch.ones_like(on)
    count = lambda t: pulses_to_reach(t, up * ones, hi * ones, PCM, None)  # noqa: E731
    assert count(on).tolist() == k.tolist()
    assert count(on * (1 + 1e-7)).tolist() == k.tolist()
    assert count(on * (1 + 1e-5)).tolist() == (k + 1).tolist()


def test_the_tolerance_is_strict_below_the_target() -> None:
    """A level exactly at target·(1 − 10⁻⁶) is reached (not short): no further pulse."""
    up, hi = 0.01, 2.0
    level = _levels(up, hi, 5)[-1]
    target = level / (1 - 1e-6)
    for _ in range(8):  # the float64 neighbour whose threshold rounds onto the level itself
        if target * (1 - 1e-6) == level:
            break
        target = math.nextafter(target, math.inf if target * (1 - 1e-6) < level else -math.inf)
    assert target * (1 - 1e-6) == level
    t = torch.tensor([target], dtype=torch.float64)
    assert pulses_to_reach(
        t, torch.tensor([up], dtype=torch.float64), torch.tensor([hi], dtype=torch.float64), PCM, None
    ).tolist() == [5.0]
