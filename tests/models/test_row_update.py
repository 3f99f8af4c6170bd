"""onchip_sgd's kept-operand row update (models/physics/row_update.py) against the general route.

The route with kept operands must draw the same numbers in the same order and run the same
kernels as the general one (``uniforms`` → ``chi_kernel.pulses`` → ``PulsedArray.pulse_at``):
the same rows, counts, weight, momentum and streams after, bit for bit; and it must step aside,
drawing nothing, wherever the general route would take another path.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from models.physics import chi_kernel, kernels, row_update
from models.physics.devices import DEVICES
from models.physics.pulses import MAX_PULSES_PER_UPDATE, PulsedArray, PulseModel, uniforms
from tests.models.test_device_rows import MODELS  # the row-packed rules: exp, linear, soft bounds

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES, reason="this torch build rounds its CPU multiply-adds twice: kernels off"
)

SHAPE = (48, 40)
ALPHA, MU = 0.37, 0.9


class Layer:
    """One layer's updatable state: its array, weight α·(read ω), momentum buffer and generator."""

    def __init__(self, model: PulseModel, dtype: torch.dtype) -> None:
        gen = torch.Generator().manual_seed(3)
        w = (torch.rand(SHAPE, generator=gen, dtype=dtype) - 0.5) * model.reach
        self.array = PulsedArray(w, model, gen)
        self.weight = nn.Parameter(torch.mul(self.array.value(), ALPHA), requires_grad=False)
        self.buf = torch.zeros(SHAPE, dtype=dtype)
        self.gen = torch.Generator().manual_seed(5)

    def general(self, grad: torch.Tensor, scale: float, momentum: bool) -> None:
        """The general route of ``PulsedSGD.step`` (compiled kernels)."""
        u = uniforms(grad.shape, grad.dtype, self.gen)
        found = chi_kernel.pulses(grad, u, scale, MAX_PULSES_PER_UPDATE, (self.buf, MU) if momentum else None)
        assert found is not None
        idx, n, sizes = found
        self.array.pulse_at(idx, n, (self.weight.data, ALPHA), sizes)

    def kept(self, momentum: bool) -> row_update.RowUpdate:
        buf = (self.buf, MU) if momentum else None
        (made,) = row_update.updates([self.array], [self.weight], [ALPHA], [buf], MAX_PULSES_PER_UPDATE)
        assert made is not None
        return made

    def state(self) -> list[torch.Tensor]:
        a = self.array
        return [a.w, a.value(), a.lo, a.hi, a.up, a.down, a.counts, self.weight.data, self.buf]


def _grads(dtype: torch.dtype, steps: int, spread: float) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(17)
    return [torch.randn(SHAPE, generator=g, dtype=dtype) * spread for _ in range(steps)]


def _same(a: Layer, b: Layer) -> None:
    for x, y in zip(a.state(), b.state(), strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y)
    assert torch.equal(a.gen.get_state(), b.gen.get_state())


