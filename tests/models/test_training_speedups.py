"""The on-chip updates' speed-ups keep the physics: table draws have the right statistics, the
sparse (pulsed-devices-only) updates equal the dense rules, and layers hold the devices' weights."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models import torch_device as placement
from models.config import AnalogConfig, MomentumPlacement, QnnWeights, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.physics.devices import DEVICES, UpdateRule
from models.physics.pulses import (
    REFRESH_FRACTION,
    PulsedArray,
    PulseModel,
    apply_pulses,
    chi_transfer,
    stochastic_round_,
    uniforms,
)
from models.physics.update_rules import (
    device_bounds,
    device_slopes,
    device_steps,
    pulse_once,
    pulse_train,
    step_factor,
)
from models.training.hic import Hic, HicArray, level_pulses, slice_bases
from models.training.onchip import MixedPrecision, PulsedSGD
from models.training.qnn import GXNOR_M, Qnn, gxnor_step, mtj_states, switch_thresholds


def test_table_uniforms_are_uniform_and_rounding_is_unbiased() -> None:
    gen = torch.Generator().manual_seed(0)
    u = torch.cat([uniforms((1000, 100), torch.float32, gen).reshape(-1) for _ in range(5)])
    assert bool((u >= 0).all()) and bool((u < 1).all())
    assert abs(float(u.mean()) - 0.5) < 0.003 and abs(float(u.var()) - 1 / 12) < 0.002
    a, b = uniforms((100_000,), torch.float32, gen), uniforms((100_000,), torch.float32, gen)
    assert abs(float(torch.corrcoef(torch.stack((a, b)))[0, 1])) < 0.02  # windows of two steps
    for x in (0.3, -1.75, 2.0):
        r = stochastic_round_(torch.full((200_000,), x), gen)
        assert set(r.unique().tolist()) <= {math.floor(x), math.ceil(x)}
        assert abs(float(r.mean()) - x) < 0.005


def _model(**kw: float | bool) -> PulseModel:
    base = {"dw_min": 0.01, "asymmetry": 0.2, "c2c": 0.0, "d2d": 0.3, "lo": -1.0, "hi": 1.0, "bound_d2d": 0.2}
    return PulseModel(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("dense", [False, True])
def test_sparse_pulses_equal_the_dense_rule_bidirectional(dense: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    model = _model()
    target = torch.rand(300, 40, generator=gen) * 2 - 1
    arr = PulsedArray(target, model, gen)
    for _ in range(20):
        n = torch.randint(-31, 32, (300, 40), generator=gen).float() * (
            torch.rand(300, 40, generator=gen) < 0.2
        )
        before, counts = arr.w.clone(), arr.counts.clone()
        expected = apply_pulses(before, n, arr.up, arr.down, arr.lo, arr.hi, 0.0)
        if dense:
            arr.pulse_dense(n.clone())
        else:
            changed = arr.pulse(n)
            assert set(changed.tolist()) == set(torch.nonzero(n.reshape(-1)).view(-1).tolist())
        assert torch.allclose(arr.w, expected, atol=1e-6, rtol=1e-5)
        assert torch.equal(arr.w.reshape(-1)[n.reshape(-1) == 0], before.reshape(-1)[n.reshape(-1) == 0])
        assert torch.equal(arr.counts[0], counts[0] + n.abs().double()) and torch.equal(
            arr.counts[1], counts[1]
        )


def _reference_one_directional(
    arr: PulsedArray, pos: torch.Tensor, neg: torch.Tensor, n: torch.Tensor
) -> tuple:
    """The dense rule before the speed-up: both devices pulsed, then refresh over all pairs."""
    n_pos, n_neg = n.clamp_min(0.0), (-n).clamp_min(0.0)
    pos = apply_pulses(pos, n_pos, arr.up, arr.down, arr.lo, arr.hi, 0.0)
    neg = apply_pulses(neg, n_neg, arr.up, arr.down, arr.lo, arr.hi, 0.0)
    c0, c1 = n_pos.double(), n_neg.double()
    full = (torch.maximum(pos, neg) >= REFRESH_FRACTION * arr.hi) & (torch.minimum(pos, neg) >= arr.up)
    w = pos - neg
    sets = torch.ceil(w.abs() / arr.up) * full
    c0, c1 = c0 + full + sets * (w > 0), c1 + full + sets * (w < 0)
    pos = torch.where(full, w.clamp_min(0.0), pos)
    neg = torch.where(full, (-w).clamp_min(0.0), neg)
    return pos, neg, c0, c1, int(full.sum())


def test_sparse_pulses_equal_the_dense_rule_one_directional_with_refresh() -> None:
    gen = torch.Generator().manual_seed(2)
    model = _model(
        asymmetry=0.0, one_way=True, lo=0.0, hi=0.3, bound_d2d=0.0
    )  # small range: refreshes happen
    arr = PulsedArray(torch.rand(200, 30, generator=gen) * 0.2 - 0.1, model, gen)
    refreshed = 0
    for _ in range(40):
        n = torch.randint(-6, 7, (200, 30), generator=gen).float() * (
            torch.rand(200, 30, generator=gen) < 0.3
        )
        pos, neg, counts = arr.pos.clone(), arr.neg.clone(), arr.counts.clone()
        e_pos, e_neg, c0, c1, full = _reference_one_directional(arr, pos, neg, n)
        arr.pulse(n)
        refreshed += full
        assert torch.allclose(arr.pos, e_pos, atol=1e-6) and torch.allclose(arr.neg, e_neg, atol=1e-6)
        assert torch.allclose(arr.counts[0], counts[0] + c0) and torch.allclose(arr.counts[1], counts[1] + c1)
        assert torch.allclose(arr.value(), arr.pos - arr.neg, atol=1e-7)
    assert refreshed > 10


@pytest.mark.parametrize(("one_directional", "dense"), [(False, False), (False, True), (True, False)])
def test_c2c_noise_of_a_pulse_train_has_the_specified_statistics(one_directional: bool, dense: bool) -> None:
    """Table normals (random windows) for c2c: the change after n pulses has mean n·step and
    std c2c·step·√|n|, as the fresh-draw rule had."""
    gen = torch.Generator().manual_seed(3)
    kw = (
        {"asymmetry": 0.0, "one_way": True, "lo": 0.0, "hi": 100.0}
        if one_directional
        else {"lo": -100.0, "hi": 100.0}
    )
    model = _model(c2c=0.6, d2d=0.0, bound_d2d=0.0, **kw)
    shape = (400, 250)
    for pulses in (1, 4, -9):
        arr = PulsedArray(torch.full(shape, 50.0 * math.copysign(1, pulses)), model, gen)  # far from bounds
        before = arr.value().clone()
        n = torch.full(shape, float(pulses))
        if dense:
            arr.pulse_dense(n)
        else:
            arr.pulse(n)
        change = arr.value() - before
        # aihwkit's bias [A]: β > 0 shrinks only the down step, to ε(1 − β)
        step = model.dw_min * (1 - (model.asymmetry if pulses < 0 else 0.0))
        mean = pulses * step
        std = model.c2c * step * math.sqrt(abs(pulses))
        assert abs(float(change.mean()) - mean) < 5 * std / math.sqrt(change.numel())
        assert abs(float(change.std()) / std - 1) < 0.02
        z = (change.reshape(-1) - mean) / std
        assert abs(float((z**3).mean())) < 0.05 and abs(float((z**4).mean()) - 3) < 0.1  # Gaussian


def test_gxnor_switches_with_probability_tanh() -> None:
    gen = torch.Generator().manual_seed(4)
    t = switch_thresholds((500_000,), torch.float32, gen)
    assert bool((t >= 0).all()) and bool((t < 1).all())
    for nu in (0.05, 0.2, 0.6):
        s = torch.zeros(200_000)
        new = gxnor_step(s, torch.full_like(s, nu), True, gen)
        assert set(new.unique().tolist()) <= {0.0, 1.0}
        assert abs(float(new.mean()) - math.tanh(GXNOR_M * nu)) < 0.006
        whole = gxnor_step(s - 1, torch.full_like(s, -(1 + nu)), True, gen)  # trunc moves + clipping
        assert bool((whole == -1).all())
        two = gxnor_step(torch.full_like(s, -1.0), torch.full_like(s, 1 + nu), True, gen)
        assert abs(float((two == 1).float().mean()) - math.tanh(GXNOR_M * nu)) < 0.006


def test_level_pulses_count_as_specified() -> None:
    old, new = torch.meshgrid(torch.arange(0.0, 8), torch.arange(0.0, 8), indexing="ij")
    assert torch.equal(level_pulses(old, new, False), (new - old).abs())
    assert torch.equal(level_pulses(old, new, True), torch.where(new >= old, new - old, 1 + new))


def reference_carry(digits: list[int], caps: list[int], bases: list[int]) -> list[int]:
    """Mixed-radix carry by brute force, one unit at a time: while a digit is above its cap, take
    one ``base`` from it and give one to the next slice; the most significant slice saturates."""
    d = list(digits)
    for k, base in enumerate(bases):
        while d[k] > caps[k]:
            d[k], d[k + 1] = d[k] - base, d[k + 1] + 1
        while d[k] < -caps[k]:
            d[k], d[k + 1] = d[k] + base, d[k + 1] - 1
    d[-1] = max(-caps[-1], min(caps[-1], d[-1]))
    return d


def reference_pulses(old: int, new: int, one_directional: bool) -> int:
    """Pulses that move a device pair from digit ``old`` to ``new`` (the digit sits on its sign's device)."""
    total = 0
    for before, after in ((max(old, 0), max(new, 0)), (max(-old, 0), max(-new, 0))):
        if after >= before:
            total += after - before
        else:
            total += 1 + after if one_directional else before - after
    return total


@pytest.mark.parametrize("one_directional", [False, True])
def test_hic_update_equals_a_brute_force_carry_per_weight(ideal_devices: None, one_directional: bool) -> None:
    device = "ideal_set" if one_directional else "ideal_bi"
    cfg = AnalogConfig(device=device, binary_devices=2, multilevel_devices=1, slice_levels=4)
    torch.manual_seed(0)
    layer = AnalogLinear(16, 8, cfg)
    arr = HicArray(layer.weight.detach(), 1.0, None, cfg, layer)  # float accumulator: deterministic
    assert arr.one_directional == one_directional
    caps, bases, sig = arr.caps, arr.bases, arr.sig
    assert caps == [3, 1, 1] and bases == [4, 2]  # 4 levels below two binary slices
    digits = arr.digits.round().long().reshape(len(caps), -1).T.tolist()
    counts = arr.counts.reshape(len(caps) * 2, -1).sum(0).tolist()
    acc = [0.0] * len(digits)
    gen = torch.Generator().manual_seed(5)
    carried = 0
    for _ in range(20):
        delta = torch.randn(16, 8, generator=gen) * arr.lsb * 2
        arr.update(delta, gen)
        for i, u in enumerate((delta / arr.lsb).reshape(-1).tolist()):
            total = acc[i] + u
            carry = int(total)  # truncation toward zero
            acc[i] = total - carry
            new = digits[i][:]
            new[0] += carry
            new = reference_carry(new, caps, bases)
            carried += new[1:] != digits[i][1:]
            counts[i] += sum(
                reference_pulses(o, n, one_directional) for o, n in zip(digits[i], new, strict=True)
            )
            digits[i] = new
        assert arr.digits.reshape(len(caps), -1).T.tolist() == digits
        assert torch.allclose(arr.acc.reshape(-1), torch.tensor(acc), atol=1e-5)
        assert arr.counts.reshape(len(caps) * 2, -1).sum(0).tolist() == counts
        expected = torch.tensor([sum(s * d for s, d in zip(sig, ds, strict=True)) for ds in digits]) * arr.lsb
        assert torch.allclose(arr.value.reshape(-1), expected, atol=1e-6)
    assert carried > 200  # of 2,560 weight updates, hundreds carried into the binary slices


def test_hic_bases_accept_every_ratio_a_carry_can_absorb_and_name_the_range() -> None:
    assert slice_bases([3, 1, 1], [1.0, 7.0, 14.0]) == [7, 2]  # 2·cap + 1 = 7: the widest a carry fixes
    assert slice_bases([3, 1], [1.0, 4.0 + 1e-12]) == [4]  # float round-off in the significance
    for sig in ([1.0, 8.0], [1.0, 4.01], [1.0, 1.0]):
        with pytest.raises(ValueError, match=r"ratio in 2\.\.7 between slices 0 and 1 \(levels 4\)"):
            slice_bases([3, 1], sig)


def test_hic_accumulator_rounds_stochastically_onto_its_grid_without_bias(ideal_devices: None) -> None:
    """A 4-bit accumulator holds multiples of 1/8 level; an update of 0.3 level rounds to 2/8 or 3/8
    with P(3/8) = 0.4, so its mean is 0.3 (binomial σ of the mean over 4,096 weights: 0.001)."""
    cfg = AnalogConfig(device="ideal_bi", binary_devices=1, multilevel_devices=1, slice_levels=4)
    layer = AnalogLinear(64, 64, cfg)
    arr = HicArray(torch.zeros(64, 64), 1.0, 4, cfg, layer)
    gen = torch.Generator().manual_seed(2)
    assert arr.update(torch.full((64, 64), 0.3 * arr.lsb), gen).numel() == 0  # no carry yet
    eighths = arr.acc * 8
    assert torch.equal(eighths, eighths.round()) and set(eighths.unique().tolist()) == {2.0, 3.0}
    assert float(arr.acc.mean()) == pytest.approx(0.3, abs=0.005)


def test_mixed_precision_sparse_transfer_equals_the_dense_rule(ideal_devices: None) -> None:
    torch.manual_seed(0)
    layer = AnalogLinear(30, 20, AnalogConfig(device="ideal_bi"))
    cfg = TrainConfig(mode=TrainMode.MIXED_PRECISION, lr=0.3, momentum=0.0)  # float χ: deterministic
    upd = MixedPrecision([layer], cfg, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(6)
    chi = torch.zeros(30, 20)
    for _ in range(30):
        g = torch.randn(30, 20, generator=gen) * 0.05
        w0 = layer.weight.detach().clone()
        chi = chi + g * (-cfg.lr / upd.alphas[0])
        n, chi = chi_transfer(chi, upd.model.dw_min)
        upd.step(0, g)
        assert torch.allclose(upd.chi[0], chi, atol=1e-5)
        assert torch.allclose((layer.weight.detach() - w0) / (upd.alphas[0] * 0.01), n, atol=1e-3)


@pytest.mark.parametrize(
    ("make", "device", "extra"),
    [
        (PulsedSGD, "rram", {}),
        (PulsedSGD, "pcm", {"momentum_placement": MomentumPlacement.IN_MEMORY}),
        (PulsedSGD, "pcm", {"update_bits": 3}),
        (MixedPrecision, "pcm", {"update_bits": 4}),
        (Hic, "pcm", {"update_bits": 4}),
        (Qnn, "stt_mram", {"qnn_weights": QnnWeights.BINARY}),
    ],
)
def test_layers_hold_the_devices_weights_after_sparse_writes(make: type, device: str, extra: dict) -> None:
    torch.manual_seed(0)
    layers = [
        AnalogLinear(40, 30, AnalogConfig(device=device)),
        AnalogLinear(30, 10, AnalogConfig(device=device)),
    ]
    mode = TrainMode.ONCHIP_SGD if make is PulsedSGD else TrainMode.HWA
    upd = make(layers, TrainConfig(mode=mode, lr=0.5, **extra), torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(7)
    for _ in range(15):
        for i, layer in enumerate(layers):
            upd.step(i, torch.randn(layer.weight.shape, generator=gen) * 0.1)
    for i, layer in enumerate(layers):
        if make is Hic:
            held = upd.arrays[i].weight()
        elif make is Qnn:
            held = upd.states[i] * upd.alphas[i]
        else:
            held = upd.arrays[i].value() * upd.alphas[i]
        assert torch.allclose(layer.weight.detach(), held, atol=1e-6)


@pytest.mark.parametrize("numpy_path", [True, False])
@pytest.mark.parametrize("kind", list(QnnWeights))
def test_qnn_attempt_counts_equal_the_float64_rule(
    kind: QnnWeights, numpy_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The int32 attempt counters with MTJ states kept beside s count exactly what the
    float64 rule before the speed-up counted: 1 per MTJ where mtj_states(target) ≠ mtj_states(s),
    target = clip(s + h·⌈|z|⌉·sign(z)); large moves, zero gradients and NaN included; counted
    through NumPy (the CPU path) or torch (other devices) alike."""
    monkeypatch.setattr(placement, "NUMPY_INDICES", numpy_path)
    torch.manual_seed(0)
    layer = AnalogLinear(40, 30, AnalogConfig(device="stt_mram"))
    cfg = TrainConfig(mode=TrainMode.QNN, qnn_weights=kind, lr=0.5, momentum_placement=MomentumPlacement.NONE)
    upd = Qnn([layer], cfg, torch.Generator().manual_seed(0))
    h = 1.0 if kind is QnnWeights.TERNARY else 2.0
    shape = upd.states[0].shape
    expected = torch.ones(2, *shape, dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    for step in range(30):
        g = torch.randn(shape, generator=gen) * (0.1 if step % 2 else 3.0) * upd.alphas[0]
        g[torch.rand(shape, generator=gen) < 0.1] = 0.0
        if step == 7:
            g[0, :5] = float("nan")
        z = g * (-cfg.lr / (upd.alphas[0] * h))
        s = upd.states[0]
        target = (s + torch.ceil(z.abs()) * z.sign() * h).clamp_(-1.0, 1.0)
        expected += (mtj_states(target) != mtj_states(s)).double()
        upd.step(0, g)
        assert upd.attempts[0].dtype == torch.float64 and torch.equal(upd.attempts[0], expected)
        assert torch.equal(upd._signs[0][0], upd.states[0] > 0) and torch.equal(
            upd._signs[0][1], upd.states[0] < 0
        )


def _reference_pulse_train(w, n, up, down, lo, hi, model, slopes):  # type: ignore[no-untyped-def]
    """The loop before the speed-up: every pulse gathers its devices from the whole arrays."""
    out, k, sign = w.clone(), n.abs(), torch.sign(n)
    rows = torch.arange(w.numel())
    for j in range(int(k.max()) if k.numel() else 0):
        if j:
            rows = rows[k.index_select(0, rows) > j]
        cur, s = out.index_select(0, rows), sign.index_select(0, rows)
        lo_r, hi_r = lo.index_select(0, rows), hi.index_select(0, rows)
        su = slopes[0].index_select(0, rows) if slopes is not None else None
        sd = slopes[1].index_select(0, rows) if slopes is not None else None
        f_up = step_factor(cur, True, model, su, lo_r, hi_r)
        f_dn = step_factor(cur, False, model, sd, lo_r, hi_r) if not model.one_directional else f_up
        step = torch.where(s > 0, up.index_select(0, rows), down.index_select(0, rows))
        factor = torch.where(s > 0, f_up, f_dn) if isinstance(f_up, torch.Tensor) else f_up
        out.index_copy_(0, rows, pulse_once(cur, s, step, factor, lo_r, hi_r, model))
    return out


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("rram", None),  # exponential step, c2c 5, write noise
        ("pcm", None),  # exponential SET on a pair, complex c2c noise
        ("rram", UpdateRule.LINEAR_STEP),
        ("rram", UpdateRule.SOFT_BOUNDS),
        ("pcm", UpdateRule.SOFT_BOUNDS),
        ("pcm", UpdateRule.CONSTANT),  # state-dependent through its complex noise only
    ],
)
def test_pulse_train_equals_the_loop_over_whole_arrays(name: str, rule: UpdateRule | None) -> None:
    """The first pulse on the arrays as given, the later ones on the devices with |n| > 1: the same
    ω as the loop gathering every pulse's devices from the whole arrays, noise draws included (same
    windows, on the same devices), bit for bit."""
    model = PulseModel.of(DEVICES[name])
    if rule is not None:
        model = dataclasses.replace(model, rule=rule, gamma_up=0.5, gamma_down=0.3, gamma_d2d=0.1)
    gen = torch.Generator().manual_seed(6)
    m = 20_000
    up, down = device_steps(torch.Size((m,)), model, gen)
    lo, hi = device_bounds(torch.Size((m,)), model, gen)
    if model.one_directional:
        lo, down = torch.zeros(m), torch.zeros(m)
    slopes = device_slopes(model, lo, hi, gen)
    w = lo + (hi - lo) * torch.rand(m, generator=gen)
    k = torch.where(
        torch.rand(m, generator=gen) < 0.7, 1.0, torch.randint(0, 32, (m,), generator=gen).float()
    )
    n = k if model.one_directional else k * torch.where(torch.rand(m, generator=gen) < 0.5, 1.0, -1.0)
    torch.manual_seed(11)
    expected = _reference_pulse_train(w, n, up, down, lo, hi, model, slopes)
    torch.manual_seed(11)
    got = pulse_train(w, n, up, down, lo, hi, model, slopes)
    assert float((expected - w).abs().mean()) > 2 * model.dw_min  # the pulses moved the devices
    assert torch.equal(got, expected)  # the same float operations per device, in the same order
