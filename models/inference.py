"""Deployment and evaluation: program devices, calibrate converters, measure accuracy.

Programming noise is fixed once devices are programmed, so it is drawn on the weights
once per hardware seed; each seed is an independent chip.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.networks import analog_layers


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(dim=1) == y[i : i + batch_size]).sum())
    return correct / max(1, x.shape[0])


def set_analog(model: nn.Module, analog: bool) -> None:
    """Switch every analog layer between analog and plain floating-point evaluation."""
    for layer in analog_layers(model):
        layer.analog = analog


@torch.no_grad()
def program(model: nn.Module, seed: int) -> None:
    """Program every analog layer once, as one chip with hardware seed ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    for layer in analog_layers(model):
        layer.program(gen)


@torch.no_grad()
def calibrate(model: nn.Module, x_cal: Tensor) -> None:
    """Set DAC and (calibrated) ADC ranges from one pass over calibration inputs."""
    model.eval()
    layers = analog_layers(model)
    for layer in layers:
        layer.calibrating = True
    try:
        model(x_cal)
    finally:
        for layer in layers:
            layer.calibrating = False


def evaluate_hardware(
    model: nn.Module, x_cal: Tensor, x_test: Tensor, y_test: Tensor, seeds: list[int]
) -> list[float]:
    """Accuracy of ``len(seeds)`` independently programmed chips (calibrated after programming)."""
    results = []
    for seed in seeds:
        program(model, seed)
        calibrate(model, x_cal)
        results.append(accuracy(model, x_test, y_test))
    for layer in analog_layers(model):
        layer.unprogram()
    return results
