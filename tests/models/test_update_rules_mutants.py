"""The update rules of ``models/physics/update_rules.py`` where its mutation run (issue 16) found no test:
every public function against the module docstring's formulas [A], evaluated here by a float64 scalar
walk (one device, one pulse at a time), by hand, or as statistics of the c2c noise.

Covered here: the exponential factor both ways (positive amplitudes, a span under 1, the 0 clamp);
pulse trains of constant steps that clip at either bound after their first pulse; a one-directional
device's up slope; ``noise=False``; an entry with no pulse that stays put under noise; the c2c noise of
each kind and its growth over a train; per-device draws as the documented formulas on the generator's
own normals; soft-bound and linear slopes at a zero bound; and ``pulses_toward`` at ties and on long
trains. All through the public functions, so the tests hold whatever their kernels become.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.physics.devices import DEVICES, UpdateRule
from models.physics.update_rules import (
    PulseModel,
    device_bounds,
    device_slopes,
    device_steps,
    pulse_once,
    pulse_train,
    pulses_toward,
    step_factor,
)
from tests.torch_devices import TORCH_DEVICES

F64 = torch.float64
RRAM = PulseModel.of(DEVICES["rram"])  # bidirectional exponential steps, a ≠ ±1, b ≠ 0 [A]
PCM = PulseModel.of(DEVICES["pcm"])  # one-directional exponential steps, complex c2c noise [A]
ECRAM = PulseModel.of(DEVICES["ecram"])  # linear steps [A]
# exponential rule with positive amplitudes: every step is below ε (f < 1), and f clamps at 0
SHRINKING = dataclasses.replace(
    RRAM, exp_a=0.244, exp_b=0.2425, gamma_up=12.0, gamma_down=12.0, amp_up=0.6, amp_down=1.4
)


def _factor(w: float, up: bool, m: PulseModel, slope: float | None, lo: float, hi: float) -> float:
    """f^d(ω) of the module docstring, in float64 scalars."""
    if slope is not None:
        return max(1.0 + slope * w, 0.0)
    if m.rule is UpdateRule.EXP_STEP:
        z = 2.0 * m.exp_a * w / max(hi - lo, 1e-12) + m.exp_b
        if up:
            return max(1.0 - m.amp_up * math.exp(m.gamma_up * z), 0.0)
        return max(1.0 - m.amp_down * math.exp(-m.gamma_down * z), 0.0)
    return 1.0


def _walk(
    w: float, n: int, up: float, down: float, lo: float, hi: float, m: PulseModel, slopes: tuple[float, float]
) -> float:
    """ω after ``n`` signed noise-free pulses, one at a time: ω ← clip(ω + d·s^d·f^d(ω), b_min, b_max);
    a one-directional device steps with its up constants. ``slopes`` (γ⁺, γ⁻) are NaN for no slope."""
    for _ in range(abs(n)):
        d_up = n > 0 or m.one_directional
        slope = slopes[0] if d_up else slopes[1]
        f = _factor(w, d_up, m, None if math.isnan(slope) else slope, lo, hi)
        w = min(max(w + math.copysign(1.0, n) * (up if d_up else down) * f, lo), hi)
    return w


def _train(
    m: PulseModel,
    w: torch.Tensor,
    n: torch.Tensor,
    up: torch.Tensor,
    down: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    slopes: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, list[float]]:
    """``pulse_train`` without noise, and the scalar walk of every device."""
    got = pulse_train(w.clone(), n, up, down, lo, hi, m, slopes, noise=False)
    s = (torch.full_like(w, math.nan),) * 2 if slopes is None else slopes
    rows = zip(w, n, up, down, lo, hi, s[0], s[1], strict=True)
    want = [
        _walk(float(a), int(k), float(u), float(d), float(b), float(c), m, (float(g), float(h)))
        for a, k, u, d, b, c, g, h in rows
    ]
    return got, want


def test_the_exponential_factor_follows_its_formula_both_ways() -> None:
    """f⁺ = max(1 − A_up·e^{γ_up·z}, 0), f⁻ = max(1 − A_down·e^{−γ_down·z}, 0), z = 2a·ω/(b_max − b_min) + b,
    by hand in float64: positive amplitudes (f < 1, and 0 where A·e^{…} > 1), RRAM's a = −0.5, b = −0.5,
    bounds off centre (b_min ≠ 0) and a span under 1."""
    bounds = [(-1.0, 1.0), (-0.3, 0.4), (-0.9, 0.2)]
    for m in (SHRINKING, RRAM):
        for lo, hi in bounds:
            w = torch.linspace(lo, hi, 41, dtype=F64)
            lo_t, hi_t = torch.full_like(w, lo), torch.full_like(w, hi)
            for up in (True, False):
                got = step_factor(w, up, m, None, lo_t, hi_t)
                assert isinstance(got, torch.Tensor)
                want = [_factor(float(v), up, m, None, lo, hi) for v in w]
                assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15), (m.amp_up, lo, hi, up)
    down = step_factor(
        torch.linspace(-1, 1, 41, dtype=F64), False, SHRINKING, None, -torch.ones(41), torch.ones(41)
    )
    assert isinstance(down, torch.Tensor)
    assert float(down.min()) == 0.0 and 0.0 < float(down.max()) < 1.0  # clamped at 0, never above 1


def _bounded_case(seed: int, n: int = 96) -> tuple[torch.Tensor, ...]:
    """Devices whose trains of up to ±7 pulses of 0.05–0.3 often reach a bound after their first pulse."""
    g = torch.Generator().manual_seed(seed)
    lo = -0.5 - 0.6 * torch.rand(n, generator=g, dtype=F64)
    hi = 0.3 + 0.6 * torch.rand(n, generator=g, dtype=F64)
    w = lo + (hi - lo) * torch.rand(n, generator=g, dtype=F64)
    k = torch.randint(-7, 8, (n,), generator=g).to(F64)
    up = 0.05 + 0.25 * torch.rand(n, generator=g, dtype=F64)
    down = 0.05 + 0.25 * torch.rand(n, generator=g, dtype=F64)
    return w, k, up, down, lo, hi


def test_constant_steps_add_up_and_clip_at_each_bound_on_every_pulse_of_a_train() -> None:
    """ω ← clip(ω ± s, b_min, b_max) per pulse, exactly, with c2c set but ``noise=False``, and the
    exponential constants of the preset it came from left in place (the constant rule ignores them)."""
    m = dataclasses.replace(RRAM, rule=UpdateRule.CONSTANT, c2c=0.5)
    w, k, up, down, lo, hi = _bounded_case(0)
    got, want = _train(m, w, k, up, down, lo, hi, None)
    assert got.tolist() == want
    _, first = _train(m, w, torch.sign(k), up, down, lo, hi, None)  # the first pulse alone
    late = [i for i, v in enumerate(first) if v not in (float(lo[i]), float(hi[i]))]  # a bound reached later
    assert any(want[i] == float(lo[i]) for i in late) and any(want[i] == float(hi[i]) for i in late)


def test_exponential_trains_with_steps_below_epsilon_follow_the_walk() -> None:
    """Positive amplitudes (f < 1) on bidirectional devices, some with b_max − b_min < 1, and on a
    one-directional device (f⁺ = 1 − 0.5·e^{−2.5ω} on PCM's z = −ω)."""
    w, k, up, down, lo, hi = _bounded_case(1)
    hi[::3], lo[::3] = 0.35, -0.3  # span 0.65
    w = torch.minimum(torch.maximum(w, lo), hi)
    m = dataclasses.replace(SHRINKING, c2c=0.0)
    got, want = _train(m, w, k, up, down, lo, hi, None)
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-12)
    one = dataclasses.replace(PCM, amp_up=0.5, c2c=0.0)
    zero = torch.zeros_like(w)
    start, count, top = w.abs(), k.abs(), 1.8 + 0.4 * hi.abs()
    got, want = _train(one, start, count, up / 10, zero, zero, top, None)
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_a_one_directional_device_steps_with_its_up_slope() -> None:
    """Soft bounds on a SET-only device (lower bound 0): f⁺ = 1 − ω/b_max on every pulse, whatever the
    down slope (−1/b_min is unbounded at b_min = 0), as the slopes come from ``device_slopes``."""
    m = dataclasses.replace(PCM, rule=UpdateRule.SOFT_BOUNDS, c2c_add=0.0, c2c_slope=0.0, c2c=0.0)
    g = torch.Generator().manual_seed(2)
    n = 64
    hi = 1.8 + 0.4 * torch.rand(n, generator=g, dtype=F64)
    zero = torch.zeros_like(hi)
    slopes = device_slopes(m, zero, hi, g)
    assert slopes is not None
    w = hi * 0.8 * torch.rand(n, generator=g, dtype=F64)
    k = torch.randint(0, 8, (n,), generator=g).to(F64)
    up = 0.05 + 0.2 * torch.rand(n, generator=g, dtype=F64)
    got, want = _train(m, w, k, up, zero, zero, hi, slopes)
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert max(want) < float(hi.max())  # soft bounds: no device reached its bound


