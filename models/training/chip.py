"""The chip that trains: its device state, faults, converter calibration and training reads.

On-chip modes train one chip and are judged on it (docs/training_modes.md). This module
reads each updater's device state as a :class:`~models.physics.chip.ChipState` (exactly:
``ChipState.weight()`` is the weight the devices hold), draws the chip's stuck devices once,
calibrates converter ranges on a fixed calibration batch (before training and every
``range_recalibration_steps``), and hands the final state to the layers as their
``trained_chip``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from models.config import BackwardPass, TrainConfig
from models.nn.layers import AnalogMatrix
from models.physics import crossbar
from models.physics.chip import ChipState, LevelTable, pair_conductances
from models.physics.devices import ReadNoiseModel
from models.physics.pulses import PulsedArray
from models.torch_device import permutation, seeded, to_device

NOISE_SAMPLE = 16384
"""Weights per layer on which a conductance-dependent read-noise level is re-estimated (RMS)."""
CHIP_SEED_STRIDE = 1000
"""The training chip's generator is seeded ``seed·1000``; hardware seeds are ``seed·1000 + 1 + i``."""


def _pick(t: Tensor, sample: Tensor | None) -> Tensor:
    """``t`` (one entry per weight), or its entries at the flat weight indices ``sample``."""
    return t if sample is None else t.reshape(-1).index_select(0, sample)


def pulsed_chip(
    arr: PulsedArray, alpha: float, layer: AnalogMatrix, sample: Tensor | None = None
) -> ChipState:
    """A pulsed array's devices [A, N20]: a one-directional pair ω⁺, ω⁻ on ``[0, hi]``, or a
    bidirectional device ω on ``[lo, hi]`` against a fixed reference at ω = 0; the nominal bounds
    map to g_min and g_max (device-to-device bounds land around them)."""
    m, dev = arr.model, layer.device_spec
    span = dev.g_max_us - dev.g_min_us
    if m.one_directional:
        g = pair_conductances(_pick(arr.pos, sample), _pick(arr.neg, sample), m.hi, dev)
        return ChipState(g, (alpha * m.hi / span,), alpha * m.hi)
    width = m.hi - m.lo
    w = _pick(arr.value(), sample)
    g = (dev.g_min_us + torch.stack((w - m.lo, torch.full_like(w, -m.lo))) * (span / width)).unsqueeze(0)
    return ChipState(g, (alpha * width / span,), alpha * max(m.hi, -m.lo))


_GRIDS: dict[tuple[object, ...], tuple[int, Tensor]] = {}
"""HIC's level tables (digit offset, conductances of every digit), per dtype, caps and device."""


