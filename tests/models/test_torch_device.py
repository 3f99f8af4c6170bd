"""Placement: a network moved to a torch device runs its analog physics there, every noise source
on, with generators and constant tables on that device; on the CPU, exactly the default path."""

from __future__ import annotations

import mmap

import pytest
import torch
from torch import nn

from models import torch_device as placement
from models.allocator import HUGE_PAGE
from models.config import AnalogConfig, NetworkConfig
from models.nn import inference
from models.nn.networks import analog_layers, build_network
from models.physics import noise, pulses
from models.physics.noise import normals
from models.physics.pulses import uniforms
from models.torch_device import CPU, flat_indices, per_device, seeded
from models.training import qnn
from models.training.qnn import switch_thresholds
from tests.torch_devices import TORCH_DEVICES

EVERY_NOISE = {
    "adc_bits": 6,
    "dac_bits": 6,
    "stuck_off_fraction": 0.02,
    "stuck_on_fraction": 0.02,
    "ir_drop": 0.001,
    "gdc": True,
    "drift": True,
}
"""Programming noise, read noise (PCM's 1/f or RRAM's additive), drift, faults, IR drop, converters."""

NETS = {
    "mlp": ("mlp", 24),  # 64 rows: two full tiles and a remainder; 40 columns: three column tiles
    "lenet": ("lenet", 64),  # whole kernels per tile: the grouped-convolution path
    "lenet_unfolded": ("lenet", 24),  # a 5×5 kernel exceeds the tile: im2col rows
}
SEED = 7
READS = (1.0, 86400.0)


def _net(name: str, spec: str) -> nn.Module:
    model, rows = NETS[name]
    torch.manual_seed(0)
    net_cfg = NetworkConfig(model=model, hidden=(40,), width_mult=0.5, in_features=64, in_shape=(64,))
    return build_network(net_cfg, AnalogConfig(device=spec, tile_rows=rows, tile_cols=16, **EVERY_NOISE))


