"""The second speed pass over the on-chip step keeps the physics: each faster computation equals
the one it replaced, bit for bit where it is deterministic (noise draws from the same table
windows, seeded alike), and a calibration read computes what the ranges need and no more."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models import torch_device as placement
from models.config import AnalogConfig
from models.nn.layers import AnalogLinear
from models.physics import kernels
from models.physics import pulses as pulses_module
from models.physics.devices import DEVICES, UpdateRule
from models.physics.pulses import PulsedArray, PulseModel
from models.physics.update_rules import pulse_once, pulse_train, pulses_to_reach, step_factor
from models.training.chip import weight_chip


@pytest.mark.parametrize("name", ["rram", "pcm"])
def test_pulse_once_with_unit_signs_skips_only_a_factor_of_one(name: str) -> None:
    """``unit=True`` (every sign ±1, as in a pulse train's later pulses) drops |sign|·σ·ξ's factor
    |sign| = 1: the same ω bit for bit, c2c noise included (same table window, same seed)."""
    model = PulseModel.of(DEVICES[name])
    gen = torch.Generator().manual_seed(0)
    m = 5000
    w = torch.rand(m, generator=gen) * 0.5
    sign = torch.where(torch.rand(m, generator=gen) < 0.5, 1.0, -1.0)
    step, factor = torch.rand(m, generator=gen) * 0.01, torch.rand(m, generator=gen)
    lo, hi = torch.full((m,), -1.0), torch.full((m,), 1.0)
    torch.manual_seed(3)
    plain = pulse_once(w, sign, step, factor, lo, hi, model)
    torch.manual_seed(3)
    unit = pulse_once(w, sign, step, factor, lo, hi, model, unit=True)
    assert not torch.equal(plain, w) and torch.equal(plain, unit)


def _reference_pairs(arr: PulsedArray, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-directional pair's pulses as the rule reads (before the speed-up, by ``torch.where``):
    positive pulses on ω⁺, negative ones on ω⁻, each a pulse train of |n| pulses, on the pulsed
    pairs in index order (as the array gathers them, so each noise draw meets the same device)."""
    pos, neg = arr.pos.reshape(-1).clone(), arr.neg.reshape(-1).clone()
    idx = n.reshape(-1).nonzero().squeeze(1)
    p, q, k = pos[idx], neg[idx], n.reshape(-1)[idx]
    up, hi = arr.up.reshape(-1)[idx], arr.hi.reshape(-1)[idx]
    zero = torch.zeros_like(p)
    new = pulse_train(torch.where(k > 0, p, q), k.abs(), up, zero, zero, hi, arr.model, None)
    pos[idx], neg[idx] = torch.where(k > 0, new, p), torch.where(k > 0, q, new)
    return pos, neg


def test_pcm_pair_pulses_select_the_pulsed_device_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """PCM pairs pick the pulsed device by exact 0/1 blends: the same ω⁺, ω⁻ as selecting with
    ``torch.where``, bit for bit with the complex c2c noise on (refresh left out: see below).
    The torch path's blends (the CPU kernel against that path: tests/models/test_update_kernels.py)."""
    monkeypatch.setattr(kernels, "ENABLED", False)
    model = PulseModel.of(DEVICES["pcm"])
    gen = torch.Generator().manual_seed(1)
    target = (torch.rand(60, 50, generator=gen) - 0.5) * 0.4
    arr = PulsedArray(target, model, gen)  # one device of each pair at 0
    # pulses on the device that holds the weight: its partner stays at 0, so no pair is refreshed
    n = torch.randint(0, 4, (60, 50), generator=gen).float() * target.sign()
    torch.manual_seed(5)
    exp_pos, exp_neg = _reference_pairs(arr, n)
    torch.manual_seed(5)
    arr.pulse(n)
    hi, up = arr.hi.reshape(-1), arr.up.reshape(-1)
    full = (torch.maximum(exp_pos, exp_neg) >= 0.9 * hi) & (torch.minimum(exp_pos, exp_neg) >= up)
    assert not bool(full.any())  # no pair was refreshed: the pulses alone are compared
    assert torch.equal(arr.pos.reshape(-1), exp_pos) and torch.equal(arr.neg.reshape(-1), exp_neg)
    assert torch.equal(arr.value(), arr.pos - arr.neg)


def test_a_calibration_read_sets_the_backward_ranges_without_a_weight_gradient() -> None:
    """The calibration batch's backward pass reads ∂y through the array only to set the backward
    converter ranges; its ∂W, never used, is not computed. The next training read's ∂W is the
    full outer product xᵀ·∂y, as before."""
    torch.manual_seed(0)
    layer = AnalogLinear(96, 40, AnalogConfig(device="rram", tile_rows=32, tile_cols=16, dac_bits=None))
    x, d = torch.rand(64, 96), torch.randn(64, 40)
    _calibrate_then_train(layer, x, d)
    torch.testing.assert_close(layer.weight.grad, x.t() @ d)


def _calibrate_then_train(layer: torch.nn.Module, x: torch.Tensor, d: torch.Tensor) -> None:
    """One calibration read (∂x, backward ranges, no ∂W), then one training read (∂W)."""
    layer.start_chip_reads(weight_chip(layer), None, analog_backward=True)
    layer.train()
    layer.calibrating = True
    xg = x.clone().requires_grad_()
    layer(xg).backward(d)
    layer.calibrating = False
    assert layer.weight.grad is None and xg.grad is not None
    assert layer.bwd_dac_range is not None and layer.bwd_adc_range is not None
    layer(x).backward(d)
    assert layer.weight.grad is not None


def _reference_pulses_to_reach(target, up, hi, model, slope):  # type: ignore[no-untyped-def]
    """The count before the speed-up, one refresh per call (verbatim)."""
    lo = torch.zeros_like(hi)
    w, count = torch.zeros_like(target), torch.zeros_like(target)
    for _ in range(math.ceil(10.0 * model.hi / model.dw_min)):
        short = w < target * (1 - 1e-6)
        if not bool(short.any()):
            break
        f = step_factor(w, True, model, slope, lo, hi)
        nxt = torch.minimum(w + up * f, hi)
        stuck = nxt <= w
        w = torch.where(short, nxt, w)
        count += short.to(count.dtype)
        if bool((short & stuck).all()):
            break
    return count


def test_refreshes_counted_together_count_as_one_call_each() -> None:
    """pulses_to_reach over several refreshes at once (``groups``) equals one call per refresh: on
    PCM's exponential SET response, and on a linear step whose factor reaches 0 at ω = 0.5 (a
    target of 0.8 is never reached: a refresh whose devices are all stuck stops counting, one
    with a device that arrives keeps counting its stuck device, as the loop did)."""
    pcm = PulseModel.of(DEVICES["pcm"])
    linear = dataclasses.replace(pcm, rule=UpdateRule.LINEAR_STEP, dw_min=0.05)
    gen = torch.Generator().manual_seed(2)
    for model, slope_value in ((pcm, None), (linear, -2.0)):
        sizes = [3, 1, 4, 2]
        target = torch.rand(sum(sizes), generator=gen) * 0.9
        if slope_value is not None:
            target[:3] = 0.8  # refresh 0: every device stuck at 0.5
            target[3] = 0.8  # refresh 1: its one device stuck
            target[4] = 0.8  # refresh 2: one device stuck, the others arrive
        up = 0.05 * (1 + 0.2 * torch.rand(sum(sizes), generator=gen))
        hi = torch.ones(sum(sizes))
        slope = None if slope_value is None else torch.full((sum(sizes),), slope_value)
        groups = torch.cat([torch.full((k,), g) for g, k in enumerate(sizes)])
        together = pulses_to_reach(target, up, hi, model, slope, groups)
        apart, start = [], 0
        for k in sizes:
            part = slice(start, start + k)
            s = None if slope is None else slope[part]
            apart.append(_reference_pulses_to_reach(target[part], up[part], hi[part], model, s))
            assert torch.equal(pulses_to_reach(target[part], up[part], hi[part], model, s), apart[-1])
            start += k
        assert torch.equal(together, torch.cat(apart))
        if slope_value is not None:  # the stuck cases as described
            assert together[:4].tolist() == [apart[0][0].item()] * 3 + [apart[1][0].item()]
            assert together[4] == math.ceil(10.0 * model.hi / model.dw_min)


def test_pcm_refresh_counts_kept_pending_equal_counting_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PCM array whose refreshes' SET pulses are counted when its counters are read has the same
    devices and the same write counts as one that counts each refresh at once."""
    model = PulseModel.of(DEVICES["pcm"])
    arrays = [PulsedArray(torch.zeros(40, 30), model, torch.Generator().manual_seed(3)) for _ in range(2)]
    gen = torch.Generator().manual_seed(4)
    refreshed = 0
    for step in range(40):
        n = torch.randint(-3, 4, (40, 30), generator=gen).float()
        for j, arr in enumerate(arrays):
            monkeypatch.setattr(pulses_module, "PENDING_REFRESHES", 1 if j else 1 << 14)
            torch.manual_seed(step)
            arr.pulse(n)
        refreshed += arrays[0]._pending_size
        assert torch.equal(arrays[0].pos, arrays[1].pos) and torch.equal(arrays[0].neg, arrays[1].neg)
    assert arrays[1]._pending_size == 0 and arrays[0]._pending_size > 20  # counts waited
    assert torch.equal(arrays[0].counts, arrays[1].counts) and arrays[0]._pending_size == 0


@pytest.mark.parametrize("density", [0.0, 0.01, 0.04, 0.0401, 0.06, 0.0999, 0.1, 0.1001, 0.5, 1.0])
@pytest.mark.parametrize("size", [0, 1, 997, 40_000])
def test_flatnonzero_finds_the_same_indices_as_numpy_at_every_density(density: float, size: int) -> None:
    """The padded search (4–10 % set) returns exactly ``np.flatnonzero``'s indices, in order."""
    import numpy as np

    rng = np.random.default_rng(size + int(density * 1e4))
    mask = np.zeros(size, dtype=np.bool_)
    mask[rng.permutation(size)[: round(density * size)]] = True  # exactly this density
    got = placement.flatnonzero(mask)
    want = np.flatnonzero(mask)
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_a_convolution_calibration_read_computes_no_kernel_gradient() -> None:
    """As :func:`test_a_calibration_read_sets_the_backward_ranges_without_a_weight_gradient` for
    a convolution: the calibration read sets the backward ranges and ∂x, and no ∂W; the next
    training read's ∂W is the plain convolution's kernel gradient."""
    from models.nn.conv import AnalogConv2d

    torch.manual_seed(0)
    cfg = AnalogConfig(device="rram", tile_rows=32, tile_cols=16, dac_bits=None)
    layer = AnalogConv2d(3, 8, 3, cfg, padding=1)
    x, d = torch.rand(4, 3, 6, 6), torch.randn(4, 8, 6, 6)
    _calibrate_then_train(layer, x, d)
    kernel = layer.weight.detach().t().reshape(8, 3, 3, 3)  # (in·kh·kw, out) in unfold's order
    x_ = x.clone().requires_grad_()
    k_ = kernel.clone().requires_grad_()
    torch.nn.functional.conv2d(x_, k_, padding=1).backward(d)
    torch.testing.assert_close(layer.weight.grad, k_.grad.reshape(8, -1).t())


@pytest.mark.parametrize("shape", [(4, 64, 512), (3, 63, 300), (1, 2, 800), (2, 5, 1000), (1, 37, 777)])
def test_top_two_are_the_last_two_sorted_values(shape: tuple[int, ...]) -> None:
    """The tournament returns sort's last two entries exactly: ties, zeros, infinities, odd sizes."""
    from models.physics.converters import top_two

    g = torch.Generator().manual_seed(sum(shape))
    cases = [
        torch.randn(shape, generator=g),
        torch.randint(0, 3, shape, generator=g).float(),  # many ties at the top
        torch.zeros(shape),
        torch.randn(shape, generator=g).abs().masked_fill(torch.rand(shape, generator=g) > 0.97, math.inf),
    ]
    for v in cases:
        first, second = top_two(v, 1)
        s = v.sort(dim=1).values
        assert torch.equal(first, s.select(1, -1)) and torch.equal(second, s.select(1, -2))


@pytest.mark.parametrize("q", [99.99, 99.0, 98.5, 100.0])
def test_wide_percentiles_equal_the_two_maxima_rule(monkeypatch: pytest.MonkeyPatch, q: float) -> None:
    """``percentile`` of a wide tensor (the tournament) equals its narrow path (two maxima, tie
    count) bit for bit, and torch.quantile to rounding."""
    from models.physics import converters

    g = torch.Generator().manual_seed(5)
    v = torch.randn(4, 64, 512, generator=g).abs()
    v[:, :, :7] = 1.0  # columns with ties at the top
    wide = converters.percentile(v, q, dim=1)
    monkeypatch.setattr(converters, "TOP_TWO_TREE", 10**9)
    assert torch.equal(wide, converters.percentile(v, q, dim=1))
    torch.testing.assert_close(wide, torch.quantile(v, q / 100.0, dim=1))
