"""Analog 1-D convolution: a 2-D convolution of height 1 on the same crossbar tiles.

A ``Conv1d(c_in, c_out, k)`` is the ``Conv2d(c_in, c_out, (1, k))`` of the input viewed as
``(batch, c_in, 1, length)``: its im2col rows are ``c_in·k``, so tiling, converters, noise,
programming, drift and GDC are those of :class:`AnalogConv2d`, with no second code path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.config import AnalogConfig
from models.nn.conv import AnalogConv2d


def _one(v: int | tuple[int, ...]) -> int:
    return v if isinstance(v, int) else int(v[0])


class AnalogConv1d(AnalogConv2d):
    """A 1-D convolution on crossbar tiles; ``weight`` is ``(in_ch·k, out_ch)`` as for 2-D."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        config: AnalogConfig,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            (1, kernel_size),
            config,
            (1, stride),
            (0, padding),
            (1, dilation),
            bias,
        )

    @classmethod
    def from_conv1d(cls, conv: nn.Conv1d, config: AnalogConfig) -> AnalogConv1d:
        """Convert a digital ``nn.Conv1d`` (groups = 1, zero padding)."""
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("AnalogConv1d supports groups=1, numeric zero padding only")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            _one(conv.kernel_size),
            config,
            _one(conv.stride),
            _one(conv.padding),  # type: ignore[arg-type]
            _one(conv.dilation),
            bias=conv.bias is not None,
        )
        with torch.no_grad():
            new.weight.copy_(conv.weight.reshape(conv.out_channels, -1).t())
            if conv.bias is not None and new.bias is not None:
                new.bias.copy_(conv.bias)
        return new

    def forward(self, x: Tensor) -> Tensor:
        """Tiled analog 1-D convolution (+ bias): ``(batch, c_in, L) → (batch, c_out, L')``."""
        return super().forward(x.unsqueeze(2)).squeeze(2)
