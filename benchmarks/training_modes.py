"""Training-mode speed, printed as ratios measured in one run (no asserts).

1. Step time of each on-chip mode (chip-true forward and backward through the tiles, with
   ``backward = analog`` and ``ideal``, the converter re-calibration on its default schedule,
   then the device update) over a plain PyTorch ``nn.Linear`` SGD step measured in the same
   run, on DESIGN.md §8's setting: MLP 784-512-512-10, batch 64, 256-row tiles, 8-bit
   DAC/ADC. Target ≤ 2×.
2. apt's calibration time over hwa's training time to the same hardware accuracy, on digits
   (ResNet-20 at width 0.25, the network with normalization terms to calibrate).

Run: ``.venv/bin/python benchmarks/training_modes.py [--threads 1] [--steps 30] [--repeats 5] [--skip-apt]
[--torch-only | --compare]``: the pulsed updates run the compiled CPU kernels
(:mod:`models.physics.kernels`) unless ``--torch-only``; ``--compare`` times every mode both ways
in the same run (interleaved), so the two paths meet the same load. Both the plain step and the
on-chip steps run with the heap policy of training (:mod:`models.allocator`) unless ``--default-heap``.
Step times are this process's CPU time (``time.process_time``: at one thread, the work done,
not the time spent waiting for a core of the shared machine), minima over interleaved repeats
(minima are the
least disturbed measurements).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn

from models import allocator
from models.config import AnalogConfig, BackwardPass, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import analog_layers, build_network
from models.physics import jit, kernels
from models.training.chip import TrainingChip
from models.training.hic import Hic
from models.training.onchip import MixedPrecision, PulsedSGD, UpdaterFactory
from models.training.qnn import Qnn
from models.training.trainers import finish, pretrain

MODES: dict[str, tuple[str, UpdaterFactory, dict[str, object]]] = {
    "onchip_sgd (rram, digital momentum)": ("rram", PulsedSGD, {}),
    "onchip_sgd (pcm, in-memory momentum)": ("pcm", PulsedSGD, {"momentum_placement": "in_memory"}),
    "mixed_precision (pcm, 8-bit χ)": ("pcm", MixedPrecision, {"update_bits": 8}),
    "hic (pcm, 2 binary + 1×16 levels, 4-bit acc.)": ("pcm", Hic, {"update_bits": 4}),
    "qnn (stt_mram, ternary)": ("stt_mram", Qnn, {}),
}


def _mlp(device: str, **analog: object) -> nn.Module:
    net = NetworkConfig(hidden=(512, 512), in_features=784, in_shape=(784,))
    return build_network(net, AnalogConfig(device=device, tile_rows=256, tile_cols=256, **analog))  # type: ignore[arg-type]


def _time_steps(step: object, steps: int) -> float:
    for _ in range(3):
        step()  # type: ignore[operator]
    start = time.process_time()
    for _ in range(steps):
        step()  # type: ignore[operator]
    return (time.process_time() - start) / steps


def _onchip_step(
    device: str, make: UpdaterFactory, extra: dict[str, object], backward: BackwardPass, x: Tensor, y: Tensor
) -> object:
    """One on-chip training step as ``train_onchip`` runs it: chip reads (read noise, calibrated
    ranges re-calibrated every ``range_recalibration_steps``), the backward pass, the update."""
    torch.manual_seed(0)
    sliced = {"binary_devices": 2, "slice_levels": 16} if make is Hic else {}
    model = _mlp(device, **sliced)
    mode = TrainMode.ONCHIP_SGD if make is PulsedSGD else TrainMode.MIXED_PRECISION
    cfg = TrainConfig(mode=mode, lr=0.01, backward=backward)
    cfg = TrainConfig(**{**cfg.__dict__, **extra})  # type: ignore[arg-type]
    layers = analog_layers(model)
    updater = make(layers, cfg, torch.Generator().manual_seed(0))
    model.train()
    chip = TrainingChip(model, layers, updater, cfg, x, y)
    loss_fn, count = nn.CrossEntropyLoss(), [0]

    def step() -> None:
        chip.before_step(count[0])
        count[0] += 1
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        for j, layer in enumerate(layers):
            updater.step(j, layer.weight.grad)  # type: ignore[attr-defined]

    return step


def _on_path(step: object, compiled: bool) -> object:
    """``step`` with the compiled kernels on or off (the torch path) while it runs."""

    def run() -> None:
        saved = kernels.ENABLED
        kernels.ENABLED = compiled
        try:
            step()  # type: ignore[operator]
        finally:
            kernels.ENABLED = saved

    return run


def step_ratios(steps: int, repeats: int = 5, paths: tuple[bool, ...] = (True,)) -> None:
    """Interleaved repeats (plain, then every mode, ``repeats`` times); each the minimum over repeats.
    ``paths``: the compiled kernels (True) and/or the torch path (False), each mode on each."""
    x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)

    def plain_step() -> None:
        opt.zero_grad()
        loss_fn(plain(x), y).backward()
        opt.step()

    steppers: dict[str, object] = {"plain PyTorch step": plain_step}
    for name, (device, make, extra) in MODES.items():
        for backward in BackwardPass:
            for compiled in paths:
                tag = "" if len(paths) == 1 else (" [kernels]" if compiled else " [torch]")
                steppers[f"{name}, backward = {backward.value}{tag}"] = _on_path(
                    _onchip_step(device, make, extra, backward, x, y), compiled
                )
    best = dict.fromkeys(steppers, float("inf"))
    for _ in range(repeats):
        for name, step in steppers.items():
            best[name] = min(best[name], _time_steps(step, steps))
    base = best.pop("plain PyTorch step")
    print(f"plain PyTorch step: {base * 1e3:.2f} ms (min of {repeats} interleaved repeats of {steps} steps)")
    for name, t in best.items():
        print(f"{name:78s} {t * 1e3:7.2f} ms   {t / base:5.2f}× plain (target ≤ 2×)")


def apt_vs_hwa() -> None:
    from dse.engine.data import load_digits

    d = load_digits()
    x, y = torch.from_numpy(d.x_train).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_train)
    xt, yt = torch.from_numpy(d.x_test).reshape(-1, 1, 8, 8), torch.from_numpy(d.y_test)
    net_cfg = NetworkConfig(model="resnet20", width_mult=0.25, in_features=64, in_shape=(1, 8, 8))
    analog = AnalogConfig(device="pcm", tile_rows=128, tile_cols=128, adc_bits=6, dac_bits=6)
    seeds = [1, 2]

    def hw(model: nn.Module) -> float:
        return sum(inference.evaluate_hardware(model, x[:256], xt, yt, seeds)) / len(seeds)

    torch.manual_seed(0)
    model = build_network(net_cfg, analog)
    cfg = TrainConfig(mode=TrainMode.APT, epochs=4, apt_steps=30)
    result = finish(model, x, y, cfg, pretrain(model, x, y, cfg))
    target = hw(model)
    print(
        f"apt: floating-point pretraining {result.seconds:.1f} s (cacheable), "
        f"calibration {result.calibration_seconds:.1f} s → hardware accuracy {target:.3f}"
    )
    torch.manual_seed(0)
    hwa = build_network(net_cfg, analog)
    spent, reached = 0.0, 0.0
    for epoch in range(1, 13):
        one = TrainConfig(mode=TrainMode.HWA, epochs=1, seed=epoch)
        spent += pretrain(hwa, x, y, one).seconds
        reached = hw(hwa)
        if reached >= target:
            break
    print(f"hwa: {epoch} epochs, {spent:.1f} s of training → hardware accuracy {reached:.3f}")
    print(
        f"apt calibration / hwa training to the same target: {result.calibration_seconds / spent:.2f}× "
        f"(apt incl. its pretraining: {(result.seconds + result.calibration_seconds) / spent:.2f}×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats; the minimum is kept")
    parser.add_argument("--skip-apt", action="store_true", help="only the step ratios")
    path = parser.add_mutually_exclusive_group()
    path.add_argument("--torch-only", action="store_true", help="the torch path, no compiled kernels")
    path.add_argument("--compare", action="store_true", help="every mode on both paths, same run")
    parser.add_argument(
        "--default-heap", action="store_true", help="glibc's adaptive heap (training keeps freed memory)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kept = False if args.default_heap else allocator.keep_freed_memory()  # as TrainingRun.advance
    print(f"heap: {'freed memory kept (models/allocator.py)' if kept else 'default'}")
    paths = (False,) if args.torch_only else (True, False) if args.compare else (True,)
    print(f"torch threads: {args.threads}; numba {jit.numba_version()}")
    step_ratios(args.steps, args.repeats, paths)
    if not args.skip_apt:
        apt_vs_hwa()


if __name__ == "__main__":
    main()
