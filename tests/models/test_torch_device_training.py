"""Every training mode takes its steps on the network's torch device, from data left on the CPU;
on the CPU the path other devices take (torch index search) gives the same bits; and no tensor
relies on torch's default device."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from models import torch_device as placement
from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, QnnWeights, TrainConfig, TrainMode
from models.nn import inference
from models.nn.networks import analog_layers, build_network, layer_shapes
from models.physics import noise, pulses
from models.training import qnn
from models.training.outcome import TrainResult
from models.training.trainers import train
from tests.torch_devices import TORCH_DEVICES

MODES = [
    pytest.param("hwa", "pcm", {"update_bits": 4, "train_weight_bits": 4}, id="hwa"),
    pytest.param("hwa", "rram", {"hwa_converters_in_loop": True}, id="hwa-in-loop"),
    pytest.param("apt", "rram", {"apt_steps": 2, "apt_data_fraction": 0.25}, id="apt"),
    pytest.param("onchip_sgd", "rram", {}, id="onchip_sgd"),
    pytest.param("onchip_sgd", "rram", {"update_bits": 4}, id="onchip_sgd-bits"),
    pytest.param(
        "onchip_sgd", "pcm", {"momentum_placement": MomentumPlacement.IN_MEMORY}, id="onchip_sgd-pcm"
    ),
    pytest.param("mixed_precision", "pcm", {"update_bits": 8}, id="mixed_precision"),
    pytest.param("mixed_precision", "rram", {}, id="mixed_precision-float"),
    pytest.param("hic", "pcm", {"update_bits": 4}, id="hic"),
    pytest.param("qnn", "stt_mram", {"lr": 0.2}, id="qnn"),
    pytest.param("qnn", "stt_mram", {"lr": 0.2, "qnn_weights": QnnWeights.BINARY}, id="qnn-binary"),
]
"""Each training mode (with its update-rule variants) on a device it is valid for."""


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data[:96] / 16.0, dtype=torch.float32)
    return x, torch.tensor(bunch.target[:96], dtype=torch.int64)


def _net(spec: str, mode: str, model: str = "mlp") -> nn.Module:
    torch.manual_seed(0)
    net_cfg = NetworkConfig(model=model, hidden=(24,), width_mult=0.5, in_features=64, in_shape=(64,))
    analog = AnalogConfig(device=spec, tile_rows=32, tile_cols=16, binary_devices=int(mode == "hic"))
    return build_network(net_cfg, analog)


def _cfg(mode: str, extra: dict) -> TrainConfig:
    return TrainConfig(mode=TrainMode(mode), **{"epochs": 1, "batch_size": 32, "lr": 0.05, **extra})


def _trained(
    spec: str, mode: str, extra: dict, where: str, model: str = "mlp"
) -> tuple[nn.Module, TrainResult]:
    x, y = _digits()  # left on the CPU: the loops move each batch
    net = _net(spec, mode, model).to(where)
    return net, train(net, x, y, _cfg(mode, extra))


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize(("mode", "spec", "extra"), MODES)
def test_every_mode_trains_on_the_device(
    where: str, mode: str, spec: str, extra: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _digits()
    initial = [layer.weight.detach().cpu().clone() for layer in analog_layers(_net(spec, mode))]
    net, result = _trained(spec, mode, extra, where)
    weights = [layer.weight.detach() for layer in analog_layers(net)]
    assert all(p.device.type == where for p in net.parameters())
    assert all(bool(torch.isfinite(w).all()) for w in weights)
    assert any(not torch.equal(w.cpu(), w0) for w, w0 in zip(weights, initial, strict=True))
    assert result.steps == 3 and result.writes.max_per_device >= 1
    assert all(isinstance(v, float) for v in (result.final_loss, result.writes.total))
    acc = inference.evaluate_hardware(net, x[:32].to(where), x, y, [1])  # calibration data on the device
    # the same chip, programmed, calibrated and read by hand: acc is its count of right answers out of 96
    inference.program(net, 1)
    inference.calibrate(net, x[:32].to(where))
    for layer in analog_layers(net):
        inference.set_read_time(layer, layer.config.read_time_s, 1)
    with torch.no_grad():
        right = int((net(x.to(where)).argmax(dim=1).cpu() == y).sum())
    inference._unprogram(net)
    assert acc[0] == right / 96

    if where == "cpu":  # the torch index search other devices use gives the NumPy path's bits
        monkeypatch.setattr(placement, "NUMPY_INDICES", False)
        twin, twin_result = _trained(spec, mode, extra, "cpu")
        assert twin_result.writes == result.writes
        assert all(
            torch.equal(a.weight, b.weight)
            for a, b in zip(analog_layers(twin), analog_layers(net), strict=True)
        )


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_on_chip_training_of_a_cnn_runs_on_the_device(where: str) -> None:
    net, result = _trained("rram", "onchip_sgd", {}, where, model="lenet")
    assert all(p.device.type == where for p in net.parameters()) and result.writes.max_per_device > 1
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


CNN_MODES = [
    pytest.param("hwa", "rram", {"hwa_converters_in_loop": True}, id="cnn-hwa-in-loop"),
    pytest.param("onchip_sgd", "rram", {}, id="cnn-onchip_sgd"),
]


@pytest.mark.parametrize(("mode", "spec", "extra"), [*MODES, *CNN_MODES])
def test_no_tensor_relies_on_the_default_device(
    mode: str, spec: str, extra: dict, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With torch's default device set to ``meta``, any tensor made without an explicit device (or
    a tensor to follow) is a meta tensor, and the first operation that meets the CPU network fails:
    on a GPU, the same tensor would have been a CPU tensor meeting CUDA ones."""
    for module, name in ((noise, "_NOISE_TABLE"), (pulses, "_UNIFORM_TABLE"), (qnn, "_THRESHOLDS")):
        monkeypatch.setattr(module, name, {})  # the tables are made inside the run too
    x, y = _digits()
    model = "lenet" if request.node.callspec.id.startswith("cnn") else "mlp"
    net = _net(spec, mode, model)
    with torch.device("meta"):
        result = train(net, x, y, _cfg(mode, extra))
        by_time = inference.evaluate_read_times(net, x[:32], x, y, [1], (1.0, 86400.0))
        shapes = layer_shapes(net, x[:2])
    assert result.writes.max_per_device >= 1 and len(by_time) == 4 and shapes
