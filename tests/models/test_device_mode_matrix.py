"""Every valid (device, training mode) pair trains a tiny MLP for one epoch on digits and beats chance.

The pairs come from :func:`models.training.modes.valid_pairs`, so a new device or mode joins the matrix
without editing this file. Chance on the 10 digit classes is 0.10; on the 400 held-out digits its
binomial standard deviation is 0.015, so the 0.175 floor is 5 σ above chance. Measured (seed 0, with
chip-true training reads and the aihwkit update rules): 0.20 (rram/mixed_precision: noisy reads and
RRAM's exponential step leave one epoch of χ transfers little to learn from) and 0.33
(rram/onchip_sgd), then 0.42 to 0.74 (pcm/onchip_sgd).
"""

from __future__ import annotations

import functools

import pytest
import torch

from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import build_network
from models.training.modes import valid_pairs
from models.training.trainers import train

CHANCE, MARGIN = 0.10, 0.075
EXTRA: dict[TrainMode, dict[str, object]] = {TrainMode.QNN: {"lr": 0.2}, TrainMode.APT: {"apt_steps": 5}}
"""Per-mode settings the defaults lack for a one-epoch run (qnn's stochastic switching needs a larger lr)."""


@functools.cache
def digits() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    return x[:640], y[:640], x[1000:1400], y[1000:1400]


def test_the_matrix_covers_every_device_and_mode() -> None:
    pairs = valid_pairs()
    assert {d for d, _ in pairs} >= {"pcm", "rram", "stt_mram", "fefet", "ecram", "sram"}
    assert {m for _, m in pairs} == set(TrainMode)
    assert len(pairs) >= 26


@pytest.mark.parametrize(
    ("device", "mode"), [pytest.param(d, m, id=f"{d}-{m.value}") for d, m in valid_pairs()]
)
def test_every_valid_pair_beats_chance_after_one_epoch(device: str, mode: TrainMode) -> None:
    x, y, xt, yt = digits()
    torch.manual_seed(0)
    net = build_network(
        NetworkConfig(hidden=(32,), in_features=64, in_shape=(64,)),
        AnalogConfig(device=device, tile_rows=64, tile_cols=64, binary_devices=int(mode is TrainMode.HIC)),
    )
    cfg = TrainConfig(mode=mode, **{"epochs": 1, "batch_size": 32, "lr": 0.05, **EXTRA.get(mode, {})})
    result = train(net, x, y, cfg)
    assert result.writes.max_per_device >= 1  # it programmed (off-chip) or wrote (on-chip) the devices
    accuracy = inference.evaluate_hardware(net, x[:128], xt, yt, [0])[0]
    assert accuracy > CHANCE + MARGIN, f"{device}/{mode.value}: {accuracy:.3f}"
