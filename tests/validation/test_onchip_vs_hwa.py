"""On-chip versus hwa on the same chip budget (docs/validation.md).

Digits, MLP 64-64-10, PCM, 64×64 tiles, 8-bit DAC/ADC, 5 epochs at batch 32 and lr 0.05,
two training seeds, three hardware seeds each, GDC on. hwa trains off-chip and programs fresh
chips; onchip_sgd and mixed_precision train their chip (noisy reads, calibrated converter
ranges, analog backward) and are read on it. Published anchors: mixed precision on PCM
hardware reaches 97.73 % on MNIST, within 0.6 pp of software [N20]; 2PCM+3T1C training is
software-equivalent [A18]. Our claim, with 1,300 training images and 5 epochs, at 1 s and at
1 day: onchip_sgd within 4 pp of hwa on the same chip and 5 pp of software, mixed_precision
within 9 / 9.5 pp (measured with aihwkit's PCM update rule: onchip_sgd 3.1 / 3.8 pp,
mixed_precision 7.7 / 8.4 pp; [N20]'s 0.6 pp is not reproduced, see docs/validation.md).
"""

from __future__ import annotations

import functools
import statistics

import torch

from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import build_network
from models.training.trainers import train, train_digital
from tests.models.test_training_modes import digits

SEEDS = (0, 1)
READS = (1.0, 86400.0)
VS_HWA_PP = {TrainMode.ONCHIP_SGD: 4.0, TrainMode.MIXED_PRECISION: 9.0}
VS_SOFTWARE_PP = {TrainMode.ONCHIP_SGD: 5.0, TrainMode.MIXED_PRECISION: 9.5}
"""Per mode, the regression bounds we claim (docs/validation.md): measured with aihwkit's PCM
update rule (exponential SET-only step [A]), onchip_sgd 3.1 / 3.8 pp and mixed_precision 7.7 /
8.4 pp below hwa / software."""


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = NetworkConfig(hidden=(64,), in_features=64, in_shape=(64,))
    return build_network(net, AnalogConfig(device="pcm", tile_rows=64, tile_cols=64))


@functools.cache
def _software() -> float:
    x, y, xt, yt = digits()
    accs = []
    for seed in SEEDS:
        net = _net()
        train_digital(net, x, y, TrainConfig(epochs=5, batch_size=32, lr=0.05, seed=seed))
        accs.append(inference.digital_accuracy(net, xt, yt))
    return statistics.fmean(accs)


def _chip_accuracy(mode: TrainMode) -> tuple[dict[float, float], str]:
    """Mean accuracy (GDC on) at each read time over training and hardware seeds; the chip judged."""
    x, y, xt, yt = digits()
    accs: dict[float, list[float]] = {t: [] for t in READS}
    chip = ""
    for seed in SEEDS:
        net = _net()
        train(net, x, y, TrainConfig(mode=mode, epochs=5, batch_size=32, lr=0.05, seed=seed))
        chip = inference.eval_chip(net)
        by_time = inference.evaluate_read_times(net, x[:256], xt, yt, [1, 2, 3], READS)
        for t in READS:
            accs[t] += by_time[(t, True)]
    return {t: statistics.fmean(a) for t, a in accs.items()}, chip


def test_on_chip_modes_match_hwa_and_software_on_the_same_chip_budget() -> None:
    software = _software()
    hwa, hwa_chip = _chip_accuracy(TrainMode.HWA)
    assert hwa_chip == "fresh"
    for mode in (TrainMode.ONCHIP_SGD, TrainMode.MIXED_PRECISION):
        onchip, chip = _chip_accuracy(mode)
        assert chip == "trained"
        for t in READS:
            print(f"{mode.value} t={t:g}s: {onchip[t]:.4f}; hwa {hwa[t]:.4f}; software {software:.4f}")
            assert 100 * (software - onchip[t]) <= VS_SOFTWARE_PP[mode], (mode, t, onchip[t], software)
            assert 100 * abs(hwa[t] - onchip[t]) <= VS_HWA_PP[mode], (mode, t, onchip[t], hwa[t])
