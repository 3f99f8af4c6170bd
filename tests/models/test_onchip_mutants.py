"""The on-chip updaters of ``models/training/onchip.py`` by hand (issue 16's mutation score).

Each test pins a rule the module promises, on noise-free devices (``ideal_devices``: exact steps of
ε = 0.01, far bounds) so that the pulses a step applies can be read back from the weights alone:
the update-rounding grid, digital momentum, the ±31-pulse cap, the χ register's grid, transfer and
saturation, in-memory momentum, the write counters' tags, and the epoch loop's digital SGD and result.
Tensors stay small (milliseconds), except one layer just large enough (4,096 weights) to take the dense path.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.config import AnalogConfig, MomentumPlacement, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.training.onchip import (
    DigitalMomentum,
    MixedPrecision,
    PulsedSGD,
    onchip_loop,
    quantize_update,
    quantize_update_,
)
from models.training.outcome import ATTEMPTS
from models.training.qnn import Qnn

pytestmark = pytest.mark.usefixtures("ideal_devices")

EPS = 0.01
"""The ideal devices' step (``dw_min``)."""
CAP = 31
"""Most pulses one update may apply (aihwkit's pulse-train length, ``MAX_PULSES_PER_UPDATE``)."""


def _layer(rows: int, cols: int, seed: int = 0) -> AnalogLinear:
    torch.manual_seed(seed)
    return AnalogLinear(rows, cols, AnalogConfig(device="ideal_bi"))


def _sgd(placement: MomentumPlacement, momentum: float = 0.9, **kw: object) -> TrainConfig:
    return TrainConfig(
        mode=TrainMode.ONCHIP_SGD, lr=1.0, momentum=momentum, momentum_placement=placement, **kw
    )


def _mixed(
    bits: int, placement: MomentumPlacement = MomentumPlacement.NONE, momentum: float = 0.9
) -> TrainConfig:
    return TrainConfig(
        mode=TrainMode.MIXED_PRECISION,
        lr=1.0,
        update_bits=bits,
        momentum=momentum,
        momentum_placement=placement,
    )


def _grad_for(pulses: torch.Tensor, alpha: float, lr: float = 1.0) -> torch.Tensor:
    """The gradient whose SGD step −lr·g/α is ``pulses`` device steps."""
    return -pulses * (alpha * EPS / lr)


@pytest.mark.parametrize("fn", [quantize_update, quantize_update_])
@pytest.mark.parametrize(("bits", "levels"), [(1, 1), (2, 1), (3, 3), (4, 7)])
def test_an_update_rounds_onto_its_bits_grid_of_its_own_max(fn, bits: int, levels: int) -> None:  # type: ignore[no-untyped-def]
    """``b`` bits: the grid is max|δ|/(2^(b−1)−1) (max|δ| itself below 3 bits); every entry goes to
    one of its two neighbours on that grid; the extreme stays where it is; every level is hit."""
    delta = torch.linspace(-1.0, 1.0, 4001)  # max|δ| = 1 exactly
    before = delta.clone()
    out = fn(delta, bits, torch.Generator().manual_seed(3))
    step = 1.0 / levels
    k = out / step
    assert torch.allclose(k, k.round(), atol=1e-4)
    assert bool(((out - before).abs() < step + 1e-6).all())
    assert float(out.abs().max()) == pytest.approx(1.0, abs=1e-6)
    assert set(k.round().int().tolist()) == set(range(-levels, levels + 1))
    assert float((out - before).mean()) == pytest.approx(0.0, abs=0.05 * step)  # unbiased
    if fn is quantize_update_:
        assert out.data_ptr() == delta.data_ptr()  # in place
    else:
        assert torch.equal(delta, before)  # left alone


@pytest.mark.parametrize("fn", [quantize_update, quantize_update_])
def test_a_zero_update_stays_zero(fn) -> None:  # type: ignore[no-untyped-def]
    out = fn(torch.zeros(5), 4, torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.zeros(5))


