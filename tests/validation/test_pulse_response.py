"""Pulse-response curves of the device update rules against aihwkit's documented formulas [A].

Curves: conductance (normalized ω) against pulse number, up to saturation and back down, with
cycle-to-cycle noise off, against the closed forms of each rule (geometric for the linear rules,
the scalar recursion of the exponential rule in float64). Noise statistics with it on. See
docs/validation.md, "Pulse-response curves".
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.physics.devices import DEVICES, UpdateRule
from models.physics.pulses import PulsedArray
from models.physics.update_rules import PulseModel, pulses_to_reach


def _quiet(name: str, **kw: object) -> PulseModel:
    """The preset's rule with every spread and c2c noise off (one device = the nominal device)."""
    spec = dataclasses.replace(
        DEVICES[name],
        step_c2c=0.0,
        step_d2d=0.0,
        bound_d2d=0.0,
        up_down_d2d=0.0,
        gamma_d2d=0.0,
        write_noise=0.0,
    )
    return dataclasses.replace(PulseModel.of(spec), **kw)  # type: ignore[arg-type]


def _curve(model: PulseModel, start: float, ups: int, downs: int) -> list[float]:
    """ω after each of ``ups`` single up pulses, then ``downs`` single down pulses (one device)."""
    arr = PulsedArray(torch.tensor([start], dtype=torch.float64), model, torch.Generator().manual_seed(0))
    out = []
    for sign in [1.0] * ups + [-1.0] * downs:
        arr.pulse(torch.tensor([sign], dtype=torch.float64))
        out.append(float(arr.value()[0]))
    return out


def _check(curve: list[float], expected: list[float]) -> None:
    assert len(curve) == len(expected)
    for k, (got, want) in enumerate(zip(curve, expected, strict=True)):
        assert got == pytest.approx(want, abs=1e-9), f"pulse {k}"


def test_constant_step_is_linear_up_to_the_hard_bounds() -> None:
    model = _quiet("rram", rule=UpdateRule.CONSTANT, write_noise=0.0, dw_min=0.1)
    eps, beta = 0.1, 0.259359  # aihwkit: β > 0 shrinks the down step to ε(1 − β) [A]
    curve = _curve(model, 0.0, 14, 30)
    up = [min(1.0, (k + 1) * eps) for k in range(14)]
    down = [max(-1.0, 1.0 - (k + 1) * eps * (1 - beta)) for k in range(30)]
    _check(curve, up + down)
    assert curve[13] == 1.0 and curve[-1] == -1.0  # saturation at both bounds


def test_soft_bounds_approach_each_bound_geometrically() -> None:
    b_max, b_min, eps = 1.25, -0.75, 0.05
    model = _quiet("ecram", rule=UpdateRule.SOFT_BOUNDS, dw_min=eps, hi=b_max, lo=b_min)
    curve = _curve(model, 0.0, 200, 300)
    # ω ← ω + ε(1 − ω/b_max): b_max − ω_n = b_max·(1 − ε/b_max)^n
    up = [b_max - b_max * (1 - eps / b_max) ** (k + 1) for k in range(200)]
    top = up[-1]
    down = [b_min + (top - b_min) * (1 - eps / -b_min) ** (k + 1) for k in range(300)]
    _check(curve, up + down)
    assert b_max - curve[199] < 1e-3 and curve[-1] - b_min < 1e-3  # saturates, never crosses


def test_ecram_linear_step_follows_its_geometric_closed_form_and_clips() -> None:
    # EcRamPresetDevice [A, Tang 2018]: ε 0.002, γ_up 0.1153, γ_down 0.5085, w ∈ [−0.8276, 1.1724]
    model = _quiet("ecram")
    eps, hi, lo = 0.002, 1.1724, -0.8276
    g_up, g_dn = -0.1153 / hi, 0.5085 / -lo  # γ⁺ = −|γ_up|/w_max, γ⁻ = −|γ_down|/w_min
    ups, downs = 700, 1500
    # ω ← ω + ε(1 + γ⁺ω): ω_n + 1/γ⁺ = (ω_0 + 1/γ⁺)(1 + εγ⁺)^n, clipped at b_max
    up = [min(hi, -1 / g_up + (1 / g_up) * (1 + eps * g_up) ** (k + 1)) for k in range(ups)]
    top = up[-1]
    down = [max(lo, -1 / g_dn + (top + 1 / g_dn) * (1 - eps * g_dn) ** (k + 1)) for k in range(downs)]
    curve = _curve(model, 0.0, ups, downs)
    _check(curve, up + down)
    assert curve[ups - 1] == hi and curve[-1] == lo  # the hard bounds clip (|γ| < 1 here)
    # the step shrinks toward the bound: 11.5 % smaller at w_max than at 0, by construction [A]
    assert (curve[ups - 1] - curve[ups - 2]) / eps < 1.0 or curve[ups - 1] == hi


