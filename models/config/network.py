"""The network group: which network to build and how wide."""

from __future__ import annotations

from dataclasses import dataclass

from models.config.knob import derived, knob


@dataclass(frozen=True)
class NetworkConfig:
    """Which network to build and how wide."""

    model: str = knob(
        "mlp", "network architecture (models.nn.networks.NETWORKS)", choices="models.nn.networks:NETWORKS"
    )
    width_mult: float = knob(1.0, "multiplier on every hidden width", lo=0.0, hi=16.0, lo_open=True)
    hidden: tuple[int, ...] = knob((128, 128), "MLP hidden widths at width_mult 1")
    in_features: int = derived(64, "flattened input size (from the dataset)")
    in_shape: tuple[int, ...] = derived((64,), "input tensor shape without the batch (from the dataset)")
    classes: int = derived(10, "number of output classes (from the dataset)")
