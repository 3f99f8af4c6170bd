"""Analog 2-D convolution on crossbar tiles (the im2col rows of ``models/nn/layers.py``'s matrix).

Split from ``layers.py`` only for module size; :class:`AnalogConv2d` is re-exported there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import AdcRange, AnalogConfig, RangeScope
from models.nn.layers import AnalogMatrix
from models.nn.mvm import transposed_read
from models.physics import converters, crossbar, tiling
from models.physics.noise import normals


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


class AnalogConv2d(AnalogMatrix):
    """A 2-D convolution on the same tiles: im2col patches ``(in_ch·kh·kw)`` are the rows.

    ``weight`` is ``(in_ch·kh·kw, out_ch)`` in ``F.unfold``'s (channel, kh, kw) order. A
    tile holds whole kernels: ``⌊tile_rows/(kh·kw)⌋`` input channels, as crossbar mappers
    do, so every row tile is a channel group and all tiles' partial sums come from one
    grouped convolution (no im2col copy); the backward pass is the plain convolution's.
    Kernels larger than a tile fall back to im2col rows split anywhere.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        config: AnalogConfig,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
    ) -> None:
        kh, kw = _pair(kernel_size)
        fit = config.rows // (kh * kw)  # whole kernels per tile; spread channels evenly over tiles
        self.channels_per_tile = -(-in_channels // -(-in_channels // fit)) if fit else 0
        tile_rows = self.channels_per_tile * kh * kw if self.channels_per_tile else None
        super().__init__(in_channels * kh * kw, out_channels, config, bias, tile_rows)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kh, kw)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, config: AnalogConfig) -> AnalogConv2d:
        """Convert a digital ``nn.Conv2d`` (groups = 1, zero padding)."""
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("AnalogConv2d supports groups=1, numeric zero padding only")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            config,  # type: ignore[arg-type]
            conv.stride,
            conv.padding,
            conv.dilation,
            bias=conv.bias is not None,  # type: ignore[arg-type]
        )
        with torch.no_grad():
            new.weight.copy_(conv.weight.reshape(conv.out_channels, -1).t())
            if conv.bias is not None and new.bias is not None:
                new.bias.copy_(conv.bias)
        return new

    def kernel(self, w: Tensor) -> Tensor:
        """A ``(rows, out)`` matrix as a conv kernel ``(out, in_ch, kh, kw)``."""
        return w.t().reshape(self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        """Tiled analog convolution (+ bias)."""
        w = self.current_weight()
        noisy = self.training and self.noise_std > 0
        if self.digital and self.out_scale is None and not noisy:
            return F.conv2d(x, self.kernel(w), self.bias, self.stride, self.padding, self.dilation)
        if self.digital:
            y = F.conv2d(x, self.kernel(w), None, self.stride, self.padding, self.dilation)
            if noisy:  # hwa's digital forward: η_train only [J20]
                y = y + self._digital_noise(x, y)
        elif not self.channels_per_tile:
            y = self._unfolded(x)
        elif torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
            y = _AnalogConvFn.apply(x, w, self)
        else:
            y = self._analog_conv(x, w)[0]
        if self.out_scale is not None:
            y = y * self.out_scale.view(1, -1, 1, 1)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    @torch.no_grad()
    def _digital_noise(self, x: Tensor, y: Tensor) -> Tensor:
        """Output-referred η_train noise N(0, (η·w_max)²·‖patch‖²) per output pixel."""
        ones = torch.ones(1, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        conv = (self.stride, self.padding, self.dilation)
        norms = F.conv2d((x * x).sum(dim=1, keepdim=True), ones, None, *conv).sqrt_()
        return normals(y, None) * (norms * (self.w_max() * self.noise_std))

    def _unfolded(self, x: Tensor) -> Tensor:
        b, _, h, w_in = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (w_in + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        y = self._mvm(cols.transpose(1, 2).reshape(b * ho * wo, -1))
        return y.reshape(b, ho * wo, self.out_channels).transpose(1, 2).reshape(b, self.out_channels, ho, wo)

    @torch.no_grad()
    def _analog_conv(self, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
        """DAC on the image → one grouped conv for all row tiles' partial sums → noise → ADC → sum.

        Same physics as :meth:`AnalogMatrix._analog_pipeline`, in (batch, tile, out, h, w)
        layout; returns the output (no bias) and the DAC'd image.
        """
        cfg = self.config
        programmed = self.programmed is not None and not self.training
        chip = self.training and self.chip_reads
        w_max = self._w_max_prog if programmed or chip else self.w_max()
        x_q, x_range = self._dac(x)
        n_t, cpt, out = len(self.row_sizes), self.channels_per_tile, self.out_channels
        pad_c = n_t * cpt - self.in_channels
        xp = F.pad(x_q, (0, 0, 0, 0, 0, pad_c)) if pad_c else x_q
        k = F.pad(self.kernel(w), (0, 0, 0, 0, 0, pad_c)) if pad_c else self.kernel(w)
        k = (
            k.reshape(out, n_t, cpt, *self.kernel_size)
            .transpose(0, 1)
            .reshape(n_t * out, cpt, *self.kernel_size)
        )
        conv = (self.stride, self.padding, self.dilation)
        parts = F.conv2d(xp, k, None, *conv, groups=n_t)
        b, _, ho, wo = parts.shape
        parts = parts.view(b, n_t, out, ho, wo)
        if (
            programmed or chip
        ) and self._read_sigma > 0:  # per-tile patch norms: channel sums, then a window sum
            sq = (xp * xp).view(b, n_t, cpt, *xp.shape[2:]).sum(dim=2)
            ones = torch.ones(n_t, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
            norms = F.conv2d(sq, ones, None, *conv, groups=n_t).sqrt_().unsqueeze(2)
            gen = self._read_gen if programmed else None  # training reads: table windows
            parts.add_(normals(parts, gen) * (norms * self._read_sigma))
        if cfg.adc_bits is not None:
            flat = [parts.permute(1, 0, 3, 4, 2).reshape(n_t, -1, out)] if self.calibrating else None
            ranges = self._tile_ranges(parts, flat, w_max, x_range)
            converters.quantize_uniform_(parts, cfg.adc_bits, ranges.view(1, n_t, out, 1, 1))
        if programmed and self.gdc and self._gdc_scale is not None:
            parts.mul_(self._gdc_scale.view(1, n_t, out, 1, 1))
        y = parts.sum(dim=1)
        if self.training and self.noise_std > 0:
            step = crossbar.weight_step(1.0, self.device_spec, cfg)
            sigma = w_max * math.sqrt(self.noise_std**2 + step * step / 12.0)
            ones = torch.ones(1, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
            norms = F.conv2d((x_q * x_q).sum(dim=1, keepdim=True), ones, None, *conv).sqrt_()
            y.add_(normals(y, None) * (norms * sigma))
        return y, x_q

    def _tile_ranges(
        self, parts: Tensor, flat: list[Tensor] | None, w_max: Tensor, x_range: Tensor | float
    ) -> Tensor:
        """ADC ranges ``(tiles, 1, out)`` for partial sums in (batch, tile, out, h, w) layout."""
        if (
            flat is not None
            or self.config.adc_range is AdcRange.FIXED
            or (self._calibrated and not self._dynamic)
        ):
            probe = flat[0] if flat is not None else parts[:1, :, :, 0, 0].transpose(0, 1)
            n_t, out = probe.shape[0], probe.shape[2]
            return self._adc_ranges(probe, w_max, x_range).expand(n_t, 1, out)
        per_col = torch.maximum(parts.amax(dim=(0, 3, 4)), parts.amin(dim=(0, 3, 4)).neg_())
        r = tiling.column_tile_max(per_col, self.config.cols)
        return r.amax().expand_as(r) if self.config.adc_scope is RangeScope.LAYER else r


class _AnalogConvFn(torch.autograd.Function):
    """The tiled analog convolution with the plain convolution's gradient (straight-through
    converters, as :class:`~models.nn.mvm.AnalogMVM`): ``aten.convolution_backward`` on the DAC'd
    image; with ``layer.analog_backward`` the input's gradient is the transposed read of the
    array (:func:`~models.nn.mvm.transposed_read`) for every output pixel's error, folded back
    onto the image (the adjoint of im2col)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: Tensor, w: Tensor, layer: AnalogConv2d
    ) -> Tensor:
        y, x_q = layer._analog_conv(x, w)
        ctx.save_for_backward(x_q, w)
        ctx.layer = layer  # type: ignore[attr-defined]
        ctx.analog = layer.analog_backward and layer.training  # type: ignore[attr-defined]
        ctx.calibrating = layer.calibrating  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None]:
        x_q, w = ctx.saved_tensors  # type: ignore[attr-defined]
        layer: AnalogConv2d = ctx.layer  # type: ignore[attr-defined]
        analog = bool(ctx.analog) and bool(ctx.needs_input_grad[0])  # type: ignore[attr-defined]
        # a calibration read sets converter ranges only: its kernel gradient is never used
        wants_w = bool(ctx.needs_input_grad[1]) and not ctx.calibrating  # type: ignore[attr-defined]
        mask = [bool(ctx.needs_input_grad[0]) and not analog, wants_w, False]  # type: ignore[attr-defined]
        grad_x, grad_k, _ = torch.ops.aten.convolution_backward(
            grad.contiguous(),
            x_q,
            layer.kernel(w),
            None,
            list(layer.stride),
            list(layer.padding),
            list(layer.dilation),
            False,
            [0, 0],
            1,
            mask,
        )
        grad_w = grad_k.reshape(layer.out_channels, -1).t() if grad_k is not None else None
        if analog:
            b, out, ho, wo = grad.shape
            d = grad.permute(0, 2, 3, 1).reshape(b * ho * wo, out)
            cols = transposed_read(layer, d, w).view(b, ho * wo, -1).transpose(1, 2)
            grad_x = F.fold(
                cols, x_q.shape[2:], layer.kernel_size, layer.dilation, layer.padding, layer.stride
            )
        return grad_x, grad_w, None