def _exp_recursion(model: PulseModel, start: float, ups: int, downs: int, width: float) -> list[float]:
    """aihwkit's ExpStepDevice formula as a float64 scalar recursion (its documentation) [A]."""
    w, out = start, []
    for d in [1] * ups + [-1] * downs:
        z = 2 * model.exp_a * w / width + model.exp_b
        if d > 0:
            y = max(1 - model.amp_up * math.exp(model.gamma_up * z), 0.0)
            w = w + y * model.dw_min * (1 + min(model.asymmetry, 0.0))
        else:
            y = max(1 - model.amp_down * math.exp(-model.gamma_down * z), 0.0)
            w = w - y * model.dw_min * (1 - max(model.asymmetry, 0.0))
        w = min(max(w, model.lo), model.hi)
        out.append(w)
    return out


def test_rram_exp_step_matches_the_documented_recursion() -> None:
    model = _quiet("rram")  # ReRamESPresetDevice [A, Gong 2018]
    curve = _curve(model, -0.9, 1500, 2500)
    _check(curve, _exp_recursion(model, -0.9, 1500, 2500, 2.0))
    # state dependence: an up step at ω = −1 is (1 + 1.18445)·ε, at ω = 0 (1 + 1.18445·e^−2.5)·ε
    first = curve[0] - (-0.9)
    z = -0.5 * -0.9 - 0.5
    assert first == pytest.approx(0.00135 * (1 + 1.18445 * math.exp(5 * z)), rel=1e-9)
    assert max(curve) == 1.0 and min(curve[1500:]) == -1.0  # saturation at both bounds


def test_pcm_set_response_and_pair_refresh() -> None:
    model = _quiet("pcm")  # PCMPresetDevice [A, N20]: one-directional, ExpStep, w ∈ [0, 2]
    arr = PulsedArray(torch.zeros(1, dtype=torch.float64), model, torch.Generator().manual_seed(0))
    expected = _exp_recursion(model, 0.0, 100, 0, 2.0)
    for k in range(100):
        arr.pulse(torch.ones(1, dtype=torch.float64))
        assert float(arr.pos[0]) == pytest.approx(expected[k], abs=1e-9)
    assert expected[0] == pytest.approx(0.01 * (1 + 27.235), rel=1e-12)  # the first SET is 28× ε
    assert float(arr.neg[0]) == 0.0 and float(arr.pos[0]) == 2.0  # saturated at w_max
    # down = SET pulses on ω⁻ along the same curve, until ω⁻ passes 90 % of its bound: refresh
    counts = arr.counts.clone()
    for k in range(100):
        arr.pulse(-torch.ones(1, dtype=torch.float64))
        if float(arr.neg[0]) == 0.0:  # refreshed: both RESET, the difference SET onto one device
            break
        assert float(arr.neg[0]) == pytest.approx(expected[k], abs=1e-9)
    else:
        pytest.fail("no refresh")
    left = 2.0 - expected[k]
    assert float(arr.pos[0]) == pytest.approx(left, abs=1e-9)
    sets = float(
        pulses_to_reach(torch.tensor([left]), torch.tensor([0.01]), torch.tensor([2.0]), model, None)[0]
    )
    reach = _exp_recursion(model, 0.0, int(sets), 0, 2.0)
    assert reach[-1] >= left * (1 - 1e-6) and (sets == 1 or reach[-2] < left)  # the fewest pulses
    assert float(arr.counts[0, 0] - counts[0, 0]) == 1 + sets  # RESET + SETs on ω⁺
    assert float(arr.counts[1, 0] - counts[1, 0]) == k + 1 + 1  # its pulses + RESET on ω⁻


