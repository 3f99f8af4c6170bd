"""The analog 1-D convolution and MNIST-1D's CNN: same tiles as the 2-D convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.config import AnalogConfig, NetworkConfig
from models.nn import inference
from models.nn.conv import AnalogConv2d
from models.nn.conv1d import AnalogConv1d
from models.nn.networks import analog_layers, build_network, layer_shapes

CFG = AnalogConfig(tile_rows=64, tile_cols=32, adc_bits=6, dac_bits=6)


def _pair() -> tuple[torch.nn.Conv1d, AnalogConv1d]:
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(30, 7, 3, stride=2, padding=1)
    return conv, AnalogConv1d.from_conv1d(conv, CFG)


def test_software_baseline_is_the_digital_conv1d() -> None:
    conv, analog = _pair()
    x = torch.randn(5, 30, 40)
    analog.analog = False
    torch.testing.assert_close(analog(x), conv(x), rtol=1e-5, atol=1e-5)


def test_tiles_hold_whole_kernels() -> None:
    _, analog = _pair()
    # ⌊64 / 3⌋ = 21 channels fit a tile; 30 channels spread evenly over 2 tiles: 15 each (45 rows)
    assert analog.channels_per_tile == 15 and analog.row_sizes == [45, 45]
    assert tuple(analog.weight.shape) == (90, 7)


def test_analog_read_is_the_2d_conv_of_a_height_1_image_bit_for_bit() -> None:
    """Programmed, drifted and read on one chip seed, the 1-D layer is the 2-D layer on (b, c, 1, L)."""
    conv, one = _pair()
    two = AnalogConv2d(30, 7, (1, 3), CFG, (1, 2), (0, 1))
    with torch.no_grad():
        two.weight.copy_(one.weight)
        two.bias.copy_(one.bias)  # type: ignore[union-attr]
    x = torch.randn(8, 30, 40)
    outs = []
    for layer, inp in ((one, x), (two, x.unsqueeze(2))):
        layer.eval()
        layer.program(torch.Generator().manual_seed(3))
        layer.set_read_time(3600.0, torch.Generator().manual_seed(4))
        outs.append(layer(inp).reshape(8, 7, -1))
    assert torch.equal(outs[0], outs[1])
    ideal = conv(x)
    assert not torch.equal(outs[0], ideal)  # programming noise, drift and converters act
    assert (outs[0] - ideal).abs().mean() < 0.5 * ideal.abs().mean()


def test_gradients_reach_the_weight_and_the_input() -> None:
    _, analog = _pair()
    x = torch.randn(4, 30, 40, requires_grad=True)
    analog.train()
    analog(x).square().sum().backward()
    assert analog.weight.grad is not None and x.grad is not None
    assert x.grad.shape == x.shape and torch.isfinite(analog.weight.grad).all()


def test_cnn1d_is_the_mnist1d_reference_cnn() -> None:
    """Three convs (k5 s2, k3 s2, k3 s2, padding 1) of 25 channels on length 40: 19, 10, 5 outputs,
    then a 125 → 10 classifier [M1D]; the width multiplier scales the channels."""
    net = build_network(NetworkConfig(model="cnn1d", in_features=40, in_shape=(1, 40)), CFG)
    shapes = [(s.rows, s.cols, s.uses_per_inference) for s in layer_shapes(net, torch.rand(2, 1, 40))]
    assert shapes == [(5, 25, 19), (75, 25, 10), (75, 25, 5), (125, 10, 1)]
    assert sum(p.numel() for p in net.parameters()) == 5 * 25 + 25 + 2 * (75 * 25 + 25) + 125 * 10 + 10
    wide = build_network(NetworkConfig(model="cnn1d", width_mult=2.0, in_features=40, in_shape=(40,)), CFG)
    assert [m.weight.shape[1] for m in analog_layers(wide)] == [50, 50, 50, 10]
    inference.set_analog(wide, False)
    assert wide(torch.rand(3, 40)).shape == (3, 10)


def test_cnn1d_refuses_images_and_too_short_signals() -> None:
    with pytest.raises(ValueError, match="signal input"):
        build_network(NetworkConfig(model="cnn1d", in_features=192, in_shape=(3, 8, 8)), CFG)
    with pytest.raises(ValueError, match="at least 5 samples"):
        build_network(NetworkConfig(model="cnn1d", in_features=2, in_shape=(1, 2)), CFG)


def test_conv1d_bias_free_and_digital_equality_under_functional() -> None:
    torch.manual_seed(1)
    conv = torch.nn.Conv1d(4, 3, 5, padding=2, bias=False)
    analog = AnalogConv1d.from_conv1d(conv, CFG)
    analog.analog = False
    x = torch.randn(2, 4, 11)
    torch.testing.assert_close(analog(x), F.conv1d(x, conv.weight, None, 1, 2), rtol=1e-5, atol=1e-5)