def test_digital_momentum_is_v_equals_mu_v_plus_g_by_hand() -> None:
    layers = [_layer(3, 2)]
    cfg = TrainConfig(
        mode=TrainMode.ONCHIP_SGD, lr=0.2, momentum=0.5, momentum_placement=MomentumPlacement.DIGITAL
    )
    g1, g2, g3 = torch.ones(3, 2), torch.full((3, 2), 2.0), torch.full((3, 2), -4.0)
    mom = DigitalMomentum(layers, cfg)
    assert mom.bits == 32
    assert torch.equal(mom.velocity(0, g1).clone(), g1)
    assert torch.equal(mom.velocity(0, g2).clone(), torch.full((3, 2), 2.5))
    assert torch.equal(mom.velocity(0, g3).clone(), torch.full((3, 2), -4.0 + 1.25))
    mom = DigitalMomentum(layers, cfg)
    assert torch.allclose(mom.direction(0, g1), torch.full((3, 2), -0.2))
    assert torch.allclose(mom.direction(0, g2), torch.full((3, 2), -0.2 * 2.5))


@pytest.mark.parametrize(
    ("placement", "momentum"),
    [(MomentumPlacement.NONE, 0.9), (MomentumPlacement.DIGITAL, 0.0), (MomentumPlacement.IN_MEMORY, 0.9)],
)
def test_without_digital_momentum_the_step_is_the_gradient_and_costs_no_register(
    placement: MomentumPlacement, momentum: float
) -> None:
    mom = DigitalMomentum(
        [_layer(3, 2)],
        TrainConfig(mode=TrainMode.ONCHIP_SGD, momentum=momentum, momentum_placement=placement),
    )
    g = torch.randn(3, 2)
    assert mom.bits == 0
    assert torch.equal(mom.velocity(0, g), g) and torch.equal(mom.velocity(0, g), g)  # nothing accumulates


@pytest.mark.parametrize(
    ("placement", "momentum", "bits", "kinds"),
    [
        (MomentumPlacement.NONE, 0.9, 0.0, ["weights", "weights"]),
        (MomentumPlacement.DIGITAL, 0.9, 32.0, ["weights", "weights"]),
        (MomentumPlacement.DIGITAL, 0.0, 0.0, ["weights", "weights"]),
        (MomentumPlacement.IN_MEMORY, 0.9, 0.0, ["weights", "weights", "momentum", "momentum"]),
        (MomentumPlacement.IN_MEMORY, 0.0, 0.0, ["weights", "weights"]),
    ],
)
def test_pulsed_sgd_counts_a_momentum_array_only_in_memory(
    placement: MomentumPlacement, momentum: float, bits: float, kinds: list[str]
) -> None:
    layers = [_layer(4, 3), _layer(3, 2, seed=1)]
    upd = PulsedSGD(layers, _sgd(placement, momentum), torch.Generator().manual_seed(0))
    assert [k for k, _ in upd.counters()] == kinds
    assert [tuple(c.shape) for _, c in upd.counters()] == [(2, 4, 3), (2, 3, 2)] * (len(kinds) // 2)
    assert upd.digital_bits_per_weight == bits


@pytest.mark.parametrize(
    ("update_bits", "placement", "bits"),
    [
        (4, MomentumPlacement.NONE, 4.0),
        (4, MomentumPlacement.DIGITAL, 36.0),
        (32, MomentumPlacement.NONE, 32.0),
    ],
)
def test_mixed_precision_holds_its_register_bits_and_counts_only_weights(
    update_bits: int, placement: MomentumPlacement, bits: float
) -> None:
    upd = MixedPrecision([_layer(4, 3)], _mixed(update_bits, placement), torch.Generator().manual_seed(0))
    assert upd.digital_bits_per_weight == bits
    assert [k for k, _ in upd.counters()] == ["weights"]


def test_programming_keeps_the_weights_and_scales_them_to_a_quarter_of_the_reach() -> None:
    layer = _layer(6, 5)
    w0 = layer.weight.detach().clone()
    upd = PulsedSGD([layer], _sgd(MomentumPlacement.NONE), torch.Generator().manual_seed(0))
    alpha = float(w0.abs().max()) / (0.25 * 100.0)  # ideal_bi reaches ±100
    assert upd.alphas[0] == pytest.approx(alpha, rel=1e-6)
    assert torch.allclose(layer.weight.detach(), w0, atol=1e-6)
    assert torch.allclose(upd.arrays[0].value() * alpha, w0, atol=1e-6)
    assert torch.allclose(upd.chip(0, layer).weight(), w0, atol=1e-5)  # the chip holds them too
    sample = torch.tensor([0, 7, 29])
    assert torch.allclose(upd.chip(0, layer, sample).weight(), w0.view(-1)[sample], atol=1e-5)


def _pulses(layer: AnalogLinear, w0: torch.Tensor, alpha: float) -> torch.Tensor:
    p = (layer.weight.detach() - w0) / (alpha * EPS)
    assert torch.allclose(p, p.round(), atol=1e-3)  # whole pulses
    return p.round()


@pytest.mark.parametrize("update_bits", [32, 8])
def test_a_sparse_update_applies_at_most_31_pulses_either_way(update_bits: int) -> None:
    layer = _layer(5, 4)
    cfg = _sgd(MomentumPlacement.NONE, update_bits=update_bits)
    upd = PulsedSGD([layer], cfg, torch.Generator().manual_seed(0))
    want = torch.zeros(20)
    want[:4] = torch.tensor([100.5, -100.5, 40.0, -40.0])
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want.view(5, 4), upd.alphas[0]))
    p = _pulses(layer, w0, upd.alphas[0]).view(-1)
    assert p[:4].tolist() == [CAP, -CAP, CAP, -CAP]
    assert bool((p[4:] == 0).all())
    assert torch.equal(upd.counters()[0][1][0].view(-1), 1 + p.abs().double())


