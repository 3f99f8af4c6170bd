"""Update-rule arithmetic of the on-chip modes: carries, transfers, pulses and their write counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.config import AnalogConfig, MomentumPlacement, QnnWeights, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.physics.pulses import chi_grid, chi_transfer
from models.training.hic import HicArray, accumulate, carry_chain, digits_value, slice_bases
from models.training.modes import check_mode, valid_modes
from models.training.onchip import PulsedSGD
from models.training.qnn import GXNOR_M, gxnor_step, mtj_states


def test_valid_modes_name_the_physics() -> None:
    assert valid_modes("sram") == [TrainMode.HWA, TrainMode.APT]
    assert valid_modes("stt_mram") == [TrainMode.HWA, TrainMode.APT, TrainMode.QNN]
    assert TrainMode.QNN not in valid_modes("pcm") and TrainMode.HIC in valid_modes("pcm")
    with pytest.raises(ValueError, match=r"invalid on device 'stt_mram'.*valid modes: hwa, apt, qnn"):
        check_mode("stt_mram", "onchip_sgd")
    with pytest.raises(ValueError, match="in_memory"):
        TrainConfig(mode=TrainMode.HIC, momentum_placement=MomentumPlacement.IN_MEMORY)


@pytest.mark.parametrize(
    ("caps", "sig"), [([3, 3, 1, 1], [1.0, 4.0, 16.0, 32.0]), ([7, 1, 1], [1.0, 2.0, 4.0])]
)
def test_hic_carry_chain_conserves_value_within_one_lsb(caps: list[int], sig: list[float]) -> None:
    gen = torch.Generator().manual_seed(0)
    bases = slice_bases(caps, sig)
    top = sum(c * s for c, s in zip(caps, sig, strict=True))
    digits = carry_chain(torch.zeros(len(caps), 500), caps, bases)
    acc = torch.zeros(500)
    for _ in range(200):
        grid = 8  # a 4-bit accumulator: LSB 1/8 level
        u = torch.round(torch.randn(500, generator=gen) * 3 * grid) / grid
        before = digits_value(digits, sig) + acc
        acc, carry = accumulate(acc, u)
        assert bool((acc.abs() < 1).all())
        new = digits.clone()
        new[0] += carry
        new = carry_chain(new, caps, bases)
        for k, cap in enumerate(caps):
            assert bool((new[k].abs() <= cap).all())
        after = digits_value(new, sig) + acc
        inside = (before + u).abs() <= top - 1  # away from the top slice's saturation
        assert torch.allclose(after[inside], (before + u)[inside], atol=1e-9)
        assert bool((digits_value(new, sig).abs() <= top).all())  # the top slice saturates
        digits = new


def test_hic_rejects_a_base_its_digits_cannot_carry() -> None:
    with pytest.raises(ValueError, match="slice_base"):
        slice_bases([1, 1], [1.0, 4.0])


def test_hic_counts_every_level_step_on_a_bidirectional_device(ideal_devices: None) -> None:
    cfg = AnalogConfig(device="ideal_bi", binary_devices=2, multilevel_devices=1, slice_levels=4)
    layer = AnalogLinear(16, 8, cfg)
    arr = HicArray(layer.weight.detach(), 1.0, 4, cfg, layer)
    gen = torch.Generator().manual_seed(1)
    expected = arr.counts.clone()
    for _ in range(50):
        old = torch.stack((arr.digits.clamp_min(0), (-arr.digits).clamp_min(0)), dim=1)
        arr.update(torch.randn(16, 8, generator=gen) * arr.lsb * 3, gen)
        new = torch.stack((arr.digits.clamp_min(0), (-arr.digits).clamp_min(0)), dim=1)
        expected += (new - old).abs().double()
    assert torch.equal(arr.counts, expected)
    assert float(expected.sum()) > expected.numel()


def test_mixed_precision_never_pulses_below_eps() -> None:
    eps = 0.01
    chi = torch.linspace(-0.05, 0.05, 10_001)
    n, rest = chi_transfer(chi, eps)
    assert bool((n[chi.abs() < eps] == 0).all())
    assert bool((n.abs() * eps <= chi.abs() + 1e-12).all())
    assert bool((rest.abs() < eps).all()) and torch.allclose(n * eps + rest, chi)
    assert chi_grid(4, eps) == (eps / 4, 7 * eps / 4)  # saturates at 1.75 ε with 4 bits
    assert chi_grid(None, eps)[1] == float("inf")


@pytest.mark.parametrize("device", ["ideal_bi", "ideal_set"])
def test_write_counters_equal_the_pulses_applied(ideal_devices: None, device: str) -> None:
    torch.manual_seed(0)
    layer = AnalogLinear(20, 10, AnalogConfig(device=device))
    cfg = TrainConfig(mode=TrainMode.ONCHIP_SGD, lr=0.5, momentum_placement=MomentumPlacement.NONE)
    gen = torch.Generator().manual_seed(2)
    upd = PulsedSGD([layer], cfg, gen)
    step = upd.alphas[0] * 0.01  # one pulse in weight units
    pos = torch.zeros(20, 10, dtype=torch.float64)
    neg = torch.zeros(20, 10, dtype=torch.float64)
    for _ in range(30):
        w0 = layer.weight.detach().clone()
        upd.step(0, torch.randn(20, 10, generator=gen) * 0.05)
        pulses = (layer.weight.detach() - w0) / step  # read back from the weights alone
        assert torch.allclose(pulses, pulses.round(), atol=1e-3)
        pos += pulses.round().clamp_min(0).double()
        neg += (-pulses.round()).clamp_min(0).double()
    counts = upd.counters()[0][1]
    if device == "ideal_bi":  # one device carries ω, its reference was written once
        assert torch.equal(counts[0], 1 + pos + neg) and bool((counts[1] == 1).all())
    else:  # SET-only pair: positive pulses on ω⁺, negative on ω⁻
        assert torch.equal(counts[0], 1 + pos) and torch.equal(counts[1], 1 + neg)
    assert float((pos + neg).sum()) > 100


@pytest.mark.parametrize("ternary", [True, False])
def test_gxnor_states_stay_in_their_set_and_flips_count_mtj_writes(ternary: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    s = torch.ones(1000) if not ternary else torch.zeros(1000)
    allowed = {-1.0, 0.0, 1.0} if ternary else {-1.0, 1.0}
    for _ in range(20):
        new = gxnor_step(s, torch.randn(1000, generator=gen), ternary, gen)
        assert set(new.unique().tolist()) <= allowed
        flips = (mtj_states(new) != mtj_states(s)).sum(dim=0)
        assert bool((flips[new != s] >= 1).all()) and bool((flips[new == s] == 0).all())
        if not ternary:  # complementary pair: a flip switches both MTJs
            assert bool((flips[new != s] == 2).all())
        s = new


def test_qnn_weights_in_a_network_stay_binary_or_ternary() -> None:
    from models.training.qnn import Qnn

    for kind in QnnWeights:
        torch.manual_seed(0)
        net = nn.Sequential(AnalogLinear(8, 6, AnalogConfig(device="stt_mram")))
        layer = net[0]
        cfg = TrainConfig(mode=TrainMode.QNN, qnn_weights=kind, lr=0.5)
        upd = Qnn([layer], cfg, torch.Generator().manual_seed(0))
        for _ in range(10):
            upd.step(0, torch.randn(8, 6))
            states = set((layer.weight.detach() / upd.alphas[0]).round().unique().tolist())
            assert states <= ({-1.0, 0.0, 1.0} if kind is QnnWeights.TERNARY else {-1.0, 1.0})


def test_to_states_rounds_to_the_nearest_state_by_hand() -> None:
    from models.training.qnn import to_states

    alpha = 2.0
    w = alpha * torch.tensor([-2.0, -0.6, -0.4, 0.0, 0.4, 0.6, 1.4, 3.0])
    assert to_states(w, alpha, ternary=True).tolist() == [-1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # binary takes the sign, and 0 goes to +1
    assert to_states(w, alpha, ternary=False).tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    for dtype in (torch.float32, torch.float64):  # the states keep the weights' dtype, binary included
        assert {to_states(w.to(dtype), alpha, t).dtype for t in (True, False)} == {dtype}


@pytest.mark.parametrize("big", [False, True])
def test_switch_thresholds_give_the_gxnor_transition_probability(
    big: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P(|ν| > T) = tanh(m·|ν|) [G21], from the shared table (windows) or fresh draws (more than half
    the table); T stays below 1, so |ν| → 1 always switches. The table is rebuilt here (its cache
    emptied), so the test reads what ``_threshold_table`` makes now."""
    from models.physics.pulses import UNIFORM_TABLE_SIZE
    from models.training import qnn
    from models.training.qnn import switch_thresholds

    monkeypatch.setattr(qnn, "_THRESHOLDS", {})

    n = UNIFORM_TABLE_SIZE // 2 + 1 if big else 1 << 20
    t = switch_thresholds((n,), torch.float32, torch.Generator().manual_seed(9))
    assert t.shape == (n,) and t.dtype == torch.float32
    assert float(t.max()) < 1.0 and float(t.min()) >= 0.0
    for nu in (0.02, 0.1, 0.25, 0.5, 0.9):
        share = float((t < nu).double().mean())
        assert share == pytest.approx(math.tanh(GXNOR_M * nu), abs=0.003), nu


