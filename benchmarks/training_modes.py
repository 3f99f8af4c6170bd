"""Training-mode speed, printed as ratios measured in one run (no asserts).

1. Step time of each on-chip mode (chip-true forward and backward through the tiles, with
   ``backward = analog`` and ``ideal``, the converter re-calibration on its default schedule,
   then the device update) over a plain PyTorch ``nn.Linear`` SGD step measured in the same
   run, on DESIGN.md §8's setting: MLP 784-512-512-10, batch 64, 256-row tiles, 8-bit
   DAC/ADC. Target ≤ 2×. Every model trains afresh in every repeat on the same stream of
   real batches (the bundled digits framed to 28×28 = 784 inputs), and steps ``start + 1`` to
   ``start + steps`` are timed, so each repeat meets the same device writes; each line prints them.
2. Whole training runs (``--epochs``, default 10 as a run's default): each mode's time over all its
   steps against the plain run's, the analog backward and the kernels, and its dearest epoch.
3. apt's calibration time over hwa's training time to the same hardware accuracy, on digits
   (ResNet-20 at width 0.25, the network with normalization terms to calibrate).

Run: ``.venv/bin/python benchmarks/training_modes.py [--threads 1] [--steps 60] [--start 3] [--repeats 3]
[--skip-apt] [--skip-whole-run] [--epochs 10] [--torch-only | --compare]``: the pulsed updates run
the compiled CPU kernels (:mod:`models.physics.kernels`) unless ``--torch-only``; ``--compare`` times
every mode both ways in the same run (interleaved), so the two paths meet the same load. Both the
plain step and the on-chip steps run with the heap policy of training (:mod:`models.allocator`)
unless ``--default-heap``.
Step times are this process's CPU time (``time.process_time``: at one thread, the work done,
not the time spent waiting for a core of the shared machine), minima over interleaved repeats
(the least disturbed measurements).
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from models import allocator
from models.config import AnalogConfig, BackwardPass, NetworkConfig, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import analog_layers, build_network
from models.physics import jit, kernels
from models.torch_device import shuffled_batches
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


Step = Callable[[], None]


def digits_784() -> tuple[Tensor, Tensor]:
    """The bundled digits' training split as MNIST-sized inputs: each 8×8 image scaled ×3
    (nearest) to 24×24 and framed to 28×28 = 784 values in [0, 1], with its label."""
    from dse.engine.data import load_digits

    d = load_digits()
    img = np.kron(d.x_train.reshape(-1, 8, 8), np.ones((3, 3), dtype=np.float32))
    framed = np.pad(img, ((0, 0), (2, 2), (2, 2))).reshape(-1, 784)
    return torch.from_numpy(np.ascontiguousarray(framed)), torch.from_numpy(d.y_train)


def _stream(x: Tensor, y: Tensor, batch: int) -> Callable[[], tuple[Tensor, Tensor]]:
    """The next batch of (x, y) in the training loop's order (:func:`shuffled_batches`, from a
    fixed seed), epoch after epoch."""
    gen = torch.Generator().manual_seed(0)

    def epochs() -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            yield from shuffled_batches(x, y, batch, gen, x.device)

    batches = epochs()
    return lambda: next(batches)


def _time_steps(step: Step, steps: int) -> float:
    start = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - start) / steps


WARM_UP = 3
"""Untimed steps first by default (the first calls of the kernels, the first calibration)."""


def _onchip_step(
    device: str, make: UpdaterFactory, extra: dict[str, object], backward: BackwardPass, x: Tensor, y: Tensor
) -> tuple[Step, Callable[[], float]]:
    """A fresh model's on-chip training step as ``OnChipLoop`` runs it, on the next batch of
    (x, y): chip reads (read noise, calibrated ranges re-calibrated every
    ``range_recalibration_steps``), the backward pass, the update; and the device writes so far."""
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
    loss_fn, count, batches = nn.CrossEntropyLoss(), [0], _stream(x, y, BATCH)

    def step() -> None:
        xb, yb = batches()
        chip.before_step(count[0])
        count[0] += 1
        model.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        for j, layer in enumerate(layers):
            updater.step(j, layer.weight.grad)  # type: ignore[attr-defined]

    def writes() -> float:
        return sum(float(c.sum()) for _, c in updater.counters())

    return step, writes


BATCH = 64


def _on_path(step: Step, compiled: bool) -> Step:
    """``step`` with the compiled kernels on or off (the torch path) while it runs."""

    def run() -> None:
        saved = kernels.ENABLED
        kernels.ENABLED = compiled
        try:
            step()
        finally:
            kernels.ENABLED = saved

    return run


def _plain_step(x: Tensor, y: Tensor) -> tuple[Step, Callable[[], float]]:
    """A fresh plain PyTorch MLP's SGD step (momentum 0.9) on the next batch of (x, y)."""
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)
    loss_fn, batches = nn.CrossEntropyLoss(), _stream(x, y, BATCH)

    def step() -> None:
        xb, yb = batches()
        opt.zero_grad()
        loss_fn(plain(xb), yb).backward()
        opt.step()

    return step, lambda: 0.0


PLAIN = "plain PyTorch step"