def _train_pass(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A hardware-aware training forward (η noise, 4-bit weights) and backward; output and grads."""
    for layer in analog_layers(net):
        layer.noise_std, layer.weight_bits = 0.05, 4
    net.train()
    torch.manual_seed(1)
    y = net(x)
    y.square().sum().backward()
    for layer in analog_layers(net):
        layer.noise_std, layer.weight_bits = 0.0, None
    return y.detach(), [p.grad for p in net.parameters() if p.grad is not None]


def _chip_reads(net: nn.Module, x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Program one chip, calibrate, and read it at :data:`READS`, GDC off and on."""
    inference.program(net, seed)
    inference.calibrate(net, x)
    out = []
    for t in READS:
        inference.set_read_time(net, t, seed)
        for gdc in (False, True):
            inference.set_gdc(net, gdc)
            out.append(net(x).detach())
    return out


def _default_chip_reads(net: nn.Module, x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """:func:`_chip_reads` with the CPU generators of ``torch.Generator()``, layer by layer."""
    gen = torch.Generator().manual_seed(seed)
    for layer in analog_layers(net):
        layer.program(gen)
    inference.calibrate(net, x)
    out = []
    for t in READS:
        read_gen = torch.Generator().manual_seed(hash((seed, float(t))) & 0x7FFF_FFFF_FFFF_FFFF)
        for layer in analog_layers(net):
            layer.set_read_time(t, read_gen)
        for gdc in (False, True):
            inference.set_gdc(net, gdc)
            out.append(net(x).detach())
    return out


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("spec", ["pcm", "rram"])
@pytest.mark.parametrize("name", list(NETS))
def test_analog_layers_run_on_the_device_with_every_noise_source(where: str, spec: str, name: str) -> None:
    x = torch.rand(16, 64, generator=torch.Generator().manual_seed(3))
    net = _net(name, spec).to(where)
    y, grads = _train_pass(net, x.to(where))
    assert y.device.type == where and bool(torch.isfinite(y).all())
    assert grads and all(g.device.type == where and bool(torch.isfinite(g).all()) for g in grads)

    reads = _chip_reads(net, x.to(where), SEED)
    layers = analog_layers(net)
    assert all(r.device.type == where and bool(torch.isfinite(r).all()) for r in reads)
    for layer in layers:
        assert layer.programmed is not None and layer.programmed.device.type == where
        assert layer._read_gen is not None and layer._read_gen.device.type == where
    assert any(int((layer._faults != 0).sum()) > 0 for layer in layers if layer._faults is not None)
    assert not torch.equal(reads[0], reads[2])  # a day of drift and read noise changes the outputs
    other_chip = _chip_reads(net, x.to(where), SEED + 1)
    assert not torch.equal(reads[0], other_chip[0])  # programming noise: every chip differs

    if where == "cpu":  # the same draws as the default CPU path, bit for bit
        twin = _net(name, spec)
        y_default, grads_default = _train_pass(twin, x)
        assert torch.equal(y, y_default)
        assert all(torch.equal(a, b) for a, b in zip(grads, grads_default, strict=True))
        defaults = _default_chip_reads(twin, x, SEED)
        assert all(torch.equal(a, b) for a, b in zip(reads, defaults, strict=True))


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_noise_tables_hold_the_same_values_on_every_device(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module, name in ((noise, "_NOISE_TABLE"), (pulses, "_UNIFORM_TABLE"), (qnn, "_THRESHOLDS")):
        monkeypatch.setattr(module, name, {})  # made afresh, on this device
    torch.manual_seed(5)  # training-noise windows start at offsets of the global CPU stream
    z = normals(torch.empty(30, 7, device=where), None)
    torch.manual_seed(5)
    assert z.device.type == where and torch.equal(z.cpu(), normals(torch.empty(30, 7), None))
    fresh = normals(torch.empty(4, 3, device=where), seeded(0, where))  # seeded reads: fresh draws
    assert fresh.device.type == where and not torch.equal(fresh, z[:4, :3])

    u = uniforms((500,), torch.float32, seeded(1, where))
    t = switch_thresholds((500,), torch.float32, seeded(1, where))
    assert u.device.type == where and t.device.type == where
    for window, make in ((u, pulses._uniform_table), (t, qnn._threshold_table)):
        table = make(torch.float32)  # the CPU table: the device's window is a slice of it
        starts = (table == window[0].cpu()).nonzero().squeeze(1).tolist()
        assert any(torch.equal(table[s : s + 500], window.cpu()) for s in starts)
    assert bool((u >= 0).all() and (u < 1).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_tables_sit_on_huge_pages_and_hold_their_makers_values(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step streams windows of the tables from random offsets: the CPU copy is in memory
    advised for huge pages (2 MiB-aligned where the platform offers them), with the same values."""
    makers = (
        (noise, "_NOISE_TABLE", noise._normal_table),
        (pulses, "_UNIFORM_TABLE", pulses._uniform_table),
        (qnn, "_THRESHOLDS", qnn._threshold_table),
    )
    for module, name, make in makers:
        monkeypatch.setattr(module, name, {})
        table = per_device(getattr(module, name), dtype, CPU, make)
        assert table.dtype == dtype and table.is_contiguous() and torch.equal(table, make(dtype))
        assert per_device(getattr(module, name), dtype, CPU, make) is table  # made once
        if hasattr(mmap, "MADV_HUGEPAGE"):
            assert table.data_ptr() % HUGE_PAGE == 0


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_flat_indices_are_the_same_on_every_path(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 2
    x[::7] = 0.0
    x[11] = float("nan")
    tests = (lambda a: a != 0, lambda a: ~(abs(a) < 1.0), lambda a: ~((a < 0.5) & (a > -0.5)))
    fast = [flat_indices(x, test) for test in tests]  # NumPy on the CPU
    monkeypatch.setattr(placement, "NUMPY_INDICES", False)
    for test, expected in zip(tests, fast, strict=True):
        got = flat_indices(x.to(where), test)
        assert got.device.type == where and got.dtype == torch.int64
        assert torch.equal(got.cpu(), expected) and 11 in expected.tolist()
    assert fast[0].numel() == 5000 - len(range(0, 5000, 7))  # zeros excluded, NaN kept


def test_cpu_generator_streams_are_pinned() -> None:
    """Values recorded before torch devices were plumbed through (platform-independent integers and
    k/2²⁴ uniforms): each layer's read-generator seed is drawn after its programming noise, faults
    and drift exponents, so it pins the whole programming stream of a chip on the CPU."""
    pinned = {
        "mlp": ([3824580427587759151, 883774406404499152], [108, 15]),
        "lenet": (
            [
                3159073273762107264,
                3409298103968342934,
                2449453729910232463,
                3508949968189676954,
                3147381469735022539,
            ],
            [7, 48, 159, 212, 27],
        ),
    }
    for name, (seeds, faults) in pinned.items():
        net = _net(name, "pcm")
        inference.program(net, SEED)
        layers = analog_layers(net)
        assert [layer._read_gen.initial_seed() for layer in layers if layer._read_gen is not None] == seeds
        assert [int((layer._faults != 0).sum()) for layer in layers if layer._faults is not None] == faults
    gen = torch.Generator().manual_seed(0)
    assert uniforms((3,), torch.float32, gen).tolist() == [
        0.5733041763305664,
        0.9050244092941284,
        0.09141653776168823,
    ]
    assert uniforms((2,), torch.float32, gen).tolist() == [0.5408475399017334, 0.5101141333580017]


@pytest.mark.parametrize("high", [2, 4_194_304 - 40_000 + 1, 2**33 + 5, 2**62])
def test_random_int_draws_torch_randints_integers(high: int) -> None:
    """The kept-tensor draw gives ``torch.randint``'s integers, from a generator and from the global
    stream, and leaves both streams where ``torch.randint`` leaves them."""
    a, b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    got = [placement.random_int(high, a) for _ in range(6)]
    assert got == [int(torch.randint(0, high, (1,), generator=b)) for _ in range(6)]
    assert all(0 <= v < high for v in got) and torch.equal(
        torch.rand(3, generator=a), torch.rand(3, generator=b)
    )
    torch.manual_seed(9)
    mine = [placement.random_int(high) for _ in range(6)] + torch.rand(2).tolist()
    torch.manual_seed(9)
    assert mine == [int(torch.randint(0, high, (1,))) for _ in range(6)] + torch.rand(2).tolist()
