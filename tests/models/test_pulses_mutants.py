"""Behaviour of ``models/physics/pulses.py`` that its mutation run (issue 16) found unchecked: the
stochastic rounding and its table of uniforms, the pulse-count cap, the c2c noise law of a sum of
|n| steps (σ = c2c·ε·√|n|) on every path, the dense update, the write noise, and a pair's refresh
(where it triggers, which device gets the SET pulses, how many) on constant, soft-bounds and
linear-step responses. Expected values are closed forms, by-hand counts or a scalar walk of the
documented rule; statistics use ≥ 20,000 draws with tolerances of several standard errors."""

from __future__ import annotations

import math

import pytest
import torch

from models.physics import pulses as pulses_module
from models.physics.devices import UpdateRule
from models.physics.pulses import (
    PulsedArray,
    PulseModel,
    apply_pulses,
    chi_grid,
    layer_scale,
    pulse_counts,
    stochastic_round,
    stochastic_round_,
    uniforms,
)


def _model(**kw: object) -> PulseModel:
    """A noise-free device (every spread 0, so steps and bounds are exact), changed by ``kw``."""
    base: dict[str, object] = dict(
        dw_min=0.125, asymmetry=0.0, c2c=0.0, d2d=0.0, lo=-1.0, hi=1.0, bound_d2d=0.0
    )
    return PulseModel(**{**base, **kw})  # type: ignore[arg-type]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_layer_scale_puts_the_largest_weight_at_a_quarter_of_the_reach() -> None:
    model = _model(lo=-2.0, hi=2.0)  # reach 2
    assert layer_scale(torch.tensor([-0.3, 0.2], dtype=torch.float64), model) == pytest.approx(
        0.3 / (0.25 * 2.0), rel=1e-12
    )
    assert layer_scale(torch.zeros(3), model) == pytest.approx(1e-6 / 0.5, rel=1e-12)  # never 0


def test_chi_grid_of_a_float_register_and_of_an_odd_width() -> None:
    assert chi_grid(None, 0.01) == (0.0, math.inf)
    assert chi_grid(5, 0.5) == (0.125, 15 * 0.125)  # ⌊5/2⌋ = 2 fractional bits, 2⁴ − 1 LSBs


