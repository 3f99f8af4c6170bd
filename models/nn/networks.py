"""Networks with a width multiplier, built digital and converted to analog layers.

``build_network(net_cfg, analog_cfg)`` is the one place where configuration becomes
modules: it builds the digital architecture from :data:`NETWORKS`, then
:func:`convert` swaps every layer type found in :data:`ANALOG_LAYERS` for its analog
counterpart. Every network first reshapes its input to ``NetworkConfig.in_shape``, so
flattened and image-shaped batches both work. Normalization layers stay digital.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import AnalogConfig, NetworkConfig
from models.cost.model import LayerShape
from models.nn.conv import AnalogConv2d
from models.nn.conv1d import AnalogConv1d
from models.nn.layers import AnalogLinear, AnalogMatrix
from models.torch_device import device_of, to_device


def scaled(width: int, width_mult: float) -> int:
    """A hidden width times the multiplier, rounded, at least 1."""
    return max(1, round(width * width_mult))


class Reshape(nn.Module):
    """View each sample as ``shape`` (no copy)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)


def image_shape(cfg: NetworkConfig) -> tuple[int, int, int]:
    """``in_shape`` as (channels, height, width); a flat input of n² features is one n×n channel."""
    shape = tuple(cfg.in_shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    side = math.isqrt(cfg.in_features)
    if side * side != cfg.in_features:
        raise ValueError(f"a CNN needs an image input; in_shape {cfg.in_shape} is not a square")
    return (1, side, side)


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


def lenet(cfg: NetworkConfig) -> nn.Module:
    """LeNet-5-style CNN: conv5(6w)-pool-conv5(16w)-pool-fc(120w)-fc(84w)-classes, 'same' padding."""
    c, h, w = image_shape(cfg)
    c1, c2 = scaled(6, cfg.width_mult), scaled(16, cfg.width_mult)
    features = nn.Sequential(
        Reshape((c, h, w)),
        nn.Conv2d(c, c1, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    flat = c2 * (h // 4) * (w // 4)
    return nn.Sequential(
        features,
        nn.Linear(flat, scaled(120, cfg.width_mult)),
        nn.ReLU(),
        nn.Linear(scaled(120, cfg.width_mult), scaled(84, cfg.width_mult)),
        nn.ReLU(),
        nn.Linear(scaled(84, cfg.width_mult), cfg.classes),
    )


class BasicBlock(nn.Module):
    """CIFAR ResNet block: two 3×3 convs with BN; parameter-free shortcut (option A, zero-padded
    channels, strided) as in He et al. 2016's CIFAR networks, so every weight is in a conv."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


def resnet(cfg: NetworkConfig, depth: int) -> nn.Module:
    """CIFAR-style ResNet-``depth`` (6n+2 layers): stages of 16w, 32w, 64w channels."""
    if (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    c, h, w = image_shape(cfg)
    widths = [scaled(16, cfg.width_mult), scaled(32, cfg.width_mult), scaled(64, cfg.width_mult)]
    layers: list[nn.Module] = [
        Reshape((c, h, w)),
        nn.Conv2d(c, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    prev = widths[0]
    for stage, width in enumerate(widths):
        for block in range(n):
            layers.append(BasicBlock(prev, width, 2 if stage > 0 and block == 0 else 1))
            prev = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, cfg.classes)]
    return nn.Sequential(*layers)


VGG8_CHANNELS = (128, 128, 256, 256, 512, 512)
"""Conv widths of NeuroSim's reference VGG-8 at width_mult 1, a 2×2 max-pool after every pair [NS]."""
VGG8_HIDDEN = 1024
"""Width of its first fully connected layer [NS]."""


def vgg8(cfg: NetworkConfig) -> nn.Module:
    """VGG-8 as in DNN+NeuroSim's CIFAR-10 reference [NS]: six 3×3 convs (128-128-M-256-256-M-512-512-M)
    and two fully connected layers (1024, classes), ReLU, no bias; widths × width_mult."""
    c, h, w = image_shape(cfg)
    layers: list[nn.Module] = [Reshape((c, h, w))]
    prev = c
    for i, width in enumerate(VGG8_CHANNELS):
        size = scaled(width, cfg.width_mult)
        layers += [nn.Conv2d(prev, size, 3, 1, 1, bias=False), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
        prev = size
    hidden = scaled(VGG8_HIDDEN, cfg.width_mult)
    layers += [
        nn.Flatten(),
        nn.Linear(prev * (h // 8) * (w // 8), hidden, bias=False),
        nn.ReLU(),
        nn.Linear(hidden, cfg.classes, bias=False),
    ]
    return nn.Sequential(*layers)


CNN1D_CHANNELS = 25
"""Channels of each conv of MNIST-1D's reference CNN at width_mult 1 [M1D]."""
CNN1D_LAYERS = ((5, 2, 1), (3, 2, 1), (3, 2, 1))
"""(kernel, stride, padding) of its three convolutions [M1D]."""


def signal_shape(cfg: NetworkConfig) -> tuple[int, int]:
    """``in_shape`` as (channels, length); a flat input is one channel."""
    shape = tuple(cfg.in_shape)
    if len(shape) == 2:
        return shape  # type: ignore[return-value]
    if len(shape) == 1:
        return (1, shape[0])
    raise ValueError(f"a 1-D CNN needs a signal input (channels, length); in_shape {cfg.in_shape} is not one")


def cnn1d(cfg: NetworkConfig) -> nn.Module:
    """MNIST-1D's reference CNN [M1D]: three ReLU 1-D convs of 25w channels (k5 s2, k3 s2, k3 s2,
    padding 1) and one linear classifier on the flattened features; channels × width_mult."""
    c, length = signal_shape(cfg)
    width = scaled(CNN1D_CHANNELS, cfg.width_mult)
    layers: list[nn.Module] = [Reshape((c, length))]
    prev = c
    for kernel, stride, padding in CNN1D_LAYERS:
        layers += [nn.Conv1d(prev, width, kernel, stride, padding), nn.ReLU()]
        length = (length + 2 * padding - kernel) // stride + 1
        prev = width
    if length < 1:
        raise ValueError(f"a 1-D CNN needs signals of at least 5 samples; in_shape {cfg.in_shape} is shorter")
    layers += [nn.Flatten(), nn.Linear(prev * length, cfg.classes)]
    return nn.Sequential(*layers)


NETWORKS: dict[str, Callable[[NetworkConfig], nn.Module]] = {
    "mlp": mlp,
    "lenet": lenet,
    "resnet20": lambda cfg: resnet(cfg, 20),
    "resnet32": lambda cfg: resnet(cfg, 32),
    "vgg8": vgg8,
    "cnn1d": cnn1d,
}
"""Digital architectures by name."""

ANALOG_LAYERS: dict[type[nn.Module], Callable[[nn.Module, AnalogConfig], nn.Module]] = {
    nn.Linear: AnalogLinear.from_linear,  # type: ignore[dict-item]
    nn.Conv2d: AnalogConv2d.from_conv,  # type: ignore[dict-item]
    nn.Conv1d: AnalogConv1d.from_conv1d,  # type: ignore[dict-item]
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


def analog_layers(model: nn.Module) -> list[AnalogMatrix]:
    """The analog layers (linear and convolutional) of a model, in forward order."""
    return [m for m in model.modules() if isinstance(m, AnalogMatrix)]


@torch.no_grad()
def layer_shapes(model: nn.Module, sample_input: Tensor) -> list[LayerShape]:
    """Mapped shape of every analog layer for the cost model, from one forward pass.

    A dense layer is ``(in, out)`` used once per sample; a convolution is
    ``(in_ch·kh·kw, out_ch)`` used once per output pixel.
    """
    shapes: dict[int, LayerShape] = {}
    layers = analog_layers(model)
    batch = max(1, sample_input.shape[0])

    def hook(layer: nn.Module, _inputs: tuple[Tensor, ...], output: Tensor) -> None:
        rows, cols = layer.weight.shape  # type: ignore[union-attr]
        uses = output.numel() // (cols * batch)
        shapes[id(layer)] = LayerShape(rows=int(rows), cols=int(cols), uses_per_inference=int(uses))

    handles = [layer.register_forward_hook(hook) for layer in layers]
    was_training, was_analog = model.training, [layer.analog for layer in layers]
    try:
        model.eval()
        for layer in layers:
            layer.analog = False  # shapes only: no converters, no noise draws, no state touched
        model(to_device(sample_input, device_of(model)))
    finally:
        for h in handles:
            h.remove()
        for layer, flag in zip(layers, was_analog, strict=True):
            layer.analog = flag
        model.train(was_training)
    return [shapes[id(layer)] for layer in layers if id(layer) in shapes]
