"""Analog-aware post-training (APT, source 000): calibrate a few parameters under the analog forward.

Starting from a floating-point model, only the normalization affine terms (BatchNorm weight
and bias, where the network has them) and a per-output digital scale of every analog layer
(added, initialised to 1) are trained, with Adam, on ``apt_data_fraction`` of the training
split, to match the floating-point model's logits (and labels) under the analog forward.
Every step programs a fresh chip draw (programming noise, level quantization, stuck
devices) and calibrates its converters, so the calibrated parameters fit the hardware's
error distribution rather than one chip. All other parameters and the BatchNorm running
statistics stay untouched.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import TrainConfig
from models.nn import inference
from models.nn.networks import analog_layers
from models.torch_device import device_of, permutation, random_int, seeded, to_device

CONVERTER_SAMPLES = 256
"""Samples (at most) used to calibrate the converter ranges of each programmed draw."""


def calibrated_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters APT trains: BatchNorm affine terms and per-output scales (created here)."""
    params: list[nn.Parameter] = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            params += [m.weight, m.bias]
    params += [layer.enable_output_scale() for layer in analog_layers(model)]
    return params


def distillation_loss(logits: Tensor, target: Tensor, labels: Tensor) -> Tensor:
    """Mean squared logit error to the floating-point model plus the label cross-entropy.

    With ~1 % of the data, matching all logits of the floating-point model carries far more
    signal per sample than the labels alone, and does not overfit a handful of labels.
    """
    return F.mse_loss(logits, target) + F.cross_entropy(logits, labels)


def calibrate(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> float:
    """Run APT on ``model`` in place, on its torch device; returns its wall time in seconds."""
    start = time.perf_counter()
    where = device_of(model)
    gen = seeded(cfg.seed + 1, where)
    n_cal = max(1, round(cfg.apt_data_fraction * x.shape[0]))
    pick = permutation(x.shape[0], gen, x.device)[:n_cal]
    x_cal, y_cal = to_device(x[pick], where), to_device(y[pick], where)
    params = calibrated_parameters(model)
    frozen = [p for p in model.parameters() if all(p is not q for q in params)]
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=cfg.apt_lr)
    batch = min(cfg.batch_size, n_cal)
    with torch.no_grad():  # the floating-point model's logits are the targets (self-distillation)
        model.eval()
        inference.set_analog(model, False)
        target = model(x_cal)
    inference.set_analog(model, True)
    try:
        for _ in range(cfg.apt_steps):
            inference.program(model, random_int(2**62, gen))
            inference.calibrate(model, x_cal[:CONVERTER_SAMPLES])  # leaves the model in eval mode
            idx = torch.randint(0, n_cal, (batch,), generator=gen, device=where)
            loss = distillation_loss(model(x_cal[idx]), target[idx], y_cal[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for layer in analog_layers(model):
            layer.unprogram()
        for p, flag in zip(frozen, flags, strict=True):
            p.requires_grad_(flag)
    return time.perf_counter() - start


__all__ = ["calibrate", "calibrated_parameters"]
