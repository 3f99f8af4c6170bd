"""APT programs the chip once, touches only its apt_data_fraction subset, and fits that chip."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.config import AnalogConfig, AptTarget, NetworkConfig, TrainConfig, TrainMode
from models.nn.layers import AnalogMatrix
from models.nn.networks import analog_layers, build_network
from models.training import apt


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(400, 1, 8, 8, generator=gen), torch.randint(0, 10, (400,), generator=gen)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = NetworkConfig(model="resnet20", width_mult=0.25, in_features=64, in_shape=(1, 8, 8))
    return build_network(cfg, AnalogConfig(device="pcm", tile_rows=64, tile_cols=64))


@pytest.mark.parametrize("target", [AptTarget.CHIP, AptTarget.NOISE])
def test_apt_programs_at_most_once_and_reads_only_its_subset(
    target: AptTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _data()
    cfg = TrainConfig(
        mode=TrainMode.APT, apt_steps=5, apt_data_fraction=0.05, batch_size=8, apt_target=target
    )
    net = _net()
    programs = []
    original = AnalogMatrix.program

    def counting(self: AnalogMatrix, generator: torch.Generator) -> None:
        programs.append(id(self))
        original(self, generator)

    monkeypatch.setattr(AnalogMatrix, "program", counting)
    seen: list[torch.Tensor] = []
    net.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    apt.calibrate(net, x, y, cfg)
    layers = analog_layers(net)
    assert len(programs) == len(layers) and len(set(programs)) == len(layers)  # each layer once
    subset = apt.calibration_subset(x, y, cfg)[0].reshape(20, -1)
    assert subset.shape[0] == round(0.05 * 400)
    for batch in seen:  # every sample APT touched (converter calibration included) is in the subset
        rows = batch.reshape(batch.shape[0], -1)
        assert bool((torch.cdist(rows, subset).amin(dim=1) == 0).all())
    assert all(layer.programmed is None for layer in layers)  # nothing left programmed


def test_noise_target_uses_the_measured_programming_noise() -> None:
    net = _net()
    etas = apt.programming_noise_std(net, seed=3)
    layer = analog_layers(net)[1]
    # PCM [A]: σ(µS) = 0.26348 + 1.9650x − 1.1731x² over g_max 25 µS: 1 %–4.2 % of g_max per device,
    # both devices of the pair plus level quantization: a few % of w_max
    assert all(0.005 < e < 0.1 for e in etas) and len(etas) == len(analog_layers(net))
    scaled = apt.programming_noise_std(_scaled(net, 3.0), seed=3)
    assert scaled[1] > 2.0 * etas[1] and layer.programmed is None


def _scaled(net: torch.nn.Module, scale: float) -> torch.nn.Module:
    for layer in analog_layers(net):
        layer.config = dataclasses.replace(layer.config, prog_noise_scale=scale)
    return net