def test_a_small_sparse_update_rounds_each_weight_to_a_neighbouring_pulse_count() -> None:
    layer = _layer(5, 4)
    upd = PulsedSGD([layer], _sgd(MomentumPlacement.NONE), torch.Generator().manual_seed(0))
    want = torch.tensor([2.5, -2.5, 0.25, -3.75] * 5)
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want.view(5, 4), upd.alphas[0]))
    p = _pulses(layer, w0, upd.alphas[0]).view(-1)
    assert bool(((p == want.floor()) | (p == want.ceil())).all())


def test_a_dense_update_is_written_back_whole_and_capped() -> None:
    """4,096 weights, all pulsed: the dense path, whose new weights the layer must hold."""
    layer = _layer(64, 64)
    upd = PulsedSGD([layer], _sgd(MomentumPlacement.NONE), torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(4)
    want = (torch.rand(64, 64, generator=gen) * 10 - 5).round() + 0.5  # k + ½: never whole
    want[0, :4] = torch.tensor([100.5, -100.5, 60.5, -60.5])
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want, upd.alphas[0]))
    p = _pulses(layer, w0, upd.alphas[0])
    capped = want.clamp(-CAP, CAP)
    assert p[0, :4].tolist() == [CAP, -CAP, CAP, -CAP]
    assert bool(((p == capped.floor()) | (p == capped.ceil())).all())
    assert torch.allclose(layer.weight.detach(), upd.arrays[0].value() * upd.alphas[0], atol=1e-6)
    assert torch.equal(upd.counters()[0][1][0], 1 + p.abs().double())


def test_in_memory_momentum_is_pulsed_toward_mu_m_minus_the_step_and_read_as_the_update() -> None:
    """Step 1 from m = 0: m ← round(−lr·g/α) steps, and the weight moves by m. Step 2 with g = 0
    and μ = ½: m ← m − round(½·m) = ½·m (m even), and the weight moves by m again."""
    layer = _layer(4, 4)
    upd = PulsedSGD(
        [layer], _sgd(MomentumPlacement.IN_MEMORY, momentum=0.5), torch.Generator().manual_seed(0)
    )
    want = torch.tensor([4.0, -6.0, 2.0, 0.0] * 4).view(4, 4)
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want + 1e-3, upd.alphas[0]))  # a hair above a whole number: floor(U + k + 0.001)
    m1 = upd.moments[0].value() / EPS
    assert bool(((m1 - want).abs() <= 1 + 1e-3).all()) and torch.allclose(m1, m1.round(), atol=1e-3)
    assert torch.equal(_pulses(layer, w0, upd.alphas[0]), m1.round())
    m1 = m1.round()
    w1 = layer.weight.detach().clone()
    upd.step(0, torch.zeros(4, 4))
    m2 = (upd.moments[0].value() / EPS).round()
    even = m1.remainder(2) == 0
    assert torch.equal(m2[even], m1[even] / 2)
    assert torch.equal(_pulses(layer, w1, upd.alphas[0]), m2)


