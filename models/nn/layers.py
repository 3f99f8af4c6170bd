"""Analog layers: small ``nn.Module``s composing the pure functions of ``crossbar.py`` and ``drift.py``.

Every analog layer is a matrix ``(rows, out)`` on crossbar tiles: :class:`AnalogLinear`
feeds it its inputs, :class:`AnalogConv2d` the im2col patches of its input (rows =
in_ch·kh·kw, one MVM per output pixel). The weight is stored as that matrix so that
tiles of ``tile_rows`` rows are views of it; all full tiles run in one batched matmul,
the remainder tile in a second. The forward pass is DAC → per-tile analog partial sums
→ per-tile ADC (→ GDC scale) → digital sum.

States:
- training (``module.training``): floating-point weights, hardware-aware noise
  injected at the tile outputs (:func:`output_noise`), dynamic converter ranges;
- programmed (after :meth:`AnalogMatrix.program`): the weights read back from the noisy
  programmed conductances at the current read time (:meth:`AnalogMatrix.set_read_time`),
  calibrated or fixed converter ranges, per-read additive noise, GDC if ``gdc``;
- ideal eval (neither): the floating-point weights, the same converters;
- on-chip training (``chip_reads``, ``models/nn/chip_reads.py``): chip-true reads; then
  :meth:`AnalogMatrix.program` reads the ``trained_chip`` instead of programming a fresh one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models.config import AdcRange, AnalogConfig
from models.nn.chip_reads import ChipReads, read_through
from models.nn.mvm import AnalogMVM
from models.nn.tile_reads import DacObserver, TileReads
from models.physics import converters, crossbar, drift, fused_reads, tiling
from models.physics.chip import ChipState, additive_weight_std
from models.physics.devices import DeviceSpec, get_device
from models.physics.noise import normals, output_noise
from models.torch_device import random_int, seeded


class AnalogMatrix(ChipReads, TileReads, nn.Module):
    """A weight matrix ``(rows, out)`` mapped onto crossbar tiles of one device technology."""

    def __init__(
        self, rows: int, out: int, config: AnalogConfig, bias: bool = True, tile_rows: int | None = None
    ) -> None:
        super().__init__()
        self.tile_rows = tile_rows or config.rows
        """Rows used per full tile (a conv packs whole kernels: fewer than ``config.rows``)."""
        self.config = config
        self.device_spec: DeviceSpec = get_device(config.device)
        self.weight = nn.Parameter(torch.empty(rows, out))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.register_parameter("out_scale", None)
        """Per-output digital scale (``None``: 1); created by :meth:`enable_output_scale`."""
        bound = 1.0 / math.sqrt(rows)
        nn.init.uniform_(self.weight, -bound, bound)
        self.row_sizes = tiling.tile_row_sizes(rows, self.tile_rows)
        self.register_buffer("dac_range", torch.zeros(()))
        self.register_buffer("adc_range", torch.zeros(len(self.row_sizes), 1, out))
        self.programmed: Tensor | None = None
        """Effective weights read from the programmed devices at the current read time."""
        self.calibrating = False
        self.noise_std = 0.0
        """Relative hwa noise (η_train); set by the trainer, used only while training."""
        self.analog = True
        """False evaluates the layer as a plain floating-point matmul (the software baseline)."""
        self.gdc = config.gdc
        """Apply global drift compensation to programmed reads."""
        self.read_time_s = 0.0
        self._g: Tensor | None = None
        self._nu: Tensor | None = None
        self._faults: Tensor | None = None
        self._w_max_prog = torch.ones(())
        self._gdc_ref: Tensor | None = None
        self._gdc_scale: Tensor | None = None
        self._read_sigma = 0.0
        self._read_gen: torch.Generator | None = None
        self._calibrated = False
        self.weight_bits: int | None = None
        """Training only: fake-quantize the weight to this many signed bits (hwa)."""
        self.w_range: float | None = None
        """Fixed weight range mapped to the full conductance span at programming (on-chip
        modes whose weights sit on a device grid); ``None``: the largest |weight|."""
        self.chip_reads = False
        """On-chip training: chip-true reads (see the module docstring)."""
        self.analog_backward = False
        """On-chip training: ∂x is a transposed read of the array (``models.nn.mvm``)."""
        self.trained_chip: ChipState | None = None
        """The device state on-chip training left: what :meth:`program` then reads."""
        self.chip_faults: Tensor | None = None
        """Stuck-device codes of the trained chip (:func:`crossbar.stuck_mask`), or None."""
        self._chip: ChipState | None = None
        self._chip_weight: Tensor | None = None
        self.bwd_dac_range: float | None = None
        """Calibrated DAC range of the backward pass's input ∂y."""
        self.bwd_adc_range: Tensor | None = None
        """Calibrated ADC ranges of the backward pass's per-tile partial sums."""
        self.dac_counter: DacObserver | None = None
        """Counts the DAC codes of the passes it is set for (``models.nn.read_activity``)."""

    def enable_output_scale(self) -> nn.Parameter:
        """Add (once) a per-output digital scale, initialised to 1, applied after the MVM (apt)."""
        if self.out_scale is None:
            w = self.weight
            self.out_scale = nn.Parameter(torch.ones(w.shape[1], dtype=w.dtype, device=w.device))
        return self.out_scale

    # ------------------------------------------------------------ mapping facts

    @property
    def tiles(self) -> int:
        """Crossbar tiles this layer occupies (row tiles × column tiles)."""
        return len(self.row_sizes) * tiling.tile_count(self.weight.shape[1], self.config.cols)

    def w_max(self) -> Tensor:
        """Largest |weight|: the weight that maps to the full conductance span."""
        lo, hi = torch.aminmax(self.weight.detach())  # one pass; max and min are exact
        return torch.maximum(hi, lo.neg_()).clamp_min(1e-12)

    # ------------------------------------------------------------ programming and time

    @torch.no_grad()
    def program(self, generator: torch.Generator) -> None:
        """Program the current weights once: quantized levels, programming noise, stuck-at
        faults, a device-to-device draw of drift exponents; then read at t = 0. ``generator``
        lives on the weights' torch device, as does the per-read generator seeded from it."""
        dev, cfg, where = self.device_spec, self.config, self.weight.device
        if self.trained_chip is not None:  # the chip that trained: its devices as training left them
            self._chip = self.trained_chip
            w_max = torch.tensor(self._chip.w_max, device=where)
            g, self._faults = self._chip.g.clone(), self.chip_faults
            if self._faults is not None:
                g = crossbar.apply_stuck(g, self._faults, dev)
        else:
            self._chip = None
            w_max = self.w_max() if self.w_range is None else torch.tensor(float(self.w_range), device=where)
            g = crossbar.program(
                crossbar.weight_to_slices(self.weight, w_max, dev, cfg), dev, generator, cfg.prog_noise_scale
            )
            self._faults = None
        if self._chip is None and dev.analog and cfg.stuck_off_fraction + cfg.stuck_on_fraction > 0:
            self._faults = crossbar.stuck_mask(
                g.shape, cfg.stuck_off_fraction, cfg.stuck_on_fraction, generator
            )
            g = crossbar.apply_stuck(g, self._faults, dev)
        self._g, self._w_max_prog = g, w_max
        self._nu = drift.drift_exponents(g, dev, generator) if dev.analog else torch.zeros_like(g)
        self._read_gen = seeded(random_int(2**62, generator), where)
        self._read_sigma = self._read_noise_weight_std(w_max) if dev.analog else 0.0
        self._gdc_ref = None
        self.set_read_time(0.0, self._read_gen)

    def _read_noise_weight_std(self, w_max: Tensor) -> float:
        """Std of one weight's additive read noise: both devices of every slice, in weight units
        (a constant of the mapping: computed on the CPU, whatever the weights' torch device)."""
        sigma_us = drift.additive_read_std_us(self.device_spec, self.config.read_noise_scale)
        if sigma_us == 0:
            return 0.0
        if self._chip is not None:
            return additive_weight_std(self._chip, sigma_us)
        s = self.config.slices
        unit = torch.zeros(s, 2, s, 1, device="cpu")
        diag = torch.arange(s, device="cpu")
        unit[diag, 0, diag, 0] = 1.0
        coef = crossbar.slices_to_weight(unit, float(w_max), self.device_spec, self.config)
        return sigma_us * math.sqrt(2.0 * float((coef**2).sum()))

    @torch.no_grad()
    def set_read_time(self, t_s: float, generator: torch.Generator) -> None:
        """Read the programmed devices ``t_s`` seconds after programming: drift, accumulated
        read noise (drawn from ``generator``), stuck devices, IR drop; update the GDC factors."""
        if self._g is None or self._nu is None:
            raise RuntimeError("program() the layer before setting a read time")
        dev, cfg = self.device_spec, self.config
        g = drift.read_at(self._g, self._nu, t_s, dev, generator, cfg.drift, cfg.read_noise_scale)
        if self._faults is not None:
            g = crossbar.apply_stuck(g, self._faults, dev)
        w = self._as_weight(g)
        sums = tiling.tile_abs_sums(w, self.tile_rows, cfg.cols)
        if self._gdc_ref is None:
            self._gdc_ref = sums
        scale = drift.gdc_scale(self._gdc_ref, sums)
        self._gdc_scale = tiling.expand_column_tiles(scale, cfg.cols, w.shape[1])
        if cfg.ir_drop > 0:
            g = g * crossbar.ir_drop_factor(g, dev, self.tile_rows, cfg.ir_drop)
            w = self._as_weight(g)
        self.programmed = w
        self.read_time_s = t_s

    def _as_weight(self, g: Tensor) -> Tensor:
        """The weight conductances ``g`` read as: the trained chip's pairs, or the mapping's slices."""
        if self._chip is not None:
            return self._chip.weight(g)
        return crossbar.slices_to_weight(g, self._w_max_prog, self.device_spec, self.config)

    def unprogram(self) -> None:
        """Forget the programmed state (back to the floating-point weights; a trained chip stays)."""
        self.programmed = self._g = self._nu = self._faults = self._chip = None
        self._gdc_ref = self._gdc_scale = None
        self._read_sigma = 0.0

    # ------------------------------------------------------------ forward

    def current_weight(self) -> Tensor:
        """The weight a forward pass uses: programmed (at the read time) in eval, else the float
        one (fake-quantized to ``weight_bits`` while training, straight-through)."""
        if self.programmed is not None and not self.training:
            return self.programmed
        if self.training and self.chip_reads and self._chip_weight is not None:
            return read_through(self.weight, self._chip_weight)
        if self.training and self.weight_bits:
            return converters.fake_quant(self.weight, self.weight_bits, self.w_max(), True)
        return self.weight

    @property
    def digital(self) -> bool:
        """True when the forward pass is a plain matmul: software baseline or digital SRAM."""
        return not self.analog or not self.device_spec.analog

    def _mvm(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """``x @ W (+ bias)`` for 2-D ``x (N, rows)`` through DAC, tiles, noise, ADC and GDC."""
        w = self.current_weight()
        if self.digital:
            # software baseline, or the exact digital SRAM word
            if w.shape[1] < tiling.NARROW:
                w = tiling.column_major(w)
            y = x @ w if bias is None else torch.addmm(bias, x, w)
            if self.training and self.noise_std > 0:  # hwa's digital forward: η_train only [J20]
                self._add_training_noise(y, x)  # in place: no autograd copy of y
            return y
        if torch.is_grad_enabled() and (
            x.requires_grad or w.requires_grad or (bias is not None and bias.requires_grad)
        ):
            return AnalogMVM.apply(x, w, bias, self)
        with torch.no_grad():
            return self._analog_pipeline(x, w, bias)[0]

    def _analog_pipeline(self, x: Tensor, w: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The analog pipeline (call without grad); returns the output (+ ``bias``) and the DAC'd input.

        Training noise is drawn on the summed output: the sum of independent per-tile
        output-referred noises N(0, σ²‖x_t‖²) is N(0, σ²‖x‖²), so the injected variance is
        the same as per tile, with a fraction of the draws (only its interaction with ADC
        clipping is left out). Per-read noise at evaluation stays per tile, before the ADC.

        All tiles' partial sums live in one ``(tiles, N, out)`` tensor, so each converter
        step is one pass over all tiles; on the CPU, the chain after the matmul is one fused
        pass (:meth:`_fuses`, :func:`models.physics.fused_reads.read`) with the same values.
        """
        cfg = self.config
        programmed = self.programmed is not None and not self.training
        chip = self.training and self.chip_reads
        w_max: Tensor | None = None
        if programmed or chip:
            w_max = self._w_max_prog
        elif cfg.adc_bits is not None and cfg.adc_range is AdcRange.FIXED:
            w_max = self.w_max()
        x_q, x_range = self._dac(x)
        parts = tiling.stacked_partial_sums(x_q, w, self.tile_rows)
        noisy = (programmed or chip) and self._read_sigma > 0
        scale = self._gdc_scale if programmed and self.gdc else None
        dynamic = cfg.adc_bits is not None and self._adc_is_dynamic()
        fuses = self._fuses(parts) and not (noisy and dynamic)  # dynamic ranges would see the noise
        if fuses and noisy and self.calibrating:  # the percentile reads the noisy sums: noise first
            self._add_read_noise(x_q, parts, self._read_gen if programmed else None)
            noisy = False
        if fuses:
            y = fused_reads.read(
                parts,
                x_q,
                self.tile_rows,
                read_sigma=self._read_sigma if noisy else 0.0,
                gen=self._read_gen if programmed else None,
                ranges=None if cfg.adc_bits is None else self._adc_ranges(parts, w_max, x_range),
                adc_bits=cfg.adc_bits or 0,
                clip=not dynamic,
                scale=scale,
                train_sigma=self._train_sigma() if self.training and self.noise_std > 0 else 0.0,
                bias=bias,
            )
            return y, x_q
        if noisy:
            self._add_read_noise(x_q, parts, self._read_gen if programmed else None)
        if cfg.adc_bits is not None:
            ranges = self._adc_ranges(parts, w_max, x_range)
            converters.adc_(parts, cfg.adc_bits, ranges, scale, clip=not dynamic)
        elif scale is not None:
            parts.mul_(scale)
        y = parts[0] if parts.shape[0] == 1 else parts.sum(dim=0)
        if self.training and self.noise_std > 0:
            # η_train alone, as in [J20]; the level quantization happens once, at programming.
            # Folding its Δ²/12 in here made binary devices (Δ = w_max) untrainable.
            self._add_training_noise(y, x_q)
        return (y if bias is None else y.add_(bias)), x_q


class AnalogLinear(AnalogMatrix):
    """A fully connected layer; ``weight`` is ``(in, out)``."""

    def __init__(self, in_features: int, out_features: int, config: AnalogConfig, bias: bool = True) -> None:
        super().__init__(in_features, out_features, config, bias)
        self.in_features = in_features
        self.out_features = out_features

    @classmethod
    def from_linear(cls, layer: nn.Linear, config: AnalogConfig) -> AnalogLinear:
        """Convert a digital ``nn.Linear`` (weights copied, transposed to ``(in, out)``)."""
        new = cls(layer.in_features, layer.out_features, config, bias=layer.bias is not None)
        with torch.no_grad():
            new.weight.copy_(layer.weight.t())
            if layer.bias is not None and new.bias is not None:
                new.bias.copy_(layer.bias)
        return new

    def forward(self, x: Tensor) -> Tensor:
        """DAC → tiled analog MVM (+ noise) → ADC → digital sum (+ bias)."""
        if x.dim() == 2 and self.out_scale is None:  # the common case, without reshapes
            return self._mvm(x, self.bias)
        lead = x.shape[:-1]
        if self.out_scale is None:  # bias folded into the MVM (addmm, or the analog function)
            y = self._mvm(x.reshape(-1, self.in_features), self.bias)
        else:
            y = self._mvm(x.reshape(-1, self.in_features)) * self.out_scale
            if self.bias is not None:
                y = y + self.bias
        return y.reshape(*lead, self.out_features)


__all__ = ["AnalogLinear", "AnalogMatrix", "normals", "output_noise"]