@pytest.mark.parametrize("name", ["rram", "pcm", "ecram"])
def test_an_entry_without_pulses_stays_where_it_is_under_c2c_noise(name: str) -> None:
    """n = 0 (sign 0) moves nothing, noise included: through ``pulse_train`` (whose first pulse runs
    on every entry) and ``pulse_once`` with its default ``unit``."""
    m = PulseModel.of(DEVICES[name])
    g = torch.Generator().manual_seed(3)
    n = 400
    lo, hi = device_bounds(torch.Size((n,)), m, g, F64)
    up, down = device_steps(torch.Size((n,)), m, g, F64)
    if m.one_directional:
        lo = torch.zeros_like(hi)
    slopes = device_slopes(m, lo, hi, g)
    w = lo + (hi - lo) * torch.rand(n, generator=g, dtype=F64)
    k = torch.randint(-3, 4, (n,), generator=g).to(F64)
    if m.one_directional:
        k = k.abs()
    still = k == 0
    torch.manual_seed(4)
    after = pulse_train(w.clone(), k, up, down, lo, hi, m, slopes)
    assert torch.equal(after[still], w[still]) and not torch.equal(after[~still], w[~still])
    sign = torch.sign(k)
    once = pulse_once(w.clone(), sign, up, 1.0, lo, hi, m)
    assert torch.equal(once[still], w[still]) and not torch.equal(once[~still], w[~still])


