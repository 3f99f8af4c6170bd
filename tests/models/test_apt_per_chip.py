"""APT against the chip calibrates each evaluated chip on itself (apt.PerChip as the evaluation's prepare)."""

from __future__ import annotations

import copy

import torch

from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import analog_layers, build_network
from models.training import apt
from models.training.trainers import pretrain
from tests.models.test_training_modes import digits


def test_each_chip_is_programmed_once_and_calibrated_on_itself() -> None:
    x, y, xt, yt = digits()
    cfg = TrainConfig(mode=TrainMode.APT, epochs=1, apt_steps=5, apt_data_fraction=0.05, seed=3)
    net = NetworkConfig(model="mlp", hidden=(16,), in_features=64, in_shape=(64,), classes=10)
    model = build_network(net, AnalogConfig(device="pcm", tile_size=32))
    torch.manual_seed(3)
    pretrain(model, x, y, cfg)
    per_chip = apt.PerChip(model, x, y, cfg)
    pretrained = [p.detach().clone() for p in per_chip.params]

    calibrated = {}
    for seed in (11, 12):
        per_chip(model, seed)  # programs chip `seed` and calibrates against it, leaving it programmed
        reference = copy.deepcopy(model)
        inference.program(reference, seed)  # the same chip, programmed afresh
        for layer, ref in zip(analog_layers(model), analog_layers(reference), strict=True):
            assert torch.equal(layer.programmed, ref.programmed)
        calibrated[seed] = [p.detach().clone() for p in per_chip.params]
        for layer in analog_layers(model):
            layer.unprogram()
    assert per_chip.seconds > 0
    assert any(not torch.equal(a, b) for a, b in zip(calibrated[11], calibrated[12], strict=True))  # per chip
    per_chip.restore()
    assert all(torch.equal(p, q) for p, q in zip(per_chip.params, pretrained, strict=True))
    scores = inference.evaluate_read_times(model, x[:64], xt, yt, [11, 12], (1.0,), prepare=per_chip)
    assert len(scores[(1.0, True)]) == 2 and all(0.0 <= a <= 1.0 for a in scores[(1.0, True)])
