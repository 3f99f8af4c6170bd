"""Networks: every architecture builds, converts to analog layers, and reports its mapped shapes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from models.config import AnalogConfig, NetworkConfig
from models.nn.conv import AnalogConv2d
from models.nn.layers import AnalogLinear
from models.nn.networks import NETWORKS, analog_layers, build_network, layer_shapes

CFG = AnalogConfig(tile_rows=64, tile_cols=32)


SHAPES: dict[str, list[tuple[int, ...]]] = {"cnn1d": [(64,), (3, 40)]}
"""Input shapes per model where the default (a flat vector and an image) does not apply."""


@pytest.mark.parametrize(
    ("model", "in_shape"),
    [(m, s) for m in sorted(NETWORKS) for s in SHAPES.get(m, [(64,), (3, 8, 8)])],
)
def test_networks_build_train_and_run(model: str, in_shape: tuple[int, ...]) -> None:
    n_in = int(torch.tensor(in_shape).prod())
    net = build_network(NetworkConfig(model=model, width_mult=0.25, in_features=n_in, in_shape=in_shape), CFG)
    x = torch.rand(4, *in_shape)
    net.train()
    net(x).sum().backward()
    assert net.eval()(x.reshape(4, -1)).shape == (4, 10)  # flattened inputs work too
    layers = analog_layers(net)
    assert all(isinstance(m, AnalogLinear | AnalogConv2d) for m in layers)
    assert not any(isinstance(m, torch.nn.Linear | torch.nn.Conv2d | torch.nn.Conv1d) for m in net.modules())
    shapes = layer_shapes(net, x[:2])
    assert len(shapes) == len(layers)


def test_resnet_depths_and_layer_shapes() -> None:
    cfg = NetworkConfig(model="resnet20", width_mult=0.5, in_features=3 * 32 * 32, in_shape=(3, 32, 32))
    net = build_network(cfg, CFG)
    layers = analog_layers(net)
    assert len(layers) == 20 and sum(isinstance(m, AnalogConv2d) for m in layers) == 19
    assert (
        len(
            analog_layers(
                build_network(
                    NetworkConfig(model="resnet32", width_mult=0.25, in_shape=(3, 8, 8), in_features=192), CFG
                )
            )
        )
        == 32
    )
    shapes = layer_shapes(net, torch.rand(1, 3, 32, 32))
    assert (shapes[0].rows, shapes[0].cols, shapes[0].uses_per_inference) == (27, 8, 32 * 32)
    assert (shapes[-2].rows, shapes[-2].cols, shapes[-2].uses_per_inference) == (9 * 32, 32, 8 * 8)
    assert (shapes[-1].rows, shapes[-1].cols, shapes[-1].uses_per_inference) == (32, 10, 1)


def test_width_multiplier_scales_lenet() -> None:
    small = build_network(NetworkConfig(model="lenet", width_mult=0.5), CFG)
    big = build_network(NetworkConfig(model="lenet", width_mult=2.0), CFG)
    n = [sum(p.numel() for p in m.parameters()) for m in (small, big)]
    assert n[1] > 8 * n[0]
    shapes = layer_shapes(small, torch.rand(3, 64))
    assert (shapes[0].rows, shapes[0].cols, shapes[0].uses_per_inference) == (25, 3, 64)


def test_unknown_model_names_the_allowed_ones() -> None:
    with pytest.raises(KeyError, match="resnet32"):
        build_network(NetworkConfig(model="vgg"), CFG)


def test_models_do_not_import_dse() -> None:
    for path in Path(__file__).resolve().parents[2].joinpath("models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n == "dse" or n.startswith("dse.") for n in names), path
