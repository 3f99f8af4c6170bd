"""Networks with a width multiplier, built digital and converted to analog layers.

``build_network(net_cfg, analog_cfg)`` is the one place where configuration becomes
modules: it builds the digital architecture from :data:`NETWORKS`, then
:func:`convert` swaps every layer type found in :data:`ANALOG_LAYERS` for its analog
counterpart.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from models.config import AnalogConfig, NetworkConfig
from models.layers import AnalogLinear


def scaled(width: int, width_mult: float) -> int:
    """A hidden width times the multiplier, rounded, at least 1."""
    return max(1, round(width * width_mult))


def mlp(cfg: NetworkConfig) -> nn.Module:
    """Fully connected ReLU network: in → hidden×width_mult … → classes."""
    layers: list[nn.Module] = [nn.Flatten()]
    prev = cfg.in_features
    for width in cfg.hidden:
        size = scaled(width, cfg.width_mult)
        layers += [nn.Linear(prev, size), nn.ReLU()]
        prev = size
    layers.append(nn.Linear(prev, cfg.classes))
    return nn.Sequential(*layers)


NETWORKS: dict[str, Callable[[NetworkConfig], nn.Module]] = {"mlp": mlp}
"""Digital architectures by name."""

ANALOG_LAYERS: dict[type[nn.Module], Callable[[nn.Module, AnalogConfig], nn.Module]] = {
    nn.Linear: AnalogLinear.from_linear,
}
"""Digital layer type → constructor of its analog counterpart."""


def convert(model: nn.Module, analog: AnalogConfig) -> nn.Module:
    """Replace, in place and recursively, every layer whose type is in :data:`ANALOG_LAYERS`."""
    for name, child in model.named_children():
        make = ANALOG_LAYERS.get(type(child))
        if make is not None:
            setattr(model, name, make(child, analog))
        else:
            convert(child, analog)
    return model


def build_network(net: NetworkConfig, analog: AnalogConfig) -> nn.Module:
    """Build the named architecture and map its layers onto the analog hardware."""
    if net.model not in NETWORKS:
        raise KeyError(f"unknown model {net.model!r}; allowed: {', '.join(sorted(NETWORKS))}")
    return convert(NETWORKS[net.model](net), analog)


def analog_layers(model: nn.Module) -> list[AnalogLinear]:
    """The analog layers of a model, in forward order."""
    return [m for m in model.modules() if isinstance(m, AnalogLinear)]
