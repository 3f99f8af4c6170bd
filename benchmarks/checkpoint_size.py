"""Checkpoint size of a :class:`~models.training.session.TrainingRun` per training mode.

The benchmark MLP of DESIGN.md §8 (784-512-512-10, 256-row tiles), trained one epoch on 256
random samples (a checkpoint's size does not depend on the data, which it never holds), saved,
and measured. Printed per mode: the file size in MiB, and its ratio to the float32 weights
alone (what a plain ``state_dict`` of the digital network would take).

    PYTHONPATH=. .venv/bin/python benchmarks/checkpoint_size.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, TrainConfig, TrainMode
from models.nn.networks import build_network
from models.training.session import TrainingRun

MODES: dict[str, tuple[str, dict[str, object], dict[str, object]]] = {
    "hwa (pcm)": ("pcm", {}, {"mode": TrainMode.HWA}),
    "apt (rram)": ("rram", {}, {"mode": TrainMode.APT}),
    "onchip_sgd (rram, digital momentum)": ("rram", {}, {"mode": TrainMode.ONCHIP_SGD}),
    "onchip_sgd (pcm, in-memory momentum)": (
        "pcm",
        {},
        {"mode": TrainMode.ONCHIP_SGD, "momentum_placement": MomentumPlacement.IN_MEMORY},
    ),
    "mixed_precision (pcm, 8-bit χ)": ("pcm", {}, {"mode": TrainMode.MIXED_PRECISION, "update_bits": 8}),
    "hic (pcm, 1 binary + 1 multi-level, 4-bit acc.)": (
        "pcm",
        {"binary_devices": 1},
        {"mode": TrainMode.HIC, "update_bits": 4},
    ),
    "qnn (stt_mram, ternary)": ("stt_mram", {}, {"mode": TrainMode.QNN}),
    "pcm_2t1c (pcm)": ("pcm", {}, {"mode": TrainMode.PCM_2T1C}),
}


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(256, 784, generator=gen), torch.randint(0, 10, (256,), generator=gen)
    weights_mib = (784 * 512 + 512 * 512 + 512 * 10) * 4 / 2**20
    print(f"{'mode':<50} {'checkpoint MiB':>14} {'÷ fp32 weights':>15}")
    for name, (device, analog, train) in MODES.items():
        torch.manual_seed(0)
        net_cfg = NetworkConfig(hidden=(512, 512), in_features=784, in_shape=(784,))
        net = build_network(net_cfg, AnalogConfig(device=device, tile_rows=256, tile_cols=256, **analog))  # type: ignore[arg-type]
        cfg = TrainConfig(epochs=3, batch_size=64, **train)  # type: ignore[arg-type]
        run = TrainingRun.start(net, x, y, cfg)
        run.advance(1)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.ckpt"
            run.save(path)
            mib = path.stat().st_size / 2**20
        print(f"{name:<50} {mib:>14.1f} {mib / weights_mib:>15.1f}")
    print(f"(fp32 weights of the MLP: {weights_mib:.2f} MiB)")


if __name__ == "__main__":
    main()
