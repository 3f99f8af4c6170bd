"""On-chip training reads: an analog layer from its first training read to the trained chip.

A mixin of :class:`~models.nn.layers.AnalogMatrix` (split out for module size). While a chip
trains, the layer reads the devices' state (:class:`~models.physics.chip.ChipState`) with its
stuck devices forced, draws read noise on every read, and never takes a converter range from
the batch it converts; when training ends, that state becomes the ``trained_chip`` which
evaluation reads instead of programming a fresh chip (docs/training_modes.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from models.physics import crossbar
from models.physics.chip import ChipState, training_read_std

if TYPE_CHECKING:
    from models.config import AnalogConfig
    from models.physics.devices import DeviceSpec


class _ReadThrough(torch.autograd.Function):
    """The devices' read weight in the forward pass; the gradient to the trained weight unchanged."""

    @staticmethod
    def forward(ctx: object, weight: Tensor, read: Tensor) -> Tensor:
        return read

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def read_through(weight: Tensor, read: Tensor) -> Tensor:
    """``read`` (stuck devices forced), straight-through to ``weight``: a stuck device reads as
    stuck, and its weight still gets a gradient (the updater still sends it pulses, in vain)."""
    return _ReadThrough.apply(weight, read) if weight.requires_grad else read


class ChipReads:
    """The on-chip training lifecycle of an analog layer (state lives on the layer)."""

    weight: torch.nn.Parameter
    config: AnalogConfig
    device_spec: DeviceSpec
    chip_reads: bool
    analog_backward: bool
    trained_chip: ChipState | None
    chip_faults: Tensor | None
    bwd_dac_range: float | None
    bwd_adc_range: Tensor | None
    _chip: ChipState | None
    _chip_weight: Tensor | None
    _calibrated: bool
    _read_sigma: float
    _w_max_prog: Tensor

    @torch.no_grad()
    def start_chip_reads(self, chip: ChipState, faults: Tensor | None, analog_backward: bool) -> None:
        """Train on chip from here on: reads of the devices ``chip`` (stuck where ``faults`` say),
        with read noise, fixed or calibrated converter ranges, and the chosen backward pass.
        Converter ranges must then be calibrated (``models.nn.inference.calibrate_training``)."""
        self.chip_reads, self.analog_backward, self.chip_faults = True, analog_backward, faults
        self._calibrated, self.trained_chip = False, None
        self._w_max_prog = torch.tensor(chip.w_max, device=self.weight.device)
        self.bwd_dac_range = self.bwd_adc_range = None
        self.refresh_chip(chip)

    @torch.no_grad()
    def refresh_chip(self, chip: ChipState) -> None:
        """Take the devices' current state: the weight the array reads (stuck devices forced)
        and the read-noise level (for PCM it depends on the conductances)."""
        self._chip = chip
        self._read_sigma = training_read_std(chip, self.device_spec, self.config.read_noise_scale)
        if self.chip_faults is not None:
            self._chip_weight = chip.weight(crossbar.apply_stuck(chip.g, self.chip_faults, self.device_spec))

    @torch.no_grad()
    def stop_chip_reads(self, chip: ChipState) -> None:
        """End on-chip training: ``chip`` becomes the trained chip that evaluation reads, and the
        layer's weight the one its devices hold (so an ideal read of the chip is this weight)."""
        self.weight.data.copy_(chip.weight())
        self.trained_chip = chip
        self.chip_reads = self.analog_backward = False
        self._chip = self._chip_weight = None
        self._read_sigma = 0.0


__all__ = ["ChipReads", "read_through"]