def hic_chip(arr: Any, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
    """HIC's slices [HIC]: each signed digit on the device of its sign, ``g_min + |d|/cap·span``;
    slice ``k`` weighs ``lsb·s_k·cap_k`` per full span. All slices in three tensor operations
    (:func:`~models.physics.chip.pair_conductances` per slice, with each slice's scale
    ``span/cap_k`` rounded to the digits' dtype as a scalar operand is: the same values)."""
    dev = layer.device_spec
    span = dev.g_max_us - dev.g_min_us
    d = arr.digits if sample is None else arr.digits_at(sample)  # (S, ...)
    scale = torch.tensor([span / cap for cap in arr.caps], dtype=d.dtype, device=d.device)
    coef = tuple(arr.lsb * s * cap / span for s, cap in zip(arr.sig, arr.caps, strict=True))
    table = None
    if sample is not None:  # the read-noise estimate's sample: its level table too
        key = (d.dtype, d.device, tuple(arr.caps), span, dev.g_min_us)
        if key not in _GRIDS:
            top = max(arr.caps)
            grid = torch.arange(-top, top + 1, dtype=d.dtype, device=d.device).expand(len(arr.caps), -1)
            _GRIDS[key] = (top, _slice_conductances(grid, scale, dev.g_min_us))
        table = LevelTable(d, *_GRIDS[key])
    g = _slice_conductances(d, scale, dev.g_min_us)
    return ChipState(g, coef, arr.lsb * crossbar.max_code(dev, layer.config), table)


def _slice_conductances(d: Tensor, scale: Tensor, g_min_us: float) -> Tensor:
    """HIC's digits ``d (S, ...)`` as conductances ``(S, 2, ...)``: ``g_min + |d|·scale_k`` on the
    device of the digit's sign, ``g_min`` on the other."""
    levels = torch.stack((d.clamp_min(0.0), (-d).clamp_min(0.0)), dim=1)  # (S, 2, ...)
    return levels.mul_(scale.view(-1, *([1] * (levels.dim() - 1)))).add_(g_min_us)


def qnn_chip(states: Tensor, alpha: float, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
    """A QNN synapse's two MTJs [G21]: (s > 0, s < 0), each at g_min or g_max; w = α·s."""
    dev, states = layer.device_spec, _pick(states, sample)
    g = pair_conductances((states > 0).to(states.dtype), (states < 0).to(states.dtype), 1.0, dev)
    return ChipState(g, (alpha / (dev.g_max_us - dev.g_min_us),), alpha)


def weight_chip(layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
    """Any other updater: one pair per weight holding |w| on the device of its sign, full scale the
    largest |w| (the analog state as the weight says, without a level grid)."""
    w_max = max(float(layer.weight.detach().abs().max()), 1e-12)
    w = _pick(layer.weight.detach(), sample)
    g = pair_conductances(w.clamp_min(0.0), (-w).clamp_min(0.0), w_max, layer.device_spec)
    return ChipState(g, (w_max / (layer.device_spec.g_max_us - layer.device_spec.g_min_us),), w_max)


def chip_state(updater: Any, i: int, layer: AnalogMatrix, sample: Tensor | None = None) -> ChipState:
    """The device state of analog layer ``i`` that ``updater`` trains (of the weights at the flat
    indices ``sample`` only, if given: conductances ``(pairs, 2, len(sample))``): the updater's
    own ``chip(i, layer, sample)`` where it keeps a device state, else :func:`weight_chip`."""
    own = getattr(updater, "chip", None)
    return own(i, layer, sample) if callable(own) else weight_chip(layer, sample)


class TrainingChip:
    """One chip under on-chip training: its layers' reads, faults and converter calibration."""

    def __init__(
        self,
        model: nn.Module,
        layers: list[AnalogMatrix],
        updater: Any,
        cfg: TrainConfig,
        x: Tensor,
        y: Tensor,
    ) -> None:
        self.model, self.layers, self.updater, self.cfg = model, layers, updater, cfg
        where = layers[0].weight.device if layers else torch.device("cpu")
        gen = seeded(cfg.seed * CHIP_SEED_STRIDE, where)
        analog_backward = cfg.backward == BackwardPass.ANALOG
        self.faulty = False
        for i, layer in enumerate(layers):
            chip = chip_state(updater, i, layer)
            a = layer.config
            faults = None
            if layer.device_spec.analog and a.stuck_off_fraction + a.stuck_on_fraction > 0:
                faults = crossbar.stuck_mask(chip.g.shape, a.stuck_off_fraction, a.stuck_on_fraction, gen)
                self.faulty = True
            layer.start_chip_reads(chip, faults, analog_backward)
        self.state_dependent = any(
            layer.device_spec.read_noise_model is ReadNoiseModel.PCM_1F for layer in layers
        )
        """The read-noise level depends on the conductances (PCM), so it follows them, estimated
        on a fixed strided sample of at most :data:`NOISE_SAMPLE` weights per layer."""
        self.samples = [
            torch.arange(0, n, max(1, n // NOISE_SAMPLE), device=where)
            for n in (layer.weight.numel() for layer in layers)
        ]
        self._norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        """The BatchNorm layers, whose statistics a calibration read leaves alone (found once)."""
        self.cal_index = permutation(x.shape[0], gen, x.device)[: cfg.batch_size]
        """Which samples of the training split form the calibration batch (drawn once)."""
        self.attach(x, y)
        self.calibrate()

    def attach(self, x: Tensor, y: Tensor) -> None:
        """Take the calibration batch (fixed, drawn once) from the training split (x, y)."""
        where = self.layers[0].weight.device if self.layers else torch.device("cpu")
        idx = self.cal_index.to(x.device)
        self.x_cal, self.y_cal = to_device(x[idx], where), to_device(y[idx], where)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the calibration batch: a checkpoint holds no training data
        (:meth:`attach` takes it back from the split by :attr:`cal_index`)."""
        state = self.__dict__.copy()
        state.pop("x_cal", None)
        state.pop("y_cal", None)
        return state

    def calibrate(self) -> None:
        """Set every converter range from one read of the calibration batch (forward, and the
        backward too when it is analog); no update, BatchNorm statistics untouched."""
        norms = self._norms
        saved = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        for layer in self.layers:
            layer.calibrating = True
        try:
            if self.cfg.backward == BackwardPass.ANALOG:
                loss = nn.functional.cross_entropy(self.model(self.x_cal), self.y_cal)
                self.model.zero_grad(set_to_none=True)
                loss.backward()
                self.model.zero_grad(set_to_none=True)
            else:
                with torch.no_grad():
                    self.model(self.x_cal)
        finally:
            for layer in self.layers:
                layer.calibrating = False
            for m, mom in zip(norms, saved, strict=True):
                m.momentum = mom

    def before_step(self, step: int) -> None:
        """Re-calibrate on schedule (then the PCM read-noise level follows the conductances);
        with stuck devices, read the devices' state every step."""
        every = self.cfg.range_recalibration_steps
        recal = every > 0 and step > 0 and step % every == 0
        if self.faulty:  # the stuck devices' reads need the whole state
            for i, layer in enumerate(self.layers):
                layer.refresh_chip(chip_state(self.updater, i, layer))
        elif recal and self.state_dependent:
            for i, layer in enumerate(self.layers):
                layer.refresh_chip(chip_state(self.updater, i, layer, self.samples[i]))
        if recal:
            self.calibrate()

    def finish(self) -> None:
        """The final device state becomes each layer's trained chip."""
        for i, layer in enumerate(self.layers):
            layer.stop_chip_reads(chip_state(self.updater, i, layer))


__all__ = ["CHIP_SEED_STRIDE", "ChipState", "TrainingChip", "chip_state"]
