"""docs/validation.md's pcm_2t1c table: float baseline, trained weights read digitally, and the
trained chip (2 read-noise seeds), per training seed, in the setting of
``tests/validation/test_pcm_2t1c_accuracy.py``. Run: ``PYTHONPATH=. python benchmarks/pcm_2t1c_table.py``."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from test_training_modes import _net, digits

from models.config import TrainConfig, TrainMode
from models.nn import inference
from models.training.trainers import pretrain, train


def main() -> None:
    torch.set_num_threads(1)
    x, y, xt, yt = digits()
    print("| seed | float baseline | trained weights (digital read) | trained chip (2 read seeds) |")
    print("|---|---|---|---|")
    for seed in (0, 1):
        common = {"epochs": 10, "batch_size": 32, "lr": 0.05, "seed": seed}
        net = _net("pcm", seed=seed)
        pretrain(net, x, y, TrainConfig(mode=TrainMode.APT, **common))
        base = inference.digital_accuracy(net, xt, yt)
        net = _net("pcm", seed=seed)
        train(net, x, y, TrainConfig(mode=TrainMode.PCM_2T1C, transfer_images=256, **common))
        chip = statistics.fmean(inference.evaluate_hardware(net, x[:256], xt, yt, [1, 2]))
        digital = inference.digital_accuracy(net, xt, yt)
        print(f"| {seed} | {base:.1%} | {digital:.1%} | {chip:.1%} ({inference.eval_chip(net)}) |")


if __name__ == "__main__":
    main()