@pytest.mark.parametrize("momentum", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_the_kept_route_leaves_what_the_general_route_leaves(
    name: str, dtype: torch.dtype, momentum: bool
) -> None:
    model = MODELS[name]
    ref, got = Layer(model, dtype), Layer(model, dtype)
    kept = got.kept(momentum)
    scale = -0.8 / ALPHA
    # small updates (a few devices, single pulses), then large ones: trains past 63 pulses are
    # capped at 31, and ±∞ would count past the kernels' size histogram
    for grad in _grads(dtype, 3, 0.5) + _grads(dtype, 3, 40.0):
        torch.manual_seed(11)
        ref.general(grad, scale, momentum)
        after_ref = torch.rand(3)
        torch.manual_seed(11)
        assert kept.step(grad, scale, got.gen)
        assert torch.equal(torch.rand(3), after_ref)  # the noise windows: same draws from the stream
        _same(ref, got)
    assert float(ref.array.counts[0].sum()) > 2 * SHAPE[0] * SHAPE[1]  # pulses were counted


def test_past_the_noise_tables_windows_both_routes_take_the_torch_train(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kernels, "NOISE_TABLE_SIZE", 64)  # trains of > 32 devices no longer fit
    model = MODELS["rram (exp step, write noise)"]
    ref, got = Layer(model, torch.float32), Layer(model, torch.float32)
    kept = got.kept(True)
    for grad in _grads(torch.float32, 3, 5.0):
        torch.manual_seed(2)
        ref.general(grad, -1.0, True)
        torch.manual_seed(2)
        assert kept.step(grad, -1.0, got.gen)
        _same(ref, got)


def test_it_steps_aside_drawing_nothing_where_the_general_route_must_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = Layer(MODELS["rram (exp step, write noise)"], torch.float32)
    kept = layer.kept(True)
    grad = _grads(torch.float32, 1, 1.0)[0]
    before = [t.clone() for t in layer.state()], layer.gen.get_state()

    def untouched() -> None:
        assert all(torch.equal(a, b) for a, b in zip(before[0], layer.state(), strict=True))
        assert torch.equal(before[1], layer.gen.get_state())

    assert not kept.step(grad.t().contiguous().t(), -1.0, layer.gen)  # column-major: not contiguous
    assert not kept.step(grad.double(), -1.0, layer.gen)  # another dtype
    untouched()
    with monkeypatch.context() as m:
        m.setattr(kernels, "ENABLED", False)
        assert not kept.step(grad, -1.0, layer.gen)
    untouched()
    layer.weight.data = layer.weight.data.clone()  # a replaced weight: the views would write the old one
    assert not kept.step(grad, -1.0, layer.gen)
    untouched()


def test_only_row_packed_cpu_arrays_with_kernel_operands_get_one() -> None:
    rram, pcm = MODELS["rram (exp step, write noise)"], PulseModel.of(DEVICES["pcm"])
    w = torch.zeros(SHAPE)
    gen = torch.Generator().manual_seed(0)
    arrays = [
        PulsedArray(w, rram, gen),  # row-packed
        PulsedArray(w, pcm, gen),  # one-directional pairs: no rows
        PulsedArray(w, rram, gen, packed=False),  # separate tensors (in-memory momentum)
        PulsedArray(w, rram, gen),  # a float64 weight on float32 rows
        PulsedArray(w, rram, gen),  # a momentum buffer not contiguous
    ]
    weights = [nn.Parameter(w.clone()) for _ in range(5)]
    weights[3] = nn.Parameter(w.double())
    momenta = [None, None, None, None, (torch.zeros(SHAPE).t().contiguous().t(), 0.9)]
    made = row_update.updates(arrays, weights, [1.0] * 5, momenta, MAX_PULSES_PER_UPDATE)
    assert [m is not None for m in made] == [True, False, False, False, False]


def test_an_updater_never_pickles_its_views_and_resumes_bit_for_bit() -> None:
    from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
    from models.nn.networks import analog_layers, build_network
    from models.training.onchip import PulsedSGD

    def fresh() -> tuple[nn.Module, PulsedSGD]:
        torch.manual_seed(0)
        net = build_network(
            NetworkConfig(hidden=(24,), in_features=20, in_shape=(20,)), AnalogConfig(device="rram")
        )
        cfg = TrainConfig(mode=TrainMode.ONCHIP_SGD, lr=0.5)
        return net, PulsedSGD(analog_layers(net), cfg, torch.Generator().manual_seed(1))

    x, y = torch.randn(32, 20, generator=torch.Generator().manual_seed(2)), torch.arange(32) % 10

    def steps(net: nn.Module, up: PulsedSGD, n: int) -> None:
        for _ in range(n):
            net.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y).backward()
            for i, layer in enumerate(analog_layers(net)):
                up.step(i, layer.weight.grad)

    net, up = fresh()
    steps(net, up, 2)
    assert up._rows is not None and all(r is not None for r in up._rows)
    assert pickle.loads(pickle.dumps(up))._rows is None
    net2, up2 = copy.deepcopy((net, up))  # as a checkpoint restores them: new tensors, no views
    assert up2._rows is None
    for n, u in ((net, up), (net2, up2)):
        torch.manual_seed(7)  # the noise windows' offsets come from the global stream
        steps(n, u, 3)
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)
    counts = [c for _, c in up.counters()], [c for _, c in up2.counters()]
    assert all(torch.equal(a, b) for a, b in zip(*counts, strict=True))