def _noise_std(m: PulseModel, w: float, step: float, factor: float, **kw: bool) -> tuple[float, float]:
    """Mean and std of the change of one up pulse on 200,000 devices at ω (far from the bounds)."""
    n = 200_000
    wt = torch.full((n,), w, dtype=F64)
    torch.manual_seed(5)
    after = pulse_once(
        wt,
        torch.ones_like(wt),
        torch.full_like(wt, step),
        torch.full_like(wt, factor),
        wt - 10,
        wt + 10,
        m,
        **kw,
    )
    change = after - wt
    return float(change.mean()), float(change.std())


def test_each_kind_of_c2c_noise_has_its_documented_sigma() -> None:
    """One pulse of step s = 0.01 and factor f = 0.25 at ω = 0.5, c2c = 0.3: multiplicative
    σ = c2c·s·f (applied by default), additive σ = c2c·s, complex σ = c2c·(s·f + add + slope·|ω|) [A]."""
    base = dataclasses.replace(RRAM, c2c=0.3, c2c_add=0.0, c2c_slope=0.0, mult_noise=True)
    s, f, w = 0.01, 0.25, 0.5
    cases = {
        "multiplicative": (base, 0.3 * s * f),
        "additive": (dataclasses.replace(base, mult_noise=False), 0.3 * s),
        "complex": (
            dataclasses.replace(base, c2c_add=0.042, c2c_slope=0.108),
            0.3 * (s * f + 0.042 + 0.108 * w),
        ),
    }
    for kind, (m, sigma) in cases.items():
        mean, std = _noise_std(m, w, s, f)
        assert mean == pytest.approx(s * f, abs=5 * sigma / math.sqrt(200_000)), kind
        assert std == pytest.approx(sigma, rel=0.02), kind
    quiet = _noise_std(base, w, s, f, noise=False)
    assert quiet[0] == pytest.approx(s * f, rel=1e-12) and quiet[1] == 0.0


