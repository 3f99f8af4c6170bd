"""Analog layer speed: ratios measured in one run (no asserts; see DESIGN.md §8).

1. hwa training step of the analog MLP 784-512-512-10, batch 64, 256×256 tiles, 8-bit DAC/ADC,
   over the plain PyTorch step, at 1 and 2 threads (target ≤ 1.3×);
2. the same for ResNet-20 (width 1, CIFAR-size input) with every effect on (target ≤ 2×);
3. inference evaluation, 4 read times × 10 hardware seeds, reusing the trained weights, without and
   with the cell reads counted (``models.nn.read_activity``); the same for a ResNet-20 (conv images).

Usage: ``python benchmarks/analog_step.py [--quick] [--eval-only]``.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from models.config import AnalogConfig, NetworkConfig
from models.nn import inference
from models.nn.networks import NETWORKS, analog_layers, convert
from models.nn.read_activity import ReadActivity

ROUNDS = 3
"""Interleaved measurement rounds per model and thread count."""


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One SGD-with-momentum step on a fixed batch."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def median_time(fn: Callable[[], None], steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(
    name: str, net_cfg: NetworkConfig, analog: AnalogConfig, batch: int, steps: int, in_loop: bool = True
) -> None:
    """``in_loop``: DAC, tiles and ADC in the training forward (``hwa_converters_in_loop``);
    else hwa's default digital forward with η_train output noise."""
    torch.manual_seed(0)
    plain = NETWORKS[net_cfg.model](net_cfg)
    model = convert(copy.deepcopy(plain), analog)
    for layer in analog_layers(model):
        layer.noise_std = 0.04  # hwa noise injection [J20]
        layer.analog = in_loop
    x = torch.rand(batch, *net_cfg.in_shape)
    y = torch.randint(0, net_cfg.classes, (batch,))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        # interleaved rounds share any drift of the (shared) machine's speed between both; the
        # minimum of the rounds' medians is the least disturbed estimate of each
        plain_step, analog_step = step_fn(plain, x, y), step_fn(model, x, y)
        t_plain = t_analog = math.inf
        for _ in range(ROUNDS):
            t_plain = min(t_plain, median_time(plain_step, steps))
            t_analog = min(t_analog, median_time(analog_step, steps))
        print(
            f"{name:<38} threads={threads}  plain {t_plain * 1e3:7.2f} ms  analog {t_analog * 1e3:7.2f} ms  "
            f"ratio {t_analog / t_plain:5.2f}x"
        )


def evaluation(quick: bool) -> None:
    torch.set_num_threads(1)
    cfg = NetworkConfig(model="mlp", hidden=(512, 512), in_features=784, in_shape=(784,), classes=10)
    analog = AnalogConfig(device="pcm", tile_rows=256, tile_cols=256)
    torch.manual_seed(0)
    model = convert(NETWORKS["mlp"](cfg), analog)
    x_test, y_test = torch.rand(2000, 784), torch.randint(0, 10, (2000,))
    seeds = list(range(3 if quick else 10))
    t0 = time.perf_counter()
    inference.digital_accuracy(model, x_test, y_test)
    t_fp = time.perf_counter() - t0
    t_eval = t_counted = math.inf
    for _ in range(ROUNDS):  # interleaved: without, then with the cell reads counted
        t0 = time.perf_counter()
        res = inference.evaluate_read_times(model, x_test[:256], x_test, y_test, seeds)
        t_eval = min(t_eval, time.perf_counter() - t0)
        t0 = time.perf_counter()
        activity = ReadActivity(model, (86400.0, True))  # one reading per chip, as a trial counts
        inference.evaluate_read_times(model, x_test[:256], x_test, y_test, seeds, activity=activity)
        t_counted = min(t_counted, time.perf_counter() - t0)
    passes = len(res) * len(seeds)
    print(
        f"{'evaluate_read_times MLP, 2000 samples':<38} {len(inference.READ_TIMES_S)} read times × "
        f"{len(seeds)} seeds × GDC off/on = {passes} accuracy passes: {t_eval:.2f} s "
        f"({t_eval / passes * 1e3:.1f} ms per pass; one float pass {t_fp * 1e3:.1f} ms; "
        f"ratio per pass {t_eval / passes / t_fp:.2f}x); counting the cell reads (DAC codes at the "
        f"headline reading, chip conductances): {t_counted:.2f} s ({t_counted / t_eval:.3f}x)"
    )
    conv_cfg = NetworkConfig(
        model="resnet20", width_mult=0.5, in_features=3072, in_shape=(3, 32, 32), classes=10
    )
    torch.manual_seed(0)
    conv = convert(NETWORKS["resnet20"](conv_cfg), analog)
    xc, yc = torch.rand(200, 3, 32, 32), torch.randint(0, 10, (200,))
    t_plain = t_count = math.inf
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        inference.evaluate_read_times(conv, xc[:64], xc, yc, seeds[:1])
        t_plain = min(t_plain, time.perf_counter() - t0)
        t0 = time.perf_counter()
        activity = ReadActivity(conv, (86400.0, True))
        inference.evaluate_read_times(conv, xc[:64], xc, yc, seeds[:1], activity=activity)
        t_count = min(t_count, time.perf_counter() - t0)
    print(
        f"{'evaluate_read_times ResNet-20 w0.5, 200':<38} 4 read times × 1 seed × GDC off/on: "
        f"{t_plain:.2f} s; counting the cell reads {t_count:.2f} s ({t_count / t_plain:.3f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--eval-only", action="store_true", help="only the inference evaluation (3.)")
    args = parser.parse_args()
    steps = 5 if args.quick else 30
    mlp = NetworkConfig(model="mlp", hidden=(512, 512), in_features=784, in_shape=(784,), classes=10)
    analog = AnalogConfig(device="pcm", tile_rows=256, tile_cols=256, adc_bits=8, dac_bits=8)
    if not args.eval_only:
        compare("hwa step MLP 784-512-512-10, b64", mlp, analog, 64, steps, in_loop=False)
        compare("  …with converters in the loop", mlp, analog, 64, steps)
    resnet = NetworkConfig(
        model="resnet20", width_mult=1.0, in_features=3072, in_shape=(3, 32, 32), classes=10
    )
    every = AnalogConfig(
        device="pcm",
        tile_rows=256,
        tile_cols=256,
        adc_bits=8,
        dac_bits=8,
        ir_drop=1e-6,
        stuck_off_fraction=0.01,
        stuck_on_fraction=0.01,
    )
    if not args.eval_only:
        compare("hwa step ResNet-20 w1, all effects, b32", resnet, every, 32, max(3, steps // 5))
    evaluation(args.quick)


if __name__ == "__main__":
    main()