class _Biased(nn.Module):
    """An analog layer without bias, then a digital bias (a parameter no updater owns)."""

    def __init__(self, device: str = "ideal_bi") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.analog = AnalogLinear(6, 3, AnalogConfig(device=device), bias=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.analog(x) + self.bias


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 6, generator=torch.Generator().manual_seed(1))
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def _held(net: _Biased, upd: PulsedSGD | MixedPrecision) -> bool:
    """Whether the analog layer holds exactly what its devices hold (α·ω)."""
    return torch.allclose(net.analog.weight.detach(), upd.arrays[0].value() * upd.alphas[0], atol=1e-6)


def test_the_epoch_loop_steps_digital_parameters_by_sgd_with_momentum_and_counts_steps() -> None:
    """One batch per epoch: the bias moves by −lr·g₀, then by −lr·(μ·g₀ + g₁) (g read from its
    ``.grad``); the analog weights move only by whole pulses the layer's devices hold."""
    net = _Biased()
    x, y = _data(16)
    cfg = TrainConfig(
        mode=TrainMode.ONCHIP_SGD,
        lr=0.01,
        momentum=0.5,
        momentum_placement=MomentumPlacement.IN_MEMORY,
        batch_size=16,
        epochs=2,
    )
    loop = onchip_loop(PulsedSGD)(net, x, y, cfg)
    assert all(layer.analog and layer.noise_std == 0.0 for layer in loop.layers)
    assert loop.layers == [net.analog] and loop.steps == 0
    b0, w0 = net.bias.detach().clone(), net.analog.weight.detach().clone()
    loss1 = loop.epoch(x, y)
    g0 = net.bias.grad.clone()
    assert torch.allclose(net.bias.detach() - b0, -0.01 * g0, atol=1e-8)
    assert float(g0.abs().sum()) > 0 and math.isfinite(loss1)
    b1 = net.bias.detach().clone()
    loss2 = loop.epoch(x, y)
    assert torch.allclose(net.bias.detach() - b1, -0.01 * (0.5 * g0 + net.bias.grad), atol=1e-8)
    assert loop.steps == 2
    upd = loop.updater
    assert _held(net, upd)
    assert float(_pulses(net.analog, w0, upd.alphas[0]).abs().sum()) > 0
    result = loop.end(seconds=1.5, final_loss=loss2, samples=32)
    weights, momentum = (c for _, c in upd.counters())
    assert float(weights.sum()) != float(momentum.sum())  # the two kinds can be told apart
    assert (result.seconds, result.steps, result.final_loss, result.train_samples) == (1.5, 2, loss2, 32)
    assert result.writes.total == float(weights.sum()) + float(momentum.sum())
    assert [k for k, _ in result.writes_by_kind] == ["momentum"]
    assert result.writes_by_kind[0][1].total == float(momentum.sum())
    assert result.writes.max_per_device == max(float(weights.max()), float(momentum.max()))
    assert result.extra_devices == 2 * 6 * 3
    assert result.digital_bits_per_weight == 0.0
    assert result.attempts is None
    assert not net.training


