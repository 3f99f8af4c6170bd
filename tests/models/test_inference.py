"""Evaluation over read times: one programming per seed, reused for every t, GDC off and on."""

from __future__ import annotations

import pytest
import torch

from models.config import AnalogConfig, NetworkConfig, TrainConfig
from models.nn import inference
from models.nn.layers import AnalogLinear
from models.nn.networks import analog_layers, build_network
from models.training.trainers import train_hwa


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 16, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.randint(0, 4, (n,), generator=g)
    return centers[y] + 0.5 * torch.randn(n, 16, generator=g), y


def _trained(device: str) -> torch.nn.Module:
    x, y = _data(512, 0)
    net = build_network(
        NetworkConfig(hidden=(32,), in_features=16, in_shape=(16,), classes=4),
        AnalogConfig(device=device, tile_rows=8, tile_cols=16),
    )
    train_hwa(net, x, y, TrainConfig(epochs=3, lr=0.05, eta_train=0.05))
    return net


def test_evaluate_read_times_keys_reuse_and_restore() -> None:
    net = _trained("pcm")
    weights = [m.weight.detach().clone() for m in analog_layers(net)]
    x, y = _data(256, 1)
    t_eval = (1.0, 86400.0, 365 * 86400.0)
    res = inference.evaluate_read_times(net, x[:64], x, y, [0, 1, 2], t_eval)
    assert set(res) == {(t, g) for t in t_eval for g in (False, True)}
    assert all(len(v) == 3 and all(0.0 <= a <= 1.0 for a in v) for v in res.values())
    assert min(res[(1.0, True)]) > 0.9  # the task is easy: hardware at 1 s keeps the accuracy
    assert res == inference.evaluate_read_times(net, x[:64], x, y, [0, 1, 2], t_eval)  # reproducible
    for m, w in zip(analog_layers(net), weights, strict=True):  # trained weights untouched, chip forgotten
        assert torch.equal(m.weight, w) and m.programmed is None


def test_digital_baseline_does_not_change_over_time() -> None:
    net = _trained("sram")
    x, y = _data(128, 2)
    res = inference.evaluate_read_times(net, x[:32], x, y, [0, 1])
    values = {a for v in res.values() for a in v}
    assert len(values) == 1
    assert inference.evaluate_hardware(net, x[:32], x, y, [5]) == [values.pop()]


def test_gdc_restores_the_reference_read_of_each_tile() -> None:
    """GDC [A, J20] scales a tile's outputs by Σ|reference read| after programming over Σ|same read|
    now: with exact converters and no read noise, an all-ones input (that reference read, on one tile of
    positive weights) gives back its t = 0 sum at one year, while PCM drift alone (ν ≈ 0.05,
    ((t + t0)/t0)^−ν ≈ 0.5 at a year) loses about half of it."""
    cfg = AnalogConfig(
        device="pcm", tile_rows=32, tile_cols=16, adc_bits=None, dac_bits=None, read_noise_scale=0.0
    )
    layer = AnalogLinear(32, 16, cfg, bias=False).eval()
    with torch.no_grad():
        layer.weight.copy_(0.1 + torch.rand(32, 16, generator=torch.Generator().manual_seed(3)))
    ones = torch.ones(1, 32)
    gen = torch.Generator().manual_seed(0)
    layer.program(gen)
    at_zero = float(layer(ones).sum())
    layer.set_read_time(365 * 86400.0, gen)
    layer.gdc = False
    drifted = float(layer(ones).sum())
    layer.gdc = True
    compensated = float(layer(ones).sum())
    assert 0.3 * at_zero < drifted < 0.7 * at_zero
    assert compensated == pytest.approx(at_zero, rel=1e-5)
