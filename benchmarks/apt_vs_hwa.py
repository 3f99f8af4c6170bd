"""APT versus hwa on a BatchNorm-heavy network, at several programming-noise levels (no asserts).

ResNet-20 (width 0.25) on digits (sklearn 8×8, 1,300 train / 497 test: CIFAR-10 is not read at
run time), PCM tiles 128×128, 6-bit DAC/ADC. For each ``prog_noise_scale``: a floating-point
model (cacheable pretraining) evaluated uncalibrated, after APT against the chip (each chip
calibrated on itself) and against the noise statistics; and hwa trained for the same epochs.
Accuracy is the mean over hardware seeds at t = 1 s (GDC on); data used counts every sample
touched after pretraining; times are wall seconds at 1 torch thread.

Run: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/apt_vs_hwa.py [--epochs 4] [--seeds 2]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from models.config import AnalogConfig, AptTarget, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import build_network
from models.training import apt
from models.training.trainers import pretrain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    from dse.engine.data import load_digits

    d = load_digits()
    x, y = torch.from_numpy(d.x_train).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_train)
    xt, yt = torch.from_numpy(d.x_test).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_test)
    net_cfg = NetworkConfig(model="resnet20", width_mult=0.25, in_features=64, in_shape=(1, 8, 8))
    seeds = list(range(1, args.seeds + 1))
    base = TrainConfig(
        mode=TrainMode.APT, epochs=args.epochs, apt_steps=args.steps, apt_data_fraction=args.fraction
    )
    n_apt = apt.calibration_subset(x, y, base)[0].shape[0]
    print(f"train split {x.shape[0]}, apt subset {n_apt} samples ({100 * n_apt / x.shape[0]:.1f} %)")
    print("| prog_noise_scale | method | accuracy | data used after pretraining | wall s |")
    print("|---|---|---|---|---|")
    for scale in args.scales:
        analog = AnalogConfig(
            device="pcm", tile_rows=128, tile_cols=128, adc_bits=6, dac_bits=6, prog_noise_scale=scale
        )
        torch.manual_seed(0)
        fp = build_network(net_cfg, analog)
        t0 = time.perf_counter()
        pretrain(fp, x, y, base)
        t_fp = time.perf_counter() - t0
        state = {k: v.clone() for k, v in fp.state_dict().items()}

        def row(method: str, accs: list[float], used: str, secs: float, scale: float = scale) -> None:
            print(
                f"| {scale:g} | {method} | {statistics.fmean(accs):.3f} | {used} | {secs:.1f} |", flush=True
            )

        x_cal = apt.calibration_subset(x, y, base)[0]
        row(
            "fp, uncalibrated",
            inference.evaluate_hardware(fp, x_cal, xt, yt, seeds),
            f"{n_apt} (converters)",
            t_fp,
        )
        for target in (AptTarget.CHIP, AptTarget.NOISE):
            fp.load_state_dict(state, strict=False)  # out_scale (added by apt) is restored by apt itself
            cfg = dataclasses.replace(base, apt_target=target)
            t0 = time.perf_counter()
            accs = apt.evaluate_per_chip(fp, x, y, cfg, xt, yt, seeds)
            secs = (time.perf_counter() - t0) / (len(seeds) if target is AptTarget.CHIP else 1)
            row(f"apt ({target.value})", accs, str(n_apt), secs)
        torch.manual_seed(0)
        hwa = build_network(net_cfg, analog)
        t0 = time.perf_counter()
        pretrain(hwa, x, y, dataclasses.replace(base, mode=TrainMode.HWA))
        t_hwa = time.perf_counter() - t0
        accs = inference.evaluate_hardware(hwa, x[:256], xt, yt, seeds)
        row("hwa", accs, f"{args.epochs}×{x.shape[0]} + 256 (converters)", t_hwa)


if __name__ == "__main__":
    main()
