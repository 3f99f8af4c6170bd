"""The 2PCM + 3T1C cell [A18]: capacitor updates, leak, transfer with polarity inversion, counts."""

from __future__ import annotations

import math

import pytest
import torch

from models.config import AnalogConfig, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.training.modes import check_mode, valid_modes
from models.training.pcm_2t1c import Pcm2T1C


def _cell(**cfg: object) -> tuple[AnalogLinear, Pcm2T1C]:
    torch.manual_seed(0)
    layer = AnalogLinear(20, 10, AnalogConfig(device="ideal_set"))
    conf = TrainConfig(mode=TrainMode.PCM_2T1C, momentum=0.0, batch_size=10, **cfg)  # type: ignore[arg-type]
    return layer, Pcm2T1C([layer], conf, torch.Generator().manual_seed(1))


def test_capacitor_updates_are_charge_steps_clipped_and_counted(ideal_devices: None) -> None:
    layer, cell = _cell(cap_update_bits=4, cap_retention_images=0.0, lr=0.5, transfer_images=10**6)
    w0 = layer.weight.detach().clone()
    g = torch.randn(20, 10, generator=torch.Generator().manual_seed(2)) * 0.05
    cell.step(0, g)
    q = cell.caps[0] / cell.lsb
    assert torch.allclose(q, q.round(), atol=1e-5)  # whole charge steps
    assert cell.lsb == pytest.approx(cell.c_max / 8)  # 4 bits: c_max/2^3
    assert torch.equal(cell.cap_counts[0], (q.round() != 0).double())
    # the weight moved by α·p·c; rounding is unbiased: E[Δc] = −lr·g/α
    assert torch.allclose(layer.weight.detach() - w0, cell.alphas[0] * cell.caps[0], atol=1e-6)
    for _ in range(200):
        cell.step(0, torch.full((20, 10), -1.0))
    assert torch.allclose(cell.caps[0], torch.full((20, 10), cell.c_max))  # saturates at +c_max


def test_capacitor_leaks_with_its_time_constant(ideal_devices: None) -> None:
    _layer, cell = _cell(cap_retention_images=50.0, transfer_images=10**6)
    cell.caps[0].fill_(0.5)
    cell.step(0, torch.zeros(20, 10))
    assert torch.allclose(cell.caps[0], torch.full((20, 10), 0.5 * math.exp(-10 / 50)))


def test_transfer_moves_the_capacitors_onto_the_pcm_pair_and_inverts_polarity(ideal_devices: None) -> None:
    layer, cell = _cell(cap_retention_images=0.0, transfer_images=10**6, pcm_gain=3.0)
    arr = cell.pcm[0]
    c = (torch.rand(20, 10, generator=torch.Generator().manual_seed(3)) * 2 - 1) * 0.5
    c[0, :] = 0.0
    cell.caps[0].copy_(c)
    cell._write_back(0)
    w_before, counts = layer.weight.detach().clone(), arr.counts.clone()
    caps_before = cell.cap_counts[0].clone()
    cell.transfer()
    eps = 0.01  # ideal_set: constant steps of 0.01, no noise
    n = torch.round(c.abs() / (3.0 * eps)).double()  # nearest whole pulses on the nominal (linear) response
    assert torch.allclose(arr.counts[0] - counts[0], n * (c > 0), atol=1e-9)
    assert torch.allclose(arr.counts[1] - counts[1], n * (c < 0), atol=1e-9)
    # the weight is kept up to half a PCM step (F·ε/2 in ω_W units)
    err = (layer.weight.detach() - w_before).abs().max()
    assert float(err) <= cell.alphas[0] * 3.0 * eps / 2 + 1e-6
    assert torch.equal(cell.caps[0], torch.zeros(20, 10)) and cell.polarity == -1.0
    assert torch.equal(cell.cap_counts[0] - caps_before, (c != 0).double())  # one reset write each
    # after the inversion, an update still moves the weight the way the gradient asks
    w1 = layer.weight.detach().clone()
    cell.step(0, torch.full((20, 10), -0.5))
    assert bool((layer.weight.detach() >= w1 - 1e-7).all()) and float((layer.weight.detach() - w1).sum()) > 0


def test_pcm_2t1c_is_valid_on_pcm_only() -> None:
    check_mode("pcm", "pcm_2t1c")
    assert TrainMode.PCM_2T1C in valid_modes("pcm")
    with pytest.raises(ValueError, match=r"pcm_2t1c.*rram.*one-directional PCM.*valid modes: hwa"):
        check_mode("rram", "pcm_2t1c")


def test_the_trained_chip_is_the_pcm_pair_after_the_last_transfer() -> None:
    """Evaluation reads what the PCM holds: the last transfer happens before the trained chip is
    taken, so its weight is the trained weight and its conductances are the PCM pair's own."""
    from models.nn.networks import analog_layers
    from models.training.trainers import train

    torch.manual_seed(0)
    net = torch.nn.Sequential(AnalogLinear(16, 8, AnalogConfig(device="pcm")))
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(64, 16, generator=gen), torch.randint(0, 8, (64,), generator=gen)
    # a transfer every 10⁶ images: only the last one, at the end, moves the capacitors to PCM
    cfg = TrainConfig(mode=TrainMode.PCM_2T1C, epochs=2, batch_size=16, lr=0.1, transfer_images=10**6)
    train(net, x, y, cfg)
    (layer,) = analog_layers(net)
    chip = layer.trained_chip
    assert chip is not None
    torch.testing.assert_close(chip.weight(), layer.weight.detach(), rtol=0, atol=1e-6)
    # both devices of the pair as the PCM holds them (SET-only: ω⁺ and ω⁻ both grow), not |w|
    # on the device of its sign with the other at g_min
    dev = layer.device_spec
    assert bool((chip.g[0, 1] > dev.g_min_us + 1e-6)[layer.weight.detach() > 0].any())
