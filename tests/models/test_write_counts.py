"""Write attempts (pulses: energy, time) and state changes (switches: wear) are counted apart."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, QnnWeights, TrainConfig, TrainMode
from models.cost.model import hardware_cost
from models.nn.layers import AnalogLinear
from models.nn.networks import build_network, layer_shapes
from models.physics.devices import DEVICES
from models.training.qnn import Qnn
from models.training.trainers import train


def _qnn(kind: QnnWeights, lr: float) -> tuple[AnalogLinear, Qnn]:
    torch.manual_seed(0)
    layer = AnalogLinear(16, 8, AnalogConfig(device="stt_mram"))
    cfg = TrainConfig(mode=TrainMode.QNN, qnn_weights=kind, lr=lr, momentum_placement=MomentumPlacement.NONE)
    return layer, Qnn([layer], cfg, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", list(QnnWeights))
def test_a_tiny_update_pulses_every_movable_synapse_but_switches_none(kind: QnnWeights) -> None:
    # |Δz| ≈ 1e-9 states: switching probability tanh(3e-9) ≈ 0, yet every synapse not already at
    # the bound in the update's direction gets a pulse on each MTJ its move would switch
    _, upd = _qnn(kind, lr=1e-9)
    s = upd.states[0].clone()
    grad = torch.where(torch.arange(128).reshape(16, 8) % 2 == 0, 1.0, -1.0) * upd.alphas[0]
    upd.step(0, grad)
    assert torch.equal(upd.states[0], s)  # nothing switched
    assert float(upd.counts[0].sum()) == 2 * 128  # the first programming only
    up = grad < 0  # −lr·g > 0 moves the state up
    movable = torch.where(up, s < 1, s > -1)
    mtjs_per_move = 1 if kind is QnnWeights.TERNARY else 2  # binary: both MTJs of the pair flip
    assert float(upd.attempts[0].sum()) == 2 * 128 + mtjs_per_move * int(movable.sum())


@pytest.mark.parametrize("kind", list(QnnWeights))
def test_switches_never_exceed_attempts_and_a_sure_move_pulses_exactly_what_switches(
    kind: QnnWeights,
) -> None:
    _, upd = _qnn(kind, lr=0.3)
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        upd.step(0, torch.randn(16, 8, generator=gen))
        assert bool((upd.counts[0] <= upd.attempts[0]).all())
    # a whole-state move (|Δz| ≥ 1) switches for sure: every pulse it costs is a switch
    before_a, before_c = upd.attempts[0].clone(), upd.counts[0].clone()
    h = 1.0 if kind is QnnWeights.TERNARY else 2.0
    upd.step(0, torch.full((16, 8), 2.0 * h * upd.alphas[0] / 0.3))  # Δz = −2 states everywhere
    assert torch.equal(upd.attempts[0] - before_a, upd.counts[0] - before_c)


def test_qnn_training_records_attempts_apart_from_switches_and_prices_attempts() -> None:
    torch.manual_seed(0)
    net = build_network(
        NetworkConfig(hidden=(16,), in_features=32, in_shape=(32,)), AnalogConfig(device="stt_mram")
    )
    x = torch.randn(256, 32, generator=torch.Generator().manual_seed(1))
    y = (x[:, 0] > 0).long()
    result = train(net, x, y, TrainConfig(mode=TrainMode.QNN, epochs=1, batch_size=32, lr=0.2))
    assert result.attempts is not None
    assert result.attempts.total > result.writes.total  # most pulses do not switch
    assert result.attempts.max_per_device >= result.writes.max_per_device
    dev = DEVICES["stt_mram"]
    shapes = layer_shapes(net, x[:2])
    c = hardware_cost(
        AnalogConfig(device="stt_mram"),
        dev,
        shapes,
        result.writes.max_per_device,
        result.writes.mean_per_device,
        writes_total=result.writes.total,
        write_attempts_total=result.attempts.total,
        write_attempts_max=result.attempts.max_per_device,
    )
    assert c.write_attempts_total == result.attempts.total and c.writes_total == result.writes.total
    assert c.energy_training_write_j == pytest.approx(result.attempts.total * dev.write_energy_pj * 1e-12)
    assert c.lifetime_fraction_used == pytest.approx(result.writes.max_per_device / dev.endurance_cycles)


def test_pulsed_modes_count_every_pulse_as_a_state_change() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(AnalogLinear(32, 2, AnalogConfig(device="rram")))
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
    result = train(net, x, (x[:, 0] > 0).long(), TrainConfig(mode=TrainMode.ONCHIP_SGD, epochs=1))
    assert result.attempts is None and result.write_attempts == result.writes