def test_the_trained_chip_is_the_updaters_device_state() -> None:
    """A bidirectional device reads against a fixed reference at ω = 0, mid-range of [−100, 100]:
    every reference conductance of the trained chip is g_min + ½·(g_max − g_min)."""
    net = _Biased()
    x, y = _data(8)
    cfg = TrainConfig(mode=TrainMode.ONCHIP_SGD, lr=0.05, batch_size=4, epochs=1)
    loop = onchip_loop(PulsedSGD)(net, x, y, cfg)
    loop.epoch(x, y)
    loop.end(seconds=0.0, final_loss=0.0, samples=8)
    chip, dev = net.analog.trained_chip, net.analog.device_spec
    assert chip is not None and tuple(chip.g.shape) == (1, 2, 6, 3)
    mid = dev.g_min_us + 0.5 * (dev.g_max_us - dev.g_min_us)
    assert torch.allclose(chip.g[0, 1], torch.full((6, 3), mid))
    assert torch.allclose(chip.weight(), net.analog.weight.detach(), atol=1e-6)


class _Fixed(nn.Module):
    """Logits x[:, :3], whatever the analog layer holds: every batch's loss is known in advance."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.analog = AnalogLinear(6, 3, AnalogConfig(device="ideal_bi"), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :3] + 0.0 * self.analog(x)


def test_an_epoch_returns_the_mean_of_its_batch_losses() -> None:
    """12 samples in 3 batches of 4: the mean of the batch means is the mean over all 12, in any
    order; one batch of 4: that batch's loss."""
    x, y = _data(12)
    cfg = TrainConfig(mode=TrainMode.ONCHIP_SGD, lr=0.05, batch_size=4, epochs=1)
    loop = onchip_loop(PulsedSGD)(_Fixed(), x, y, cfg)
    ce = nn.functional.cross_entropy
    assert loop.epoch(x, y) == pytest.approx(float(ce(x[:, :3], y)), rel=1e-6)
    assert loop.epoch(x[:4], y[:4]) == pytest.approx(float(ce(x[:4, :3], y[:4])), rel=1e-6)
    assert loop.steps == 4


def test_the_epoch_loop_splits_batches_and_steps_once_each() -> None:
    """10 samples in batches of 4, 4 and 2; a float χ with lr = 2·10⁻⁴: only a few weights reach ε,
    and the others keep exactly the weight their devices hold (no digital SGD step on them)."""
    net = _Biased()
    x, y = _data(10)
    cfg = TrainConfig(
        mode=TrainMode.MIXED_PRECISION, lr=2e-4, momentum=0.0, batch_size=4, epochs=1, update_bits=32
    )
    loop = onchip_loop(MixedPrecision)(net, x, y, cfg)
    loop.epoch(x, y)
    assert loop.steps == 3
    assert _held(net, loop.updater)
    assert 0 < float(loop.updater.counters()[0][1][0].sum()) - 18 < 18  # some pulses, not on every weight
    result = loop.end(seconds=0.0, final_loss=0.0, samples=10)
    assert result.steps == 3 and result.writes_by_kind == () and result.extra_devices == 0
    assert result.digital_bits_per_weight == 32.0


def test_write_attempts_are_counted_apart_from_state_changes() -> None:
    """QNN tags its pulses ``attempts``: they are the result's attempts, and never its writes."""
    net = _Biased("stt_mram")
    x, y = _data(8)
    cfg = TrainConfig(
        mode=TrainMode.QNN, lr=0.5, batch_size=4, epochs=1, momentum_placement=MomentumPlacement.NONE
    )
    loop = onchip_loop(Qnn)(net, x, y, cfg)
    loop.epoch(x, y)
    result = loop.end(seconds=0.0, final_loss=0.0, samples=8)
    tagged = loop.updater.counters()
    switches = sum(float(c.sum()) for k, c in tagged if k == "weights")
    attempts = sum(float(c.sum()) for k, c in tagged if k == ATTEMPTS)
    assert attempts > switches  # a sure test: the two differ
    assert result.writes.total == switches and result.writes_by_kind == ()
    assert result.attempts is not None and result.attempts.total == attempts
    assert result.extra_devices == 0


def test_an_update_rounds_the_same_from_the_same_generator_whatever_the_global_stream() -> None:
    delta = torch.linspace(-1.0, 1.0, 101)
    torch.manual_seed(1)
    a = quantize_update(delta, 3, torch.Generator().manual_seed(9))
    torch.manual_seed(2)
    b = quantize_update(delta, 3, torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