def test_uniforms_are_windows_of_a_seed_1_table_at_every_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an 8-entry table (the size is a module constant), windows of 4 come from
    ``torch.rand(8)`` on CPU seed 1 at each of the 5 offsets 0…4, float64 included; 5 (over half
    the table) are fresh draws of the generator: reproducible from its seed."""
    monkeypatch.setattr(pulses_module, "UNIFORM_TABLE_SIZE", 8)
    monkeypatch.setattr(pulses_module, "_UNIFORM_TABLE", {}, raising=False)
    for dtype in (torch.float32, torch.float64):
        table = torch.rand(8, generator=_gen(1), dtype=dtype).tolist()
        gen, offsets = _gen(2), set()
        for _ in range(200):
            u = uniforms((2, 2), dtype, gen)
            assert u.dtype == dtype and u.shape == (2, 2)
            flat = u.reshape(-1).tolist()
            start = table.index(flat[0])
            assert flat == table[start : start + 4]
            offsets.add(start)
        assert offsets == {0, 1, 2, 3, 4}
        fresh = [uniforms((5,), dtype, _gen(7)) for _ in range(2)]
        assert fresh[0].dtype == dtype and torch.equal(fresh[0], fresh[1])
        assert torch.equal(fresh[0], torch.rand(5, generator=_gen(7), dtype=dtype))


@pytest.mark.parametrize("rounder", [stochastic_round, stochastic_round_])
def test_stochastic_rounding_is_unbiased_between_neighbours(rounder: object) -> None:
    """Integers stay; 2.25 rounds to 2 or 3 with mean 2.25, −0.75 to −1 or 0 with mean −0.75
    (20,000 draws each: standard error ≈ 0.003); the same seed gives the same draws."""
    m = 20_000
    x = torch.cat([torch.tensor([2.0, -3.0, 0.0]), torch.full((m,), 2.25), torch.full((m,), -0.75)])
    x = x.double()
    r = rounder(x.clone(), _gen(3))  # type: ignore[operator]
    again = rounder(x.clone(), _gen(3))  # type: ignore[operator]
    assert r.dtype == torch.float64 and torch.equal(r, again)
    assert r[:3].tolist() == [2.0, -3.0, 0.0]
    up, down = r[3 : 3 + m], r[3 + m :]
    assert set(up.unique().tolist()) == {2.0, 3.0} and set(down.unique().tolist()) == {-1.0, 0.0}
    assert abs(float(up.mean()) - 2.25) < 0.015 and abs(float(down.mean()) + 0.75) < 0.015


def test_stochastic_round_in_place_returns_its_argument() -> None:
    x = torch.full((4, 3), 0.5)
    assert stochastic_round_(x, _gen()) is x and x.shape == (4, 3)


def test_pulse_counts_round_delta_over_the_step_and_cap_it() -> None:
    """Whole multiples of ε give their exact count, capped at ±max; a quarter step rounds to 0 or
    1 with mean 1/4."""
    exact = pulse_counts(0.5 * torch.tensor([2.0, -3.0, 100.0, -100.0, 31.0, 0.0]), 0.5, _gen(), 31)
    assert exact.tolist() == [2.0, -3.0, 31.0, -31.0, 31.0, 0.0]
    frac = pulse_counts(torch.full((20_000,), 0.125), 0.5, _gen(1), 31)
    assert set(frac.unique().tolist()) == {0.0, 1.0} and abs(float(frac.mean()) - 0.25) < 0.015


def test_apply_pulses_without_noise_is_n_steps_of_the_pulses_direction_clipped() -> None:
    w = torch.tensor([0.0, 0.5, -0.5, 0.75, -0.75, 0.25])
    n = torch.tensor([3.0, -2.0, 0.0, 4.0, -4.0, -1.0])
    up, down = torch.full((6,), 0.125), torch.full((6,), 0.0625)
    lo, hi = torch.full((6,), -0.875), torch.full((6,), 1.0)
    out = apply_pulses(w, n, up, down, lo, hi, 0.0)
    assert out.tolist() == [0.375, 0.375, -0.5, 1.0, -0.875, 0.1875]


def _z_scores(change: torch.Tensor, n: torch.Tensor, step: float, c2c: float) -> torch.Tensor:
    """The c2c noise of each device's change in units of its claimed std c2c·ε·√|n|."""
    return (change - n * step) / (c2c * step * n.abs().sqrt())


def _noise_law_holds(z: torch.Tensor, n: torch.Tensor) -> None:
    """z is N(0, 1) for every |n| (5,000 devices each: the std's standard error is 1 %)."""
    for k in (1, 2, 4):
        part = z[n.abs() == k]
        assert abs(float(part.mean())) < 0.06 and abs(float(part.std()) - 1.0) < 0.05, k


def _pulses(m: int = 5_000) -> torch.Tensor:
    """±1, ±2 and ±4 pulses, m devices each."""
    return torch.tensor([1.0, -1.0, 2.0, -2.0, 4.0, -4.0]).repeat_interleave(m)


def test_apply_pulses_noise_has_the_std_of_a_sum_of_n_steps() -> None:
    torch.manual_seed(0)  # the normals' table offsets
    n = _pulses()
    wide = torch.full_like(n, 100.0)
    out = apply_pulses(
        torch.zeros_like(n), n, torch.full_like(n, 0.01), torch.full_like(n, 0.01), -wide, wide, 0.3
    )
    _noise_law_holds(_z_scores(out, n, 0.01, 0.3), n)


@pytest.mark.parametrize("how", ["pulse", "pulse_dense"])
def test_a_bidirectional_arrays_noise_has_the_std_of_a_sum_of_n_steps(how: str) -> None:
    torch.manual_seed(1)
    n = _pulses()
    arr = PulsedArray(torch.zeros_like(n), _model(dw_min=0.01, c2c=0.3, lo=-100.0, hi=100.0), _gen())
    assert arr.dense
    getattr(arr, how)(n.clone())
    _noise_law_holds(_z_scores(arr.value(), n, 0.01, 0.3), n)
    assert torch.equal(arr.counts[0], 1 + n.abs().double()) and bool((arr.counts[1] == 1).all())


