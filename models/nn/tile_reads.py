"""The converter and noise steps of an analog layer's tile reads: DAC, ADC ranges, read and training noise.

A mixin of :class:`~models.nn.layers.AnalogMatrix` (split out for module size); its state lives on
the layer. Each step has a torch form, the reference and the path on every torch device, and
for the post-matmul chain of a read (noise → ADC → tile sum → bias) a fused CPU pass,
:func:`models.physics.fused_reads.read`, that gives the same values (:meth:`TileReads._fuses`
says when it applies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from models.config import AdcRange, RangeScope
from models.physics import converters, fused_reads, tiling
from models.physics.noise import normals

if TYPE_CHECKING:
    from models.config import AnalogConfig
    from models.nn.layers import AnalogMatrix


class DacObserver(Protocol):
    """What watches a layer's DAC codes: ``add`` takes its output ``q`` at range ``r``
    (``models.nn.read_activity.CodeCounter``)."""

    def add(self, layer: AnalogMatrix, q: Tensor, r: float, signed: bool) -> None: ...


class TileReads:
    """DAC, ADC ranges and noise of an analog layer's reads (state lives on the layer)."""

    weight: torch.nn.Parameter
    config: AnalogConfig
    training: bool
    chip_reads: bool
    calibrating: bool
    noise_std: float
    tile_rows: int
    row_sizes: list[int]
    dac_range: Tensor
    adc_range: Tensor
    dac_counter: DacObserver | None
    _calibrated: bool
    _read_sigma: float

    @property
    def _dynamic(self) -> bool:
        """Converter ranges from the very batch they convert: off-chip training only."""
        return self.training and not self.chip_reads

    def _dac(self, x: Tensor) -> tuple[Tensor, float]:
        """Quantize the inputs; returns them and the DAC range, a Python float (no 0-dim tensor
        arithmetic), as the sign is; a dynamic range covers the inputs, so it skips the clamp."""
        cfg = self.config
        fixed = cfg.dac_range is AdcRange.FIXED
        if fixed:
            r = cfg.dac_full_scale
        else:
            if self.calibrating:
                flat = x.abs().reshape(1, -1)
                self.dac_range.copy_(converters.percentile(flat, cfg.dac_percentile, dim=1)[0])
            r = 0.0 if self._dynamic or self.calibrating else float(self.dac_range)
        if cfg.dac_bits is not None and cfg.dac_bits > 1 and fused_reads.usable(x):
            q, r, signed = fused_reads.quantize(x, cfg.dac_bits, r, fixed)  # one fused pass
        else:
            signed, dynamic = fixed, not fixed
            if not fixed and r > 0:
                signed, dynamic = float(x.amin()) < 0, False
            elif not fixed:  # dynamic: the largest |input| of this batch
                lo_t, hi_t = torch.aminmax(x)
                lo, hi = float(lo_t), float(hi_t)
                signed = lo < 0
                r = max(hi, -lo) if signed else hi
            if cfg.dac_bits is None:
                return x, r
            q = converters.quantize_scalar_range(x, cfg.dac_bits, r, signed, clip=not dynamic)
        if self.dac_counter is not None:  # the test set's codes (models.nn.read_activity)
            self.dac_counter.add(self, q, r, signed)  # type: ignore[arg-type]
        return q, r

    def _adc_ranges(self, parts: Tensor, w_max: Tensor | None, x_range: Tensor | float) -> Tensor:
        """Per-tile ADC ranges for partial sums ``parts (tiles, N, out)``: fixed full scale,
        dynamic, or calibrated; ``(tiles, 1, out)`` or broadcastable to it."""
        cfg = self.config
        if cfg.adc_range is AdcRange.FIXED:
            rows = torch.tensor(self.row_sizes, dtype=parts.dtype, device=parts.device)
            r = (rows * w_max * x_range).view(-1, 1, 1).expand(-1, 1, parts.shape[-1])
            return r.amax().expand_as(r) if cfg.adc_scope is RangeScope.LAYER else r
        if not (self._dynamic or self.calibrating) and self._calibrated:
            return self.adc_range
        if self.calibrating:
            per_col = fused_reads.abs_percentile(parts, cfg.adc_percentile)
            if cfg.adc_scope is RangeScope.LAYER:
                r = per_col.amax().view(1, 1, 1)
            else:
                r = converters.column_tile_max_fast(per_col, cfg.cols)
        else:  # dynamic: max |partial sum| per tile (or layer) of this MVM
            r = converters.tile_abs_max(parts, cfg.cols, cfg.adc_scope is RangeScope.LAYER)
        if self.calibrating:
            self.adc_range.copy_(r.expand_as(self.adc_range))
            self._calibrated = True
        return r

    def _adc_is_dynamic(self) -> bool:
        """True when the ADC ranges are the max |partial sum| of the very MVM they quantize."""
        cfg = self.config
        if cfg.adc_range is AdcRange.FIXED or self.calibrating:
            return False
        return self._dynamic or not self._calibrated

    def _fuses(self, parts: Tensor) -> bool:
        """True when a read's post-matmul chain runs fused (:func:`fused_reads.read`): CPU float
        partial sums added in torch's order (:func:`fused_reads.in_order`), no 1-bit ADC. A calibration
        read adds its read noise first, in torch, for the ranges' percentile to see it."""
        bits = self.config.adc_bits
        return (
            fused_reads.usable(parts)
            and fused_reads.in_order(parts)
            and (bits is None or bits > 1)
            and parts.is_contiguous()
        )

    def _train_sigma(self) -> float:
        """η_train·w_max as a Python float (hwa, [J20]); w_max from one aminmax pass."""
        lo, hi = torch.aminmax(self.weight.detach())
        return max(float(hi), -float(lo), 1e-12) * self.noise_std

    def _add_training_noise(self, y: Tensor, x: Tensor) -> Tensor:
        """``y += N(0, (η_train·w_max)²·‖x‖²)`` per sample, in place (hwa, [J20]): the output-referred
        per-weight noise of :func:`~models.physics.noise.output_noise` on the whole matrix."""
        sigma = self._train_sigma()
        norms = torch.linalg.vector_norm(x.detach(), dim=1, keepdim=True)
        return y.addcmul_(normals(y, None), norms, value=sigma)

    def _add_read_noise(
        self, x_q: Tensor, parts: Tensor, gen: torch.Generator | None, tile_rows: int | None = None
    ) -> None:
        """Per-read additive noise of every tile, output-referred (:func:`output_noise`), drawn
        per group of tiles (full tiles, then the remainder) as :func:`tiling.row_tiles` splits;
        fresh from ``gen`` (evaluation) or table windows (``None``: training reads)."""
        start = 0
        for xt in tiling.row_tiles(x_q, tile_rows or self.tile_rows):
            p = parts[start : start + xt.shape[0]]
            norms = torch.linalg.vector_norm(xt, dim=2, keepdim=True)
            p.addcmul_(normals(p, gen), norms, value=self._read_sigma)
            start += xt.shape[0]


__all__ = ["DacObserver", "TileReads"]
