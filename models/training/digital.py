"""Off-chip training: SGD with momentum through the digital (or, on request, analog) forward.

The epoch loop of ``hwa`` [J20] and of ``apt``'s first, floating-point stage. The weights
change by plain digital SGD; the devices are written once, when the trained weights are
programmed (:func:`one_programming`). The loop keeps everything it needs between epochs
(its generator, the momentum buffers, the step count), so a run can stop after any epoch
and go on (:class:`~models.training.session.TrainingRun`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.config import TrainConfig, TrainMode
from models.nn.networks import analog_layers
from models.physics.crossbar import devices_per_weight
from models.torch_device import device_of, seeded, shuffled_batches
from models.training.onchip import quantize_update
from models.training.outcome import TrainResult, WriteCounts


def one_programming(model: nn.Module) -> WriteCounts:
    """Writes of programming every device once (off-chip training, then deployment)."""
    devices = sum(
        devices_per_weight(layer.device_spec, layer.config) * layer.weight.numel()
        for layer in analog_layers(model)
    )
    return WriteCounts(max_per_device=1.0, mean_per_device=1.0, total=float(devices))


class DigitalLoop:
    """SGD with momentum (updates rounded to ``update_bits`` if set), with output-referred weight
    noise ``eta`` and weight fake-quantization ``weight_bits`` during each epoch; ``analog=True``
    trains through the full analog forward. Seeds its generator and the global stream from
    ``cfg.seed`` when built; the layers train only inside :meth:`epoch` and are restored after it."""

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        eta: float = 0.0,
        weight_bits: int | None = None,
        analog: bool = False,
    ) -> None:
        self.model, self.cfg = model, cfg
        self.eta, self.weight_bits, self.analog = eta, weight_bits, analog
        self.where = device_of(model)
        self.gen = seeded(cfg.seed, self.where)
        torch.manual_seed(cfg.seed)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.bufs = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def epoch(self, x: Tensor, y: Tensor) -> float:
        """One pass over (x, y) in a freshly drawn order; returns the mean batch loss."""
        layers = analog_layers(self.model)
        for layer in layers:
            layer.analog, layer.noise_std, layer.weight_bits = self.analog, self.eta, self.weight_bits
        loss_fn = nn.CrossEntropyLoss()
        total, batches = 0.0, 0
        self.model.train()
        try:
            for xb, yb in shuffled_batches(x, y, self.cfg.batch_size, self.gen, self.where):
                loss = loss_fn(self.model(xb), yb)
                for p in self.params:
                    p.grad = None
                loss.backward()
                _sgd_step(self.params, self.bufs, self.cfg, self.gen)
                total += loss.item()
                batches += 1
                self.steps += 1
        finally:
            self.model.eval()
            for layer in layers:
                layer.analog, layer.noise_std, layer.weight_bits = True, 0.0, None
        return total / max(1, batches)

    def end(self, seconds: float, final_loss: float, samples: int) -> TrainResult:
        """The result: one programming of every device (``samples`` pass no array: 0 reported)."""
        return TrainResult(seconds, self.steps, final_loss, one_programming(self.model))


@torch.no_grad()
def _sgd_step(params: list[Tensor], bufs: list[Tensor], cfg: TrainConfig, gen: torch.Generator) -> None:
    """p ← p − lr·v, v ← μ·v + ∇p; the update rounded to ``update_bits`` if set."""
    for p, buf in zip(params, bufs, strict=True):
        if p.grad is None:
            continue
        buf.mul_(cfg.momentum).add_(p.grad)
        delta = buf * cfg.lr
        if cfg.update_precision is not None:
            delta = quantize_update(delta, cfg.update_precision, gen)
        p.sub_(delta)


def hwa_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> DigitalLoop:
    """Hardware-aware training [J20]: η_train output noise, optional weight fake-quantization,
    digital forward unless ``hwa_converters_in_loop``."""
    if cfg.mode is not TrainMode.HWA:
        raise ValueError(f"train_hwa cannot run mode {cfg.mode.value!r}")
    return DigitalLoop(model, cfg, cfg.eta_train, cfg.weight_bits, cfg.hwa_converters_in_loop)


def fp_loop(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> DigitalLoop:
    """apt's first stage: plain, noise-free floating-point SGD (digital forward)."""
    return DigitalLoop(model, cfg)


__all__ = ["DigitalLoop", "fp_loop", "hwa_loop", "one_programming"]
