"""qnn's update against by-hand cases, brute force and GXNOR's closed form [G21]: the cases its mutation
run (issue 16) showed no test held: one synapse moving alone, the transition probability inside a
``Qnn`` step and in binary ``gxnor_step``, the counters' tags, exact attempt counts past float32's
integers, MTJ flips counted through NumPy or torch (never NumPy off the CPU), and the switch thresholds'
dtype, table windows, generator and device (nothing made on torch's default device).

Tensors stay at a few hundred entries where they can: a forked mutmut worker hangs in torch's thread
pool on larger ones unless it runs with ``OMP_NUM_THREADS=1``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import torch_device as placement
from models.config import AnalogConfig, MomentumPlacement, QnnWeights, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.physics.pulses import UNIFORM_TABLE_SIZE
from models.training.outcome import ATTEMPTS
from models.training.qnn import GXNOR_M, Qnn, _threshold_table, add_flips_, gxnor_step, switch_thresholds
from tests.torch_devices import TORCH_DEVICES


def _qnn(
    w: torch.Tensor, ternary: bool, lr: float, where: str = "cpu", seed: int = 0
) -> tuple[AnalogLinear, Qnn]:
    """A one-layer qnn updater on weights ``w`` without momentum (v = g), so z = −lr·g/(α·h)."""
    layer = AnalogLinear(w.shape[0], w.shape[1], AnalogConfig(device="stt_mram"))
    with torch.no_grad():
        layer.weight.copy_(w)
    layer.to(where)
    kind = QnnWeights.TERNARY if ternary else QnnWeights.BINARY
    cfg = TrainConfig(mode=TrainMode.QNN, qnn_weights=kind, lr=lr, momentum_placement=MomentumPlacement.NONE)
    return layer, Qnn([layer], cfg, placement.seeded(seed, where))


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("ternary", [True, False])
def test_one_synapse_moving_alone_is_written_on_the_layers_device(ternary: bool, where: str) -> None:
    """α = 0.5 and lr = 0.5·h give z = −g: a gradient of 1 on one synapse and 0 elsewhere moves that
    synapse by exactly one transition (|z| − T ∈ (0, 1]) and nothing else (|z| − T ≤ 0). Its MTJs
    that change get one switch and one pulse each; every counter stays on the weights' device."""
    h = 1.0 if ternary else 2.0
    layer, upd = _qnn(torch.full((3, 4), 0.5), ternary, 0.5 * h, where)
    g = torch.zeros(3, 4, device=where)
    g[1, 2] = 1.0
    upd.step(0, g)
    new = torch.ones(3, 4)
    new[1, 2] = 0.0 if ternary else -1.0  # +1 → 0 (ternary), +1 → −1 (binary)
    assert torch.equal(upd.states[0].cpu(), new) and torch.equal(layer.weight.detach().cpu(), 0.5 * new)
    hit = torch.zeros(2, 3, 4, dtype=torch.float64)
    hit[0, 1, 2] = 1.0  # MTJ 0 (s > 0) resets in both kinds
    hit[1, 1, 2] = 0.0 if ternary else 1.0  # MTJ 1 (s < 0) sets only for binary's −1
    assert torch.equal(upd.counts[0].cpu(), 1.0 + hit) and torch.equal(upd.attempts[0].cpu(), 1.0 + hit)
    tensors = [*upd.counts, *upd._attempts, *upd.attempts, *(c for _, c in upd.counters())]
    assert {t.device for t in tensors} == {layer.weight.device}


def test_counters_tag_switches_as_weights_and_pulses_as_attempts() -> None:
    """The loop reports ``weights`` as the devices' state changes and :data:`ATTEMPTS` apart (two
    layers: every switch counter, then every attempt counter, in layer order)."""
    a = AnalogLinear(2, 3, AnalogConfig(device="stt_mram"))
    b = AnalogLinear(3, 2, AnalogConfig(device="stt_mram"))
    with torch.no_grad():
        a.weight.fill_(0.5)
        b.weight.fill_(-1.0)
    cfg = TrainConfig(
        mode=TrainMode.QNN, qnn_weights=QnnWeights.TERNARY, lr=0.5, momentum_placement=MomentumPlacement.NONE
    )
    upd = Qnn([a, b], cfg, torch.Generator().manual_seed(0))
    upd.step(0, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))  # one ternary move +1 → 0 in layer 0
    tagged = upd.counters()
    assert [k for k, _ in tagged] == ["weights", "weights", ATTEMPTS, ATTEMPTS]
    first = torch.ones(2, 2, 3, dtype=torch.float64)
    first[0, 0, 0] = 2.0
    expected = [first, torch.ones(2, 3, 2, dtype=torch.float64)] * 2
    assert all(torch.equal(c, e) for (_, c), e in zip(tagged, expected, strict=True))