@pytest.mark.parametrize("ternary", [True, False])
def test_a_qnn_step_of_exactly_one_state_is_deterministic_by_hand(ternary: bool) -> None:
    """α = 0.5 (the initial max |w|) and lr = 0.5·h make z = −g exactly, so a gradient of ±1 moves
    every synapse by exactly one transition (|z| − T ∈ (0, 1]) and 0 moves none (T ≥ 0). The initial
    programming counts one write per MTJ; a step adds one switch and one attempt per MTJ flipped."""
    from models.config import MomentumPlacement, QnnWeights
    from models.training.qnn import Qnn

    h = 1.0 if ternary else 2.0
    layer = AnalogLinear(3, 4, AnalogConfig(device="stt_mram"))
    w0 = torch.tensor([[0.5, -0.2, 0.1, -0.5], [0.3, 0.0, -0.4, 0.2], [-0.1, 0.45, 0.26, -0.3]])
    with torch.no_grad():
        layer.weight.copy_(w0)
    kind = QnnWeights.TERNARY if ternary else QnnWeights.BINARY
    cfg = TrainConfig(
        mode=TrainMode.QNN, qnn_weights=kind, lr=0.5 * h, momentum_placement=MomentumPlacement.DIGITAL
    )
    upd = Qnn([layer], cfg, torch.Generator().manual_seed(0))
    assert upd.alphas == [0.5] and upd.digital_bits_per_weight == 32.0
    s0 = torch.round(w0 / 0.5).clamp(-1, 1) if ternary else torch.where(w0 >= 0, 1.0, -1.0)
    assert torch.equal(upd.states[0], s0) and torch.equal(layer.weight.detach(), s0 * 0.5)
    assert torch.equal(upd.counts[0], torch.ones(2, 3, 4, dtype=torch.float64))
    assert torch.equal(upd.attempts[0], torch.ones(2, 3, 4, dtype=torch.float64))
    g = torch.tensor([[1.0, -1.0, 0.0, 1.0], [-1.0, 1.0, 1.0, 0.0], [0.0, -1.0, -1.0, 1.0]])
    upd.step(0, g)
    new = (s0 - torch.sign(g) * h).clamp(-1.0, 1.0)  # z = −g: one transition of h against g
    assert torch.equal(upd.states[0], new) and torch.equal(layer.weight.detach(), new * 0.5)
    flipped = (mtj_states(new) != mtj_states(s0)).double()
    assert torch.equal(upd.counts[0], 1.0 + flipped)
    # the attempted target s − h·sign(g) (unclipped) flips exactly the MTJs that switched here
    assert torch.equal(upd.attempts[0], 1.0 + flipped)
    assert torch.equal(upd._signs[0][0], new > 0) and torch.equal(upd._signs[0][1], new < 0)


def test_the_threshold_table_is_pinned_and_the_same_at_every_build() -> None:
    """Drawn on the CPU from its own seed, never the global stream: every build (and every torch
    device's copy) holds the same values; the first ones are pinned."""
    from models.physics.pulses import UNIFORM_TABLE_SIZE
    from models.training.qnn import _threshold_table

    torch.manual_seed(1)
    a = _threshold_table(torch.float32)
    torch.manual_seed(2)
    b = _threshold_table(torch.float32)
    assert torch.equal(a, b) and a.shape == (UNIFORM_TABLE_SIZE,) and a.dtype == torch.float32
    assert a.device.type == "cpu"
    assert a[:3].tolist() == [0.23881106078624725, 0.13374799489974976, 0.25110045075416565]
    c = _threshold_table(torch.float64)
    assert c.dtype == torch.float64 and c[:3].tolist() == [
        0.524457748158858,
        0.0324067870693143,
        0.29489001866543346,
    ]
