"""APT versus hwa (source 000's claim: hwa-like accuracy with < 1 % of the data), at 3× PCM
programming noise, where the uncalibrated float model loses most. ResNet-20 (width 0.25, BatchNorm
everywhere) on digits (CIFAR-10 is not read at run time). See docs/validation.md, "APT versus hwa";
the full table: ``benchmarks/apt_vs_hwa.py``."""

from __future__ import annotations

import dataclasses
import statistics

import torch

from dse.engine.data import load_digits
from models.config import AnalogConfig, AptTarget, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import build_network
from models.training import apt
from models.training.trainers import pretrain

SEEDS = [1, 2]


def test_apt_on_the_chip_recovers_what_programming_noise_costs() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare()
    finally:
        torch.set_num_threads(threads)


def _compare() -> None:
    d = load_digits()
    x, y = torch.from_numpy(d.x_train).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_train)
    xt, yt = torch.from_numpy(d.x_test).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_test)
    net_cfg = NetworkConfig(model="resnet20", width_mult=0.25, in_features=64, in_shape=(1, 8, 8))
    analog = AnalogConfig(
        device="pcm", tile_rows=128, tile_cols=128, adc_bits=6, dac_bits=6, prog_noise_scale=3.0
    )
    cfg = TrainConfig(mode=TrainMode.APT, epochs=4, apt_steps=100, apt_target=AptTarget.CHIP)
    torch.manual_seed(0)
    fp = build_network(net_cfg, analog)
    pretrain(fp, x, y, cfg)
    x_cal = apt.calibration_subset(x, y, cfg)[0]
    assert x_cal.shape[0] == round(0.01 * x.shape[0])  # 13 of 1,347 samples
    plain = statistics.fmean(inference.evaluate_hardware(fp, x_cal, xt, yt, SEEDS))
    chip = statistics.fmean(apt.evaluate_per_chip(fp, x, y, cfg, xt, yt, SEEDS))
    torch.manual_seed(0)
    hwa = build_network(net_cfg, analog)
    pretrain(hwa, x, y, dataclasses.replace(cfg, mode=TrainMode.HWA))
    trained = statistics.fmean(inference.evaluate_hardware(hwa, x[:256], xt, yt, SEEDS))
    # measured (docs/validation.md): uncalibrated 0.602, apt (chip) 0.776, hwa 0.768
    assert chip >= plain + 0.08
    assert chip >= trained - 0.03
