"""Deployment and evaluation: program devices, calibrate converters, read over time.

Programming noise is fixed once devices are programmed, so it is drawn on the weights
once per hardware seed; each seed is an independent chip. Converters are calibrated
right after programming (t = 0); later reads see drift and accumulated read noise with
those ranges, compensated (GDC) or not [A, J20]. Trained weights are never touched.

A chip that trained on chip is not reprogrammed: "programming" it with a hardware seed
takes the devices as training left them (their conductances, device-to-device variation and
stuck devices) and draws only what happens after training, the drift exponents and the read
noise (``AnalogMatrix.program``); :func:`eval_chip` says which chip a model is judged on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from models.config import READ_TIMES
from models.nn.networks import analog_layers
from models.nn.read_activity import ReadActivity
from models.torch_device import device_of, seeded, to_device

READ_TIMES_S: tuple[float, ...] = tuple(READ_TIMES.values())
"""Default read times after programming: 1 s, 1 h, 1 day, 1 year [J20, HIC]."""


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` in eval mode, on its torch device (batches are moved there)."""
    model.eval()
    where, correct = device_of(model), 0
    for i in range(0, x.shape[0], batch_size):
        labels = to_device(y[i : i + batch_size], where)
        correct += int((model(to_device(x[i : i + batch_size], where)).argmax(dim=1) == labels).sum())
    return correct / max(1, x.shape[0])


def digital_accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """:func:`accuracy` of the weights read digitally (no converters, noise or devices): what the
    training reached before the hardware, the ``accuracy_fp`` column."""
    set_analog(model, False)
    try:
        return accuracy(model, x, y)
    finally:
        set_analog(model, True)


def eval_chip(model: nn.Module) -> str:
    """``"trained"`` when evaluation reads the chip that trained (on-chip modes), else ``"fresh"``:
    each hardware seed programs a new chip (off-chip modes)."""
    return "trained" if any(layer.trained_chip is not None for layer in analog_layers(model)) else "fresh"


def set_analog(model: nn.Module, analog: bool) -> None:
    """Switch every analog layer between analog and plain floating-point evaluation."""
    for layer in analog_layers(model):
        layer.analog = analog


def set_gdc(model: nn.Module, gdc: bool) -> None:
    """Switch global drift compensation of every analog layer on or off."""
    for layer in analog_layers(model):
        layer.gdc = gdc


@torch.no_grad()
def program(model: nn.Module, seed: int) -> None:
    """Program every analog layer once, as one chip with hardware seed ``seed`` (read at t = 0);
    the draws happen on the model's torch device."""
    gen = seeded(seed, device_of(model))
    for layer in analog_layers(model):
        layer.program(gen)


@torch.no_grad()
def set_read_time(model: nn.Module, t_s: float, seed: int) -> None:
    """Read every programmed layer ``t_s`` s after programming; the accumulated read noise of
    this read is drawn from ``(seed, t_s)``, so results are reproducible per chip and time."""
    gen = seeded(hash((seed, float(t_s))) & 0x7FFF_FFFF_FFFF_FFFF, device_of(model))
    for layer in analog_layers(model):
        layer.set_read_time(t_s, gen)


@torch.no_grad()
def calibrate(model: nn.Module, x_cal: Tensor) -> None:
    """Set DAC and (calibrated) ADC ranges from one pass over calibration inputs."""
    model.eval()
    layers = analog_layers(model)
    for layer in layers:
        layer.calibrating = True
    try:
        model(to_device(x_cal, device_of(model)))
    finally:
        for layer in layers:
            layer.calibrating = False


def _unprogram(model: nn.Module) -> None:
    for layer in analog_layers(model):
        layer.unprogram()
        layer.gdc = layer.config.gdc


def evaluate_hardware(
    model: nn.Module, x_cal: Tensor, x_test: Tensor, y_test: Tensor, seeds: list[int]
) -> list[float]:
    """Accuracy of ``len(seeds)`` independently programmed chips, each calibrated right after
    programming and read at ``AnalogConfig.read_time_s`` with GDC as ``AnalogConfig.gdc``."""
    results = []
    try:
        for seed in seeds:
            program(model, seed)
            calibrate(model, x_cal)
            for layer in analog_layers(model):
                set_read_time(layer, layer.config.read_time_s, seed)
            results.append(accuracy(model, x_test, y_test))
    finally:
        _unprogram(model)
    return results


def evaluate_read_times(
    model: nn.Module,
    x_cal: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seeds: Sequence[int],
    t_eval: Sequence[float] = READ_TIMES_S,
    prepare: Callable[[nn.Module, int], None] | None = None,
    activity: ReadActivity | None = None,
) -> dict[tuple[float, bool], list[float]]:
    """Accuracy at each read time, GDC off and on, for each hardware seed.

    Each seed programs the chip once and calibrates it once (t = 0); every read time then
    re-reads the same programmed devices, so drift is the only thing that changes across
    ``t`` (never retraining, never reprogramming). ``prepare(model, seed)``, when given, does the
    programming and calibration of each chip instead (APT calibrating against each chip it
    deploys on). Keys are ``(t_seconds, gdc)``; values hold one accuracy per seed, in seed order.
    ``activity``, when given, adds each programmed chip's conductances and counts the DAC codes
    of its test pass at ``activity.at`` (the cell reads' energy, ``models.nn.read_activity``).
    """
    out: dict[tuple[float, bool], list[float]] = {(float(t), g): [] for t in t_eval for g in (False, True)}
    try:
        for seed in seeds:
            if prepare is None:
                program(model, seed)
                calibrate(model, x_cal)
            else:
                prepare(model, seed)
            if activity is not None:
                activity.programmed()
            for t in t_eval:
                set_read_time(model, float(t), seed)
                for gdc in (False, True):
                    set_gdc(model, gdc)
                    counted = activity is not None and activity.at == (float(t), gdc)
                    with activity.counting() if activity is not None and counted else nullcontext():
                        out[(float(t), gdc)].append(accuracy(model, x_test, y_test))
    finally:
        _unprogram(model)
    return out
