"""The analog MVM as an autograd function, with an ideal or an analog backward pass.

Forward: the layer's analog pipeline (DAC → tiles → noise → ADC → sum). Backward, for
``∂W = x_qᵀ·∂y`` (the input the array saw; on chip the updater turns it into pulses) and
``∂b = Σ ∂y``, and for ``∂x`` either

- ideal: ``∂y·Wᵀ``, exact, with the weights the array holds; or
- analog (on-chip training, ``backward = "analog"``): a transposed read of the same array,
  as aihwkit's analog backward pass [A]. ∂y drives the columns through a DAC, each column
  tile sums over its columns (``tile_cols`` of them) onto the rows, with the array's read
  noise (output-referred, per tile, as the forward read), then an ADC per tile, and the tiles'
  outputs are summed digitally. Its converter ranges are calibrated on the calibration batch
  like the forward's (``range_recalibration_steps``), never taken from the ∂y they convert:
  the DAC from a percentile of |∂y| (``dac_percentile``), the ADC from a percentile of the
  partial sums (``adc_range = "calibrated"``) or full scale (``"fixed"``: columns × w_max ×
  the DAC range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from models.config import AdcRange, RangeScope
from models.physics import converters, fused_reads, tiling

if TYPE_CHECKING:
    from models.nn.layers import AnalogMatrix


def transposed_read(layer: AnalogMatrix, d: Tensor, w: Tensor) -> Tensor:
    """``d·Wᵀ`` for ``d (N, out)`` read through the array ``w (rows, out)`` transposed: DAC on
    ``d``, per-column-tile partial sums with read noise, ADC per tile, digital sum ``(N, rows)``."""
    cfg = layer.config
    if layer.calibrating:
        layer.bwd_dac_range = float(
            converters.percentile(d.abs().reshape(1, -1), cfg.dac_percentile, dim=1)[0]
        )
    d_range = layer.bwd_dac_range
    if d_range is None and cfg.dac_bits is not None:
        raise RuntimeError("the analog backward pass needs calibrated ranges: calibrate the layer first")
    if cfg.dac_bits is None:
        d_q = d
    elif cfg.dac_bits > 1 and fused_reads.usable(d):
        d_q = fused_reads.quantize(d, cfg.dac_bits, d_range, True)[0]  # type: ignore[arg-type]
    else:
        d_q = converters.quantize_scalar_range(d, cfg.dac_bits, d_range, True)  # type: ignore[arg-type]
    parts = tiling.stacked_partial_sums(d_q, w.t(), cfg.cols)  # (column tiles, N, rows)
    fuses, sigma = layer._fuses(parts), layer._read_sigma
    if fuses and sigma > 0 and layer.calibrating:  # the percentile reads the noisy sums: noise first
        layer._add_read_noise(d_q, parts, None, cfg.cols)
        sigma = 0.0
    if fuses:
        return fused_reads.read(
            parts,
            d_q,
            cfg.cols,
            read_sigma=sigma,
            gen=None,
            ranges=None if cfg.adc_bits is None else _adc_ranges(layer, parts, d_range),
            adc_bits=cfg.adc_bits or 0,
            clip=True,
        )
    if layer._read_sigma > 0:
        layer._add_read_noise(d_q, parts, None, cfg.cols)
    if cfg.adc_bits is not None:
        converters.adc_(parts, cfg.adc_bits, _adc_ranges(layer, parts, d_range), None, clip=True)
    return parts[0] if parts.shape[0] == 1 else parts.sum(dim=0)


def _adc_ranges(layer: AnalogMatrix, parts: Tensor, d_range: float | None) -> Tensor:
    """ADC ranges of the transposed read, ``(column tiles, 1, rows)`` or broadcastable to it."""
    cfg = layer.config
    layer_scope = cfg.adc_scope is RangeScope.LAYER
    if cfg.adc_range is AdcRange.FIXED:
        if d_range is None:
            raise RuntimeError("a fixed backward ADC range needs a calibrated backward DAC range")
        cols = tiling.tile_row_sizes(layer.weight.shape[1], cfg.cols)  # columns per column tile
        r = torch.tensor(cols, dtype=parts.dtype, device=parts.device) * (float(layer._w_max_prog) * d_range)
        r = r.view(-1, 1, 1)
        return r.amax().expand_as(r) if layer_scope else r
    if layer.calibrating:
        per_row = fused_reads.abs_percentile(parts, cfg.adc_percentile)
        r = (
            per_row.amax().view(1, 1, 1)
            if layer_scope
            else converters.column_tile_max_fast(per_row, layer.tile_rows)
        )
        layer.bwd_adc_range = r
    if layer.bwd_adc_range is None:
        raise RuntimeError("the analog backward pass needs calibrated ranges: calibrate the layer first")
    return layer.bwd_adc_range


class AnalogMVM(torch.autograd.Function):
    """The analog forward; the backward of the plain matmul ``x @ W (+ bias)``, with ∂x ideal or
    a transposed read (:func:`transposed_read`) when ``layer.analog_backward``.

    With straight-through DAC and ADC, noise that does not depend on the weights, and a sum
    over tiles, ∂y/∂(partial sum of every tile) is the identity, so the ideal backward pass
    is exactly ``nn.Linear``'s: two plain matmuls, no per-tile autograd graph.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        w: Tensor,
        bias: Tensor | None,
        layer: AnalogMatrix,
    ) -> Tensor:
        y, x_q = layer._analog_pipeline(x, w, bias)  # autograd functions run without grad
        ctx.save_for_backward(x_q, w)
        ctx.layer = layer if layer.analog_backward and layer.training else None  # type: ignore[attr-defined]
        ctx.calibrating = layer.calibrating  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x_q, w = ctx.saved_tensors  # type: ignore[attr-defined]
        needs = ctx.needs_input_grad  # type: ignore[attr-defined]
        layer = ctx.layer  # type: ignore[attr-defined]
        grad_x = None
        if needs[0]:
            grad_x = grad @ w.t() if layer is None else transposed_read(layer, grad, w)
        grad_w = None
        if needs[1] and not ctx.calibrating:  # type: ignore[attr-defined]
            # a calibration read sets converter ranges only: its weight gradient is never used
            # (narrow outputs: the column-major product is faster, then one small copy)
            grad_w = (grad.t() @ x_q).t().contiguous() if grad.shape[1] < tiling.NARROW else x_q.t() @ grad
        grad_b = grad.sum(dim=0) if needs[2] else None
        return grad_x, grad_w, grad_b, None


__all__ = ["AnalogMVM", "transposed_read"]