def _makers(
    x: Tensor, y: Tensor, paths: tuple[bool, ...], backwards: tuple[BackwardPass, ...]
) -> dict[str, Callable[[], tuple[Step, Callable[[], float]]]]:
    """Each timed model's maker, by name: the plain step first, then every mode on every backward
    pass and path (compiled kernels True, torch path False)."""
    makers: dict[str, Callable[[], tuple[Step, Callable[[], float]]]] = {
        PLAIN: functools.partial(_plain_step, x, y)
    }
    for name, (device, make, extra) in MODES.items():
        for backward in backwards:
            for compiled in paths:
                tag = "" if len(paths) == 1 else (" [kernels]" if compiled else " [torch]")
                makers[f"{name}, backward = {backward.value}{tag}"] = functools.partial(
                    _onchip_step, device, make, extra, backward, x, y
                )
    return makers


def step_ratios(
    steps: int, repeats: int = 3, paths: tuple[bool, ...] = (True,), start: int = WARM_UP
) -> None:
    """Each mode's step over the plain step, each the minimum over ``repeats`` interleaved repeats.

    Every repeat builds every model afresh and times the same steps of its training (after
    ``start`` untimed ones) on the same stream of digits batches, so the repeats differ only by the
    machine's noise: training one batch over and over instead (as this benchmark did before)
    fits it within ~100 steps, after which a few percent of the devices still pulse, and the
    minimum picked those late, cheap steps. ``paths``: the compiled kernels (True) and/or the
    torch path (False), each mode on each."""
    x, y = digits_784()
    makers = _makers(x, y, paths, tuple(BackwardPass))
    best = dict.fromkeys(makers, float("inf"))
    written: dict[str, float] = {}
    for _ in range(repeats):
        for name, maker in makers.items():
            step, writes = maker()
            run = _on_path(step, not name.endswith("[torch]"))
            for _ in range(start):  # untimed: the first calls, the first calibration
                run()
            before = writes()
            best[name] = min(best[name], _time_steps(run, steps))
            written[name] = (writes() - before) / steps
    base = best.pop(PLAIN)
    print(
        f"plain PyTorch step: {base * 1e3:.2f} ms (min of {repeats} interleaved repeats of steps "
        f"{start + 1}–{start + steps} of a fresh model on the digits-784 stream, batch {BATCH})"
    )
    for name, t in best.items():
        print(
            f"{name:78s} {t * 1e3:7.2f} ms   {t / base:5.2f}× plain (target ≤ 2×)   "
            f"{written[name] / 1e3:6.1f}k device writes a step"
        )


def whole_run(repeats: int = 3, epochs: int = 10) -> None:
    """Each mode's training run over the plain one: every step of ``epochs`` epochs of the digits
    stream (the default run's length), re-calibrations included, with the analog backward and
    the compiled kernels. The models train side by side in blocks of half an epoch,
    the block times of each model the minima over ``repeats`` runs; the ratio of the sums is what
    a study pays per trial, and the dearest epoch's ratio says how far a step strays from it."""
    x, y = digits_784()
    per_epoch = -(-x.shape[0] // BATCH)
    block = max(1, per_epoch // 2)
    starts = [e * per_epoch + k for e in range(epochs) for k in range(0, per_epoch, block)]
    sizes = [min(block, per_epoch - s % per_epoch) for s in starts]  # blocks never straddle epochs
    makers = _makers(x, y, (True,), (BackwardPass.ANALOG,))
    best = {name: np.full(len(starts), np.inf) for name in makers}
    for _ in range(repeats):
        steps = {name: maker()[0] for name, maker in makers.items()}
        for b, n in enumerate(sizes):
            for name, step in steps.items():
                best[name][b] = min(best[name][b], _time_steps(step, n) * n)
    base = best.pop(PLAIN)
    print(
        f"whole run: {epochs * per_epoch} steps ({epochs} epochs of {per_epoch}), plain {base.sum():.2f} s "
        f"(blocks of ≤ {block} steps, each the min of {repeats} runs)"
    )
    epoch_of = np.array([s // per_epoch for s in starts])
    for name, t in best.items():
        epoch = [t[epoch_of == e].sum() / base[epoch_of == e].sum() for e in range(epochs)]
        dear = int(np.argmax(epoch))
        print(
            f"{name:78s} {t.sum() / base.sum():5.2f}× plain over the run (target ≤ 2×); "
            f"dearest epoch {dear + 1}: {epoch[dear]:.2f}×, cheapest {min(epoch):.2f}×"
        )


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
    parser.add_argument("--steps", type=int, default=60, help="timed steps of each fresh model")
    parser.add_argument("--start", type=int, default=WARM_UP, help="untimed steps of each fresh model first")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the minimum is kept")
    parser.add_argument("--skip-apt", action="store_true", help="no apt against hwa")
    parser.add_argument("--skip-whole-run", action="store_true", help="no whole training runs")
    parser.add_argument(
        "--epochs", type=int, default=10, help="epochs of a whole run (default: the default run)"
    )
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
    step_ratios(args.steps, args.repeats, paths, args.start)
    if not args.skip_whole_run:
        whole_run(args.repeats, args.epochs)
    if not args.skip_apt:
        apt_vs_hwa()


if __name__ == "__main__":
    main()