def test_attempt_counters_stay_exact_past_float32s_integers() -> None:
    """Pulses are counted exactly up to 2³¹ per MTJ: a counter at 2²⁴ (float32's last exact
    integer step, as if 2²⁴ pulses had been applied) plus one pulse reads 2²⁴ + 1."""
    _, upd = _qnn(torch.full((2, 2), 0.5), True, 0.5)
    upd._attempts[0].fill_(2**24)
    upd.step(0, torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    expected = torch.full((2, 2, 2), float(2**24), dtype=torch.float64)
    expected[0, 0, 1] += 1.0
    assert torch.equal(upd.attempts[0], expected)


@pytest.mark.parametrize("ternary", [True, False])
def test_a_qnn_step_switches_with_gxnors_probability_and_pulses_every_try(ternary: bool) -> None:
    """GXNOR [G21]: |z| = lr·|g|/(α·h) = 0.25 (h = 2 binary, 1 ternary) switches a synapse with
    probability tanh(m·0.25) = 0.635 (m = 3); 16 layers of 16×16 (4096 synapses) hold that within
    0.04 (5 σ). Every synapse is pulsed (its full move ⌈|z|⌉ = 1 would switch it): binary +1 → −1
    pulses both MTJs, ternary +1 → 0 only MTJ 0; the switch counters grow only where it fired.
    (Small layers: a forked mutmut worker hangs in torch's thread pool on larger tensors.)"""
    h = 1.0 if ternary else 2.0
    pulsed = torch.ones(2, 16, 16, dtype=torch.float64)
    if ternary:
        pulsed[1] = 0.0
    switched = 0
    for seed in range(16):
        _, upd = _qnn(torch.ones(16, 16), ternary, 0.25 * h, seed=seed)  # α = 1
        upd.step(0, torch.ones(16, 16))  # z = −0.25 everywhere
        moved = upd.states[0] != 1.0
        assert set(upd.states[0][moved].tolist()) <= {0.0 if ternary else -1.0}
        assert torch.equal(upd.attempts[0], 1.0 + pulsed)
        assert torch.equal(upd.counts[0], 1.0 + pulsed * moved.double())
        switched += int(moved.sum())
    assert switched / 4096 == pytest.approx(math.tanh(GXNOR_M * 0.25), abs=0.04)


def _flips_by_hand(t: list[float], above: bool, state: list[bool]) -> list[int]:
    """One per entry whose MTJ a move to ``t`` switches: (t > 0 or t < 0) differs from its state."""
    return [int(((x > 0) if above else (x < 0)) != s) for x, s in zip(t, state, strict=True)]


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("numpy_path", [True, False])
@pytest.mark.parametrize("above", [True, False])
def test_add_flips_adds_one_per_switched_mtj_by_hand(
    above: bool, numpy_path: bool, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths (NumPy on the CPU, torch elsewhere) add the same flips to an int32 counter, NaN
    targets compared as neither above nor below 0."""
    monkeypatch.setattr(placement, "NUMPY_INDICES", numpy_path)
    t = [-3.0, -1.0, -0.0, 0.0, 1.0, 3.0, float("nan"), 2.0, -2.0]
    state = [True, False, True, False, True, False, True, False, True]
    start = [5, 0, 7, 1, 2, 9, 4, 3, 6]
    counter = torch.tensor(start, dtype=torch.int32, device=where)
    scratch = torch.empty(len(t), dtype=torch.bool, device=where)
    st = torch.tensor(state, device=where)
    add_flips_(counter, torch.tensor(t, device=where), above, st, scratch)
    expected = [a + f for a, f in zip(start, _flips_by_hand(t, above, state), strict=True)]
    assert counter.cpu().tolist() == expected and counter.dtype == torch.int32


def test_add_flips_takes_torch_off_the_cpu() -> None:
    """A tensor off the CPU never goes through NumPy (it cannot): on the ``meta`` device, which
    holds no values, the torch path runs and leaves the counter's device and shape."""
    counter = torch.zeros(4, dtype=torch.int32, device="meta")
    state = torch.zeros(4, dtype=torch.bool, device="meta")
    add_flips_(counter, torch.empty(4, device="meta"), True, state, torch.empty_like(state))
    assert counter.device.type == "meta" and counter.shape == (4,) and counter.dtype == torch.int32


def _by_hand(s: torch.Tensor, z: torch.Tensor, h: float, thresholds: torch.Tensor) -> torch.Tensor:
    """GXNOR's move with the switch thresholds T given: s + h·sign(z)·⌈|z| − T⌉, clipped to ±1."""
    return (s + h * torch.sign(z) * torch.ceil(z.abs() - thresholds)).clamp(-1.0, 1.0)


def test_a_binary_gxnor_step_takes_dz_in_units_of_alpha() -> None:
    """Binary states are two units of α apart (h = 2): dz = −0.5 is z = −0.25 of a transition, which
    fires with probability tanh(m·0.25) = 0.635 [G21]; 16 × 256 draws hold it within 0.04 (5 σ)."""
    gen = torch.Generator().manual_seed(6)
    s = torch.ones(256)
    switched = 0
    for _ in range(16):
        new = gxnor_step(s, torch.full_like(s, -0.5), False, gen)
        assert set(new.tolist()) <= {-1.0, 1.0}
        switched += int((new == -1.0).sum())
    assert switched / 4096 == pytest.approx(math.tanh(GXNOR_M * 0.25), abs=0.04)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_steps_read_the_thresholds_of_their_dtype(dtype: torch.dtype) -> None:
    """``gxnor_step`` and ``Qnn.step`` move by GXNOR's rule with the thresholds a twin generator
    draws in the states' dtype (float32 and float64 tables hold different values)."""
    s = torch.ones(16, 16, dtype=dtype)
    z = torch.full_like(s, -0.25)
    new = gxnor_step(s, z, True, torch.Generator().manual_seed(3))
    twin = switch_thresholds(s.shape, dtype, torch.Generator().manual_seed(3))
    assert new.dtype == dtype and torch.equal(new, _by_hand(s, z, 1.0, twin))

    layer = AnalogLinear(16, 16, AnalogConfig(device="stt_mram")).to(dtype)
    with torch.no_grad():
        layer.weight.fill_(1.0)  # α = 1, s = +1
    cfg = TrainConfig(mode=TrainMode.QNN, lr=0.25, momentum_placement=MomentumPlacement.NONE)
    upd = Qnn([layer], cfg, torch.Generator().manual_seed(4))
    upd.step(0, torch.ones(16, 16, dtype=dtype))  # ternary, z = −lr·g/α = −0.25
    twin = switch_thresholds(s.shape, dtype, torch.Generator().manual_seed(4))
    assert torch.equal(upd.states[0], _by_hand(s, z, 1.0, twin))


def _is_a_window(t: torch.Tensor, table: torch.Tensor) -> bool:
    """Whether ``t`` (flat) is ``table[k : k + len(t)]`` for some offset k, by search."""
    flat, whole = t.reshape(-1).numpy(), table.numpy()
    return any(
        np.array_equal(whole[k : k + flat.size], flat)
        for k in np.flatnonzero(whole[: whole.size - flat.size + 1] == flat[0])
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_up_to_half_the_table_thresholds_are_a_window_of_its_dtypes_table(dtype: torch.dtype) -> None:
    """Up to half the table (3 entries, a third plus one, exactly half) the thresholds are a window
    of the one fixed table of their dtype; above half they are fresh draws, not a window."""
    table = _threshold_table(dtype)
    gen = torch.Generator().manual_seed(8)
    for n in (3, UNIFORM_TABLE_SIZE // 3 + 1, UNIFORM_TABLE_SIZE // 2):
        t = switch_thresholds((n,), dtype, gen)
        assert t.dtype == dtype and t.shape == (n,) and _is_a_window(t, table), n
    fresh = switch_thresholds((UNIFORM_TABLE_SIZE // 2 + 1,), dtype, gen)
    assert fresh.dtype == dtype and not _is_a_window(fresh[:64], table)


def test_fresh_thresholds_come_from_their_generator_on_its_device() -> None:
    """More than half the table: drawn from the generator given (twins give the same values whatever
    the global stream did), in the dtype asked, on the generator's device even where torch's
    default device is another (``meta``)."""
    n = UNIFORM_TABLE_SIZE // 2 + 1
    a = switch_thresholds((n,), torch.float64, torch.Generator().manual_seed(5))
    torch.manual_seed(11)
    torch.rand(7)
    with torch.device("meta"):
        b = switch_thresholds((n,), torch.float64, torch.Generator().manual_seed(5))
    assert a.dtype == b.dtype == torch.float64 and b.device.type == "cpu" and torch.equal(a, b)


def test_a_seeds_window_is_pinned() -> None:
    """The window a seed picks (its offset drawn uniformly from every start that fits) is pinned:
    results reproduce from their seed across versions."""
    t32 = switch_thresholds((3,), torch.float32, torch.Generator().manual_seed(0))
    t64 = switch_thresholds((3,), torch.float64, torch.Generator().manual_seed(0))
    assert t32.tolist() == [0.5272523760795593, 0.041857946664094925, 0.07301747798919678]
    assert t64.tolist() == [0.15063047189509512, 0.021383533297658037, 0.05447674751402413]


def test_nothing_relies_on_torchs_default_device() -> None:
    """With torch's default device set to ``meta``, a tensor made without an explicit device would be
    a meta tensor (on a GPU, a CPU tensor meeting CUDA ones): the threshold table and every counter
    of a CPU layer's updater are made on the CPU, with their values."""
    layer = AnalogLinear(2, 2, AnalogConfig(device="stt_mram"))
    with torch.no_grad():
        layer.weight.fill_(0.5)
    cfg = TrainConfig(mode=TrainMode.QNN, lr=0.5, momentum_placement=MomentumPlacement.NONE)
    g = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # one ternary move +1 → 0
    with torch.device("meta"):
        table = _threshold_table(torch.float32)
        upd = Qnn([layer], cfg, torch.Generator().manual_seed(0))
        upd.step(0, g)
    assert table.device.type == "cpu" and table[:3].tolist() == [
        0.23881106078624725,
        0.13374799489974976,
        0.25110045075416565,
    ]
    expected = torch.ones(2, 2, 2, dtype=torch.float64)
    expected[0, 0, 1] = 2.0
    assert torch.equal(upd.counts[0], expected) and torch.equal(upd.attempts[0], expected)