def test_every_pulse_of_a_train_draws_its_own_c2c_noise() -> None:
    """Four constant steps with multiplicative c2c: mean 4·s, std c2c·s·√4 (independent per pulse)."""
    m = dataclasses.replace(RRAM, rule=UpdateRule.CONSTANT, c2c=0.3)
    n, s = 200_000, 0.01
    w = torch.zeros(n, dtype=F64)
    torch.manual_seed(6)
    after = pulse_train(
        w, torch.full_like(w, 4.0), torch.full_like(w, s), torch.full_like(w, s), w - 10, w + 10, m, None
    )
    assert float(after.mean()) == pytest.approx(4 * s, abs=5 * 0.3 * s * 2 / math.sqrt(n))
    assert float(after.std()) == pytest.approx(0.3 * s * 2, rel=0.03)


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_per_device_draws_are_the_documented_formulas_on_the_generators_normals(where: str) -> None:
    """Steps, bounds and linear slopes [A] are the module docstring's formulas evaluated on the given
    generator's normals in their order of draw, in float64 and on the generator's device, whatever the
    global random state: a seed names a chip."""
    shape = torch.Size((30, 40))

    def gen() -> torch.Generator:
        return torch.Generator(device=where).manual_seed(11)

    def normals(g: torch.Generator, count: int) -> list[torch.Tensor]:
        return [torch.randn(shape, generator=g, device=where, dtype=F64) for _ in range(count)]

    torch.manual_seed(0)
    up, down = device_steps(shape, RRAM, gen(), F64)
    xi, xi2 = normals(gen(), 2)
    gain, r = 1.0 + RRAM.d2d * xi, RRAM.up_down_d2d * xi2
    beta = RRAM.asymmetry  # > 0: shrinks the down step
    torch.testing.assert_close(up, (gain + r).abs() * RRAM.dw_min, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(down, (gain - beta - r).abs() * RRAM.dw_min, rtol=1e-12, atol=0.0)

    wide = dataclasses.replace(RRAM, bound_d2d=0.6)  # some bounds change sign before b_max ≥ 0 ≥ b_min
    torch.manual_seed(1)
    lo, hi = device_bounds(shape, wide, gen(), F64)
    xi, xi2 = normals(gen(), 2)
    b_hi, b_lo = wide.hi * (1.0 + 0.6 * xi), wide.lo * (1.0 + 0.6 * xi2)
    torch.testing.assert_close(hi, torch.maximum(b_hi, b_lo).abs(), rtol=1e-12, atol=0.0)
    torch.testing.assert_close(lo, -torch.minimum(b_hi, b_lo).abs(), rtol=1e-12, atol=0.0)
    assert bool((b_hi < 0).any()) and bool((lo <= 0).all()) and bool((hi >= 0).all())

    spread = dataclasses.replace(ECRAM, gamma_d2d=0.3)
    torch.manual_seed(2)
    slopes = device_slopes(spread, lo, hi, gen())
    assert slopes is not None
    xi, xi2 = normals(gen(), 2)
    want_up = -(spread.gamma_up + 0.3 * xi).abs() / spread.hi
    want_down = (spread.gamma_down + 0.3 * xi2).abs() / -spread.lo
    torch.testing.assert_close(slopes[0], want_up, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(slopes[1], want_down, rtol=1e-12, atol=0.0)


def test_soft_bound_slopes_are_minus_one_over_each_bound_and_finite_at_zero() -> None:
    """γ⁺ = −1/b_max, γ⁻ = −1/b_min (f = 1 − ω/b), by hand; a bound of 0 (a SET-only device's lower
    one) gives a finite slope of the limit's sign, not ±∞ or NaN."""
    m = dataclasses.replace(ECRAM, rule=UpdateRule.SOFT_BOUNDS)
    lo = torch.tensor([-0.75, -0.5, 0.0, -2.0], dtype=F64)
    hi = torch.tensor([0.5, 2.0, 0.25, 0.0], dtype=F64)
    slopes = device_slopes(m, lo, hi, torch.Generator().manual_seed(0))
    assert slopes is not None
    g_up, g_dn = slopes
    assert g_up[:3].tolist() == [-2.0, -0.5, -4.0] and g_dn[[0, 1, 3]].tolist() == [1 / 0.75, 2.0, 0.5]
    assert bool(torch.isfinite(g_up).all()) and bool(torch.isfinite(g_dn).all())
    assert float(g_up[3]) < 0.0 and float(g_dn[2]) > 0.0


def test_linear_slopes_without_room_below_zero_leave_the_down_step_flat() -> None:
    """A linear-step device whose lower bound is 0 (SET-only) has γ⁻ = 0 (f⁻ = 1), not −|γ|/0;
    its γ⁺ is still −|γ_up + σ_γ·ξ|/w_max."""
    m = dataclasses.replace(ECRAM, lo=0.0, one_way=True)
    hi = torch.full((20, 10), m.hi, dtype=F64)
    slopes = device_slopes(m, torch.zeros_like(hi), hi, torch.Generator().manual_seed(9))
    assert slopes is not None
    assert torch.equal(slopes[1], torch.zeros_like(hi))
    xi = torch.randn(hi.shape, generator=torch.Generator().manual_seed(9), dtype=F64)
    torch.testing.assert_close(slopes[0], -(m.gamma_up + m.gamma_d2d * xi).abs() / m.hi, rtol=1e-12, atol=0.0)


def test_pulses_toward_stops_at_a_tie_and_counts_long_trains_to_their_end() -> None:
    """A pulse whose step would end exactly as far from the target as the device stands is not
    applied (only a strictly nearer end is); a 600-pulse train counts all 600; a soft-bound device
    driven past its bound, never arriving, stops at the write's budget of ⌈10·w_max/ε⌉ pulses."""
    m = dataclasses.replace(PCM, rule=UpdateRule.CONSTANT, c2c_add=0.0, c2c_slope=0.0)
    start = torch.zeros(4, dtype=F64)
    up, hi = torch.full((4,), 0.25, dtype=F64), torch.full((4,), 10.0, dtype=F64)
    ties = torch.tensor([0.125, 0.375, 0.625, 0.6250001], dtype=F64)
    assert pulses_toward(start, ties, up, hi, m, None).tolist() == [0.0, 1.0, 2.0, 3.0]
    # 600 steps of 0.003 (ε = 0.01) to 1.8 on a bound of 2
    long = pulses_toward(
        start[:1],
        torch.tensor([1.8], dtype=F64),
        torch.tensor([0.003], dtype=F64),
        torch.tensor([2.0], dtype=F64),
        m,
        None,
    )
    assert long.tolist() == [600.0]
    soft = dataclasses.replace(m, rule=UpdateRule.SOFT_BOUNDS)
    top = torch.tensor([2.0], dtype=F64)
    count = pulses_toward(
        start[:1], torch.tensor([5.0], dtype=F64), torch.tensor([0.01], dtype=F64), top, soft, -1.0 / top
    )
    assert count.tolist() == [float(math.ceil(10.0 * soft.hi / soft.dw_min))]