def test_a_pairs_noise_has_the_std_of_a_sum_of_n_steps_on_the_pulsed_device() -> None:
    torch.manual_seed(2)
    n = _pulses()
    start = 50.0 * n.sign()  # on the device that gets the pulses; its partner at 0: no refresh
    arr = PulsedArray(start, _model(dw_min=0.01, c2c=0.3, lo=0.0, hi=100.0, one_way=True), _gen())
    arr.pulse(n)
    _noise_law_holds(_z_scores(arr.value() - start, n, 0.01, 0.3), n)
    assert bool(((arr.pos == 0) == (n < 0)).all()) and bool(((arr.neg == 0) == (n > 0)).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pulse_dense_moves_n_steps_of_each_direction_clipped_at_the_bounds(dtype: torch.dtype) -> None:
    """β = 0.5: s⁺ = ε, s⁻ = ε/2 (ε = 1/8), bounds ±1; counts: programming plus |n| on the device,
    1 on the reference."""
    arr = PulsedArray(torch.tensor([0.0, 0.5, -0.5, 0.75, -0.75], dtype=dtype), _model(asymmetry=0.5), _gen())
    n = torch.tensor([3.0, -2.0, 0.0, 4.0, -31.0], dtype=dtype)
    arr.pulse_dense(n.clone())
    assert arr.value().tolist() == [0.375, 0.375, -0.5, 1.0, -1.0]
    assert arr.counts.tolist() == [[4.0, 3.0, 1.0, 5.0, 32.0], [1.0] * 5]


def test_pulse_dense_on_a_pair_pulses_the_pair() -> None:
    arr = PulsedArray(torch.zeros(3), _model(lo=0.0, one_way=True), _gen())
    assert not arr.dense
    arr.pulse_dense(torch.tensor([2.0, -3.0, 0.0]))
    assert arr.value().tolist() == [0.25, -0.375, 0.0]
    assert arr.counts.tolist() == [[3.0, 1.0, 1.0], [1.0, 4.0, 1.0]]


def test_only_a_constant_step_bidirectional_device_without_write_noise_is_dense() -> None:
    target = torch.zeros(2)
    assert PulsedArray(target, _model(), _gen()).dense
    assert not PulsedArray(target, _model(write_noise=0.5), _gen()).dense
    assert not PulsedArray(target, _model(rule=UpdateRule.SOFT_BOUNDS), _gen()).dense
    assert not PulsedArray(target, _model(lo=0.0, one_way=True), _gen()).dense


def test_write_noise_is_drawn_from_the_arrays_generator_with_its_sigma() -> None:
    """Programming reads ω + σ_w·ξ, σ_w = write_noise·ε, ξ from the generator: the same seed
    reads the same values."""
    model = _model(dw_min=0.01, write_noise=2.0, lo=-100.0, hi=100.0)
    target = torch.zeros(20_000, dtype=torch.float64)
    a, b = PulsedArray(target, model, _gen(4)), PulsedArray(target, model, _gen(4))
    assert torch.equal(a.value(), b.value()) and a.value().dtype == torch.float64
    assert abs(float(a.value().std()) - 0.02) < 0.001 and abs(float(a.value().mean())) < 0.0005


def test_a_pair_refreshes_exactly_at_nine_tenths_of_its_bound_with_a_step_on_its_partner() -> None:
    """ε = 1/8, b = 5/4 (0.9·b = 9/8 exactly). Pair 0: ω⁻ = ε, then ω⁺ = 9ε = 0.9·b, both
    thresholds met with equality: refreshed to ω = 1 (8 SETs on ω⁺). Pairs 1, 2: ω = ±7/8 (7
    SETs on the device of ω's sign). Pair 3: ω⁺ clipped at b, partner at 0: no refresh.
    Counts: 1 programming write, the pulses, 1 RESET each, the SETs."""
    arr = PulsedArray(torch.zeros(4, dtype=torch.float64), _model(lo=0.0, hi=1.25, one_way=True), _gen())
    arr.pulse(torch.tensor([-1.0, -2.0, 2.0, 0.0], dtype=torch.float64))
    arr.pulse(torch.tensor([9.0, 9.0, -9.0, 31.0], dtype=torch.float64))
    assert arr.value().tolist() == [1.0, 0.875, -0.875, 1.25]
    assert arr.pos.tolist() == [1.0, 0.875, 0.0, 1.25] and arr.neg.tolist() == [0.0, 0.0, 0.875, 0.0]
    assert arr.counts.tolist() == [[1 + 9 + 1 + 8, 1 + 9 + 1 + 7, 1 + 2 + 1, 1 + 31], [3.0, 4.0, 18.0, 1.0]]


def _soft_bounds_walk(target: float, step: float, bound: float) -> int:
    """SET pulses of the nominal soft-bounds response ω ← ω + s·(1 − ω/b) from 0 until ω is within
    10⁻⁶ (relative) of the target: a scalar walk of the documented rule."""
    w, count = 0.0, 0
    while w < target * (1 - 1e-6):
        w, count = min(w + step * (1 - w / bound), bound), count + 1
    return count


def test_a_soft_bounds_pair_steps_and_refreshes_on_its_response() -> None:
    """One-directional soft bounds (s = 0.05, b = 1): k pulses from 0 reach 1 − 0.95ᵏ; ω⁻ = s, then
    45 pulses take ω⁺ to 1 − 0.95⁴⁵ ≈ 0.9006 ≥ 0.9: refreshed to ω = ω⁺ − s with the walk's SETs."""
    model = _model(dw_min=0.05, lo=0.0, hi=1.0, one_way=True, rule=UpdateRule.SOFT_BOUNDS)
    arr = PulsedArray(torch.zeros(3, dtype=torch.float64), model, _gen())
    arr.pulse(torch.tensor([-1.0, 3.0, -7.0], dtype=torch.float64))
    torch.testing.assert_close(
        arr.value(), torch.tensor([-0.05, 1 - 0.95**3, -(1 - 0.95**7)], dtype=torch.float64)
    )
    arr.pulse(torch.tensor([45.0, 0.0, 0.0], dtype=torch.float64))
    w = (1 - 0.95**45) - 0.05
    torch.testing.assert_close(arr.value()[0], torch.tensor(w, dtype=torch.float64))
    sets = _soft_bounds_walk(w, 0.05, 1.0)
    assert sets == 38  # ln(1 − 0.8506)/ln(0.95) = 37.07
    assert arr.counts[:, 0].tolist() == [1 + 45 + 1 + sets, 3.0]
    assert arr.counts[:, 1:].tolist() == [[4.0, 1.0], [1.0, 8.0]]


def test_refreshes_counted_together_stop_a_stuck_refresh_as_one_counted_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linear step with spread slopes, f = 1 − g·ω (g = |1.5 + 0.8·ξ| per device): a pair
    programmed at ω⁺ = 0.95 and pulsed once on its partner refreshes to ω = 0.9, which a device
    with g > 1/0.9 never reaches; such a refresh stops counting when its device stops moving (in
    float32, after about 14/(s·g) pulses), before the cap of 10·b/s. One refresh per call, counted
    all at once when the counters are read, gives the counts of counting each at once."""
    model = _model(
        dw_min=0.05, lo=0.0, hi=1.0, one_way=True, rule=UpdateRule.LINEAR_STEP, gamma_up=1.5, gamma_d2d=0.8
    )
    arrays = []
    for pending in (1 << 14, 1):
        monkeypatch.setattr(pulses_module, "PENDING_REFRESHES", pending)
        arr = PulsedArray(torch.full((16,), 0.95), model, _gen(5))
        for i in range(16):
            n = torch.zeros(16)
            n[i] = -1.0
            arr.pulse(n)
        arrays.append(arr)
    assert torch.equal(arrays[0].counts, arrays[1].counts)
    sets = arrays[0].counts[0] - 2  # less programming and RESET
    assert bool((arrays[0].counts[1] == 3).all())  # programming, one pulse, RESET
    cap = math.ceil(10.0 * model.hi / model.dw_min)
    assert len(sets.unique()) >= 12 and bool((sets <= cap).all()) and int((sets > 100).sum()) >= 4