@pytest.mark.parametrize("name", ["rram", "ecram", "pcm"])
def test_a_burst_of_pulses_equals_single_pulses(name: str) -> None:
    model = _quiet(name)
    target = torch.linspace(-0.5, 0.5, 64, dtype=torch.float64)
    a = PulsedArray(target, model, torch.Generator().manual_seed(1))
    b = PulsedArray(target, model, torch.Generator().manual_seed(1))
    n = torch.randint(-7, 8, (64,), generator=torch.Generator().manual_seed(2)).double()
    a.pulse(n)
    for j in range(7):
        b.pulse(torch.sign(n) * (n.abs() > j))
    assert torch.allclose(a.value(), b.value(), atol=1e-9)


def test_device_to_device_steps_combine_as_aihwkit() -> None:
    """s⁺/ε = 1 + σ_d·ξ + σ_ud·ξ' and s⁻/ε = 1 − β + σ_d·ξ − σ_ud·ξ' [A]
    (RRAM: β 0.259, σ_d 0.2, σ_ud 0.05)."""
    model = PulseModel.of(DEVICES["rram"])
    arr = PulsedArray(torch.zeros(400, 500), model, torch.Generator().manual_seed(3))
    up, down = arr.up.double() / 0.00135, arr.down.double() / 0.00135
    n = up.numel()
    assert float(up.mean()) == pytest.approx(1.0, abs=4 * 0.206 / math.sqrt(n))
    assert float(down.mean()) == pytest.approx(1 - 0.259359, abs=4 * 0.206 / math.sqrt(n))
    assert float(up.std()) == pytest.approx(math.hypot(0.2, 0.05), rel=0.02)
    cov = float(((up - up.mean()) * (down - down.mean())).mean())
    assert cov == pytest.approx(0.2**2 - 0.05**2, rel=0.05)  # shared gain, opposite bias spread
    assert float(arr.hi.mean()) == pytest.approx(1.0, abs=0.005) and float(arr.hi.std()) == pytest.approx(
        0.3, rel=0.03
    )


@pytest.mark.parametrize(("name", "start"), [("rram", 0.0), ("ecram", 0.3), ("pcm", 1.0)])
def test_cycle_to_cycle_noise_of_one_pulse(name: str, start: float) -> None:
    """One up pulse from ω: mean s·f(ω); std c2c·s·f(ω) (multiplicative), or aihwkit's complex PCM
    noise c2c·(s·f + 0.042 + 0.108·|ω|) [A]."""
    spec = dataclasses.replace(
        DEVICES[name], step_d2d=0.0, bound_d2d=0.0, up_down_d2d=0.0, gamma_d2d=0.0, write_noise=0.0
    )
    model = PulseModel.of(spec)
    quiet = dataclasses.replace(model, c2c=0.0)
    shape = (200_000,)
    mean = float(_curve(quiet, start, 1, 0)[0]) - start
    arr = PulsedArray(torch.full(shape, start, dtype=torch.float64), model, torch.Generator().manual_seed(4))
    before = arr.value().clone()
    arr.pulse(torch.ones(shape, dtype=torch.float64))
    change = arr.value() - before
    std = (
        model.c2c * (mean + model.c2c_add + model.c2c_slope * abs(start))
        if name == "pcm"
        else model.c2c * mean
    )
    assert float(change.mean()) == pytest.approx(mean, abs=5 * std / math.sqrt(shape[0]))
    assert float(change.std()) == pytest.approx(std, rel=0.02)


def test_rram_write_noise_is_redrawn_on_each_write() -> None:
    """ReRamESPresetDevice write noise: the read ω is the persistent ω + 75·ε·ξ, redrawn per write [A]."""
    model = PulseModel.of(DEVICES["rram"])
    arr = PulsedArray(torch.zeros(300, 300), model, torch.Generator().manual_seed(5))
    first = (arr.value() - arr.w).clone()
    assert float(first.std()) == pytest.approx(75 * 0.00135, rel=0.02)
    n = torch.zeros(300, 300)
    n[:150] = 1.0
    arr.pulse(n)
    second = arr.value() - arr.w
    assert float(second[:150].std()) == pytest.approx(75 * 0.00135, rel=0.03)
    assert (
        abs(float(torch.corrcoef(torch.stack((first[:150].reshape(-1), second[:150].reshape(-1))))[0, 1]))
        < 0.02
    )
    assert torch.equal(second[150:], first[150:])  # untouched devices keep their draw
