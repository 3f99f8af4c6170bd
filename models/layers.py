"""Analog layers: small ``nn.Module``s that compose the pure functions of ``crossbar.py``.

An :class:`AnalogLinear` stores its weight as an ``(in, out)`` matrix so that tiles of
``tile_rows`` rows are views of it; all full tiles run in one batched matmul. The
forward pass is DAC → per-tile analog partial sums → per-tile ADC → digital sum.

Three states:
- training (``module.training``): floating-point weights, hardware-aware noise
  injected at the tile outputs (see :meth:`AnalogLinear.forward`), dynamic ranges;
- programmed (after :meth:`AnalogLinear.program`): the weights read back from the
  noisy programmed conductances, with calibrated or fixed converter ranges;
- ideal eval (neither): the floating-point weights, the same converters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models import crossbar
from models.config import AdcRange, AnalogConfig
from models.devices import DeviceSpec, get_device


class AnalogLinear(nn.Module):
    """A fully connected layer mapped onto crossbar tiles of one device technology."""

    def __init__(self, in_features: int, out_features: int, config: AnalogConfig, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.config = config
        self.device_spec: DeviceSpec = get_device(config.device)
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        self.row_sizes = crossbar.tile_row_sizes(in_features, config.tile_rows)
        self.register_buffer("dac_range", torch.zeros(()))
        self.register_buffer("adc_range", torch.zeros(len(self.row_sizes), 1, out_features))
        self.programmed: Tensor | None = None
        self.calibrating = False
        self.noise_std = 0.0
        """Relative hwa noise (η_train); set by the trainer, used only while training."""
        self.analog = True
        """False evaluates the layer as a plain floating-point matmul (the software baseline)."""

    @classmethod
    def from_linear(cls, layer: nn.Linear, config: AnalogConfig) -> AnalogLinear:
        """Convert a digital ``nn.Linear`` (weights copied, transposed to ``(in, out)``)."""
        new = cls(layer.in_features, layer.out_features, config, bias=layer.bias is not None)
        with torch.no_grad():
            new.weight.copy_(layer.weight.t())
            if layer.bias is not None and new.bias is not None:
                new.bias.copy_(layer.bias)
        return new

    # ------------------------------------------------------------ mapping facts

    @property
    def tiles(self) -> int:
        """Crossbar tiles this layer occupies (row tiles × column tiles)."""
        return len(self.row_sizes) * crossbar.tile_count(self.out_features, self.config.tile_cols)

    def w_max(self) -> Tensor:
        """Largest |weight|: the weight that maps to the full conductance span."""
        return self.weight.detach().abs().amax().clamp_min(1e-12)

    # ------------------------------------------------------------ programming

    def program(self, generator: torch.Generator) -> None:
        """Program the current weights into devices once (quantized levels + programming noise)."""
        dev = self.device_spec
        with torch.no_grad():
            w_max = self.w_max()
            g_pos, g_neg = crossbar.weight_to_conductance(self.weight, w_max, dev)
            scale = self.config.prog_noise_scale
            g_pos = crossbar.program(g_pos, dev, generator, scale)
            g_neg = crossbar.program(g_neg, dev, generator, scale)
            self.programmed = crossbar.conductance_to_weight(g_pos, g_neg, w_max, dev)

    def unprogram(self) -> None:
        """Forget the programmed state (back to the floating-point weights)."""
        self.programmed = None

    # ------------------------------------------------------------ forward

    def _dac(self, x: Tensor) -> tuple[Tensor, Tensor, bool]:
        lo, hi = torch.aminmax(x.detach())
        signed = bool(lo < 0)
        if self.training or self.calibrating or self.dac_range <= 0:
            r = torch.maximum(hi, -lo) if signed else hi
            if self.calibrating:
                self.dac_range.copy_(r)
        else:
            r = self.dac_range
        bits = self.config.dac_bits
        x_q = x if bits is None or not self.device_spec.analog else crossbar.fake_quant(x, bits, r, signed)
        return x_q, r, signed

    def _adc(self, parts: list[Tensor], w_max: Tensor, x_range: Tensor) -> Tensor:
        bits = self.config.adc_bits
        stacked = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
        if bits is None or not self.device_spec.analog:
            return stacked.sum(dim=0)
        cfg = self.config
        if cfg.adc_range is AdcRange.FIXED:
            rows = torch.tensor(self.row_sizes, dtype=stacked.dtype, device=stacked.device)
            r = (rows * w_max * x_range).view(-1, 1, 1)
        elif self.training:
            r = crossbar.column_tile_max(stacked.detach().abs().amax(dim=1), cfg.tile_cols)
        else:
            if self.calibrating:
                q = torch.quantile(stacked.detach().abs().transpose(0, 1).reshape(stacked.shape[1], -1).float(),
                                   cfg.adc_percentile / 100.0, dim=0).view(stacked.shape[0], -1)
                self.adc_range.copy_(crossbar.column_tile_max(q, cfg.tile_cols))
            r = self.adc_range
        return crossbar.fake_quant(stacked, bits, r, signed=True).sum(dim=0)

    def forward(self, x: Tensor) -> Tensor:
        """DAC → tiled analog MVM (+ hwa noise while training) → ADC → digital sum (+ bias)."""
        if not self.analog:
            y = x @ self.weight
            return y if self.bias is None else y + self.bias
        w = self.programmed if (self.programmed is not None and not self.training) else self.weight
        w_max = self.w_max()
        x_q, x_range, _ = self._dac(x)
        x_tiles = crossbar.row_tiles(x_q, self.config.tile_rows)
        w_tiles = crossbar.weight_tiles(w, self.config.tile_rows)
        parts = [torch.bmm(xt, wt) for xt, wt in zip(x_tiles, w_tiles, strict=True)]
        if self.training and self.noise_std > 0:
            parts = [p + self._output_noise(xt, p, w_max) for xt, p in zip(x_tiles, parts, strict=True)]
        y = self._adc(parts, w_max, x_range)
        return y if self.bias is None else y + self.bias

    def _output_noise(self, x_tile: Tensor, part: Tensor, w_max: Tensor) -> Tensor:
        """Output-referred equivalent of independent per-weight noise for each sample.

        A weight perturbation n_ij ~ N(0, σ²) adds Σ_i n_ij x_i to output j, which is
        N(0, σ²·Σ_i x_i²) over the tile's rows. Drawing that directly costs B×out
        normals instead of in×out, and is a fresh read per sample. σ² combines the
        injected noise (η·w_max)² and the device's level quantization Δ²/12.
        """
        step = crossbar.weight_step(1.0, self.device_spec)
        sigma = w_max * math.sqrt(self.noise_std**2 + step * step / 12.0)
        norms = x_tile.detach().norm(dim=2, keepdim=True)
        return sigma * norms * torch.randn_like(part)
