"""Analog-aware post-training (APT, source 000): calibrate a few digital parameters against the hardware.

Starting from a floating-point model, only the normalization affine terms (BatchNorm weight
and bias, where the network has them) and a per-output digital scale of every analog layer
(added, initialised to 1) are trained, with Adam, to match the floating-point model's logits
(and the labels). Every datum APT touches is in one subset of ``apt_data_fraction`` of the
training split (:func:`calibration_subset`), the converter ranges' calibration included.
All other parameters and the BatchNorm running statistics stay untouched.

``apt_target`` says what the parameters are calibrated against:

- ``chip``: the chip is programmed once (programming noise, level quantization, stuck devices)
  and its converters calibrated once on the subset; then every step reads that same chip
  (no reprogramming), as a deployed chip would be calibrated [source 000]. The parameters fit
  this chip: :func:`evaluate_per_chip` calibrates each evaluated chip on itself.
- ``noise``: no chip; each step runs the digital forward with output-referred weight noise of
  the device's programming-noise statistics (the hwa regularizer [J20]), with the std measured
  once per layer from one programming draw: cheap, and the parameters fit the noise
  distribution rather than one chip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import AptTarget, TrainConfig
from models.nn import inference
from models.nn.networks import analog_layers
from models.torch_device import device_of, permutation, seeded, to_device


def calibration_subset(x: Tensor, y: Tensor, cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    """The ``apt_data_fraction`` of the training split (at least one sample) that APT may touch,
    drawn from the training seed: the same subset for the calibration and its converters."""
    gen = seeded(cfg.seed + 1, "cpu")
    n_cal = max(1, round(cfg.apt_data_fraction * x.shape[0]))
    pick = permutation(x.shape[0], gen, x.device)[:n_cal]
    return x[pick], y[pick]


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


@torch.no_grad()
def programming_noise_std(model: nn.Module, seed: int) -> list[float]:
    """Per analog layer: std of (programmed − target weight) over max |w| at t = 0, from one
    programming draw (no data): the relative output-referred noise of ``apt_target = noise``."""
    inference.program(model, seed)
    try:
        return [
            float((layer.programmed - layer.weight).std() / layer.w_max())  # type: ignore[operator]
            for layer in analog_layers(model)
        ]
    finally:
        for layer in analog_layers(model):
            layer.unprogram()


def calibrate(
    model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, chip_seed: int | None = None
) -> float:
    """Run APT on ``model`` in place, on its torch device, touching only :func:`calibration_subset`;
    returns its wall time in seconds. ``chip_seed``: the chip to calibrate against (``chip``
    target; default: drawn from the training seed); it stays programmed when given."""
    start = time.perf_counter()
    where = device_of(model)
    gen = seeded(cfg.seed + 1, where)
    xs, ys = calibration_subset(x, y, cfg)
    x_cal, y_cal = to_device(xs, where), to_device(ys, where)
    n_cal = x_cal.shape[0]
    params = calibrated_parameters(model)
    frozen = [p for p in model.parameters() if all(p is not q for q in params)]
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=cfg.apt_lr)
    batch = min(cfg.batch_size, n_cal)
    layers = analog_layers(model)
    with torch.no_grad():  # the floating-point model's logits are the targets (self-distillation)
        model.eval()
        inference.set_analog(model, False)
        target = model(x_cal)
    on_chip = cfg.apt_target is AptTarget.CHIP
    seed = chip_seed if chip_seed is not None else cfg.seed + 7919
    if on_chip:
        inference.set_analog(model, True)
        inference.program(model, seed)  # once: every step reads this chip
        inference.calibrate(model, x_cal)
    else:
        for layer, eta in zip(layers, programming_noise_std(model, seed), strict=True):
            layer.noise_std = eta
    try:
        for _ in range(cfg.apt_steps):
            model.train(not on_chip)  # noise is drawn in training mode; BN statistics stay frozen
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            idx = torch.randint(0, n_cal, (batch,), generator=gen, device=where)
            loss = distillation_loss(model(x_cal[idx]), target[idx], y_cal[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if on_chip:  # the calibrated terms moved the later layers' inputs: re-range once
            inference.calibrate(model, x_cal)
    finally:
        model.eval()
        for layer in layers:
            layer.noise_std = 0.0
            if chip_seed is None:
                layer.unprogram()
        inference.set_analog(model, True)
        for p, flag in zip(frozen, flags, strict=True):
            p.requires_grad_(flag)
    return time.perf_counter() - start


def evaluate_per_chip(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    x_test: Tensor,
    y_test: Tensor,
    seeds: Sequence[int],
) -> list[float]:
    """Accuracy of each chip in ``seeds`` after APT calibrated the pretrained ``model`` against that
    chip (``chip`` target) or against the noise statistics (``noise``: calibrated once, each chip
    then programmed and its converters ranged on the subset). The calibrated terms are restored
    between chips; the model is left as it came."""
    params = calibrated_parameters(model)
    saved = [p.detach().clone() for p in params]
    x_cal, _ = calibration_subset(x, y, cfg)
    out: list[float] = []
    try:
        if cfg.apt_target is AptTarget.NOISE:
            calibrate(model, x, y, cfg)
            return inference.evaluate_hardware(model, x_cal, x_test, y_test, list(seeds))
        for seed in seeds:
            with torch.no_grad():
                for p, s in zip(params, saved, strict=True):
                    p.copy_(s)
            calibrate(model, x, y, cfg, chip_seed=seed)  # programs chip `seed`, leaves it programmed
            for layer in analog_layers(model):
                layer.set_read_time(layer.config.read_time_s, seeded(seed, device_of(model)))
            out.append(inference.accuracy(model, x_test, y_test))
            for layer in analog_layers(model):
                layer.unprogram()
        return out
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)


class PerChip:
    """APT against every chip it is deployed on (``apt_target = chip``), as
    ``evaluate_read_times``'s ``prepare``: for each chip the calibrated terms start again from the
    pretrained model, the chip is programmed once and calibrated against (leaving it programmed),
    and the wall time adds up in :attr:`seconds`. :meth:`restore` gives the pretrained terms back."""

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> None:
        self.x, self.y, self.cfg = x, y, cfg
        self.params = calibrated_parameters(model)
        self.saved = [p.detach().clone() for p in self.params]
        self.seconds = 0.0

    def restore(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(s)

    def __call__(self, model: nn.Module, seed: int) -> None:
        self.restore()
        self.seconds += calibrate(model, self.x, self.y, self.cfg, chip_seed=seed)


__all__ = ["PerChip", "calibrate", "calibrated_parameters", "calibration_subset", "evaluate_per_chip"]
