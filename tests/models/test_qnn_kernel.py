"""qnn's compiled step (models/physics/mtj_kernel.py) against its torch path, bit for bit.

The kernel also runs the digital momentum (a fused multiply-add, as torch's ``add(alpha=)``) and
counts write attempts in one byte per MTJ, added to the int32 counters every 255 of its steps:
the momentum, states, MTJ states, weights, switch and attempt counters and the generator's next
draw must equal the torch path's, in float32 and float64, binary and ternary, past a flush of
the byte counters, with non-finite gradients, and when the two paths alternate step by step.
"""

from __future__ import annotations

import pytest
import torch

from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, QnnWeights, TrainConfig, TrainMode
from models.nn.networks import analog_layers, build_network
from models.physics import kernels
from models.training.qnn import PENDING_STEPS, Qnn

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES,
    reason="this torch build rounds its CPU multiply-adds twice: the kernels stay off (jit.torch_fuses)",
)


def _run(
    paths: list[bool],
    dtype: torch.dtype,
    ternary: bool,
    momentum: bool,
    scale: float,
    hidden: tuple[int, ...],
    poison: bool = False,
    alternate: bool = False,
) -> tuple[list[torch.Tensor], Qnn]:
    """One qnn step per entry of ``paths`` (True: kernels on) with seeded gradients of ``scale``
    (``poison``: some NaN and ±inf; ``alternate``: ±scale everywhere, the sign flipping each step)."""
    saved = kernels.ENABLED
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=hidden, in_features=50, in_shape=(50,))
        layers = analog_layers(build_network(net, AnalogConfig(device="stt_mram")).to(dtype))
        cfg = TrainConfig(
            mode=TrainMode.QNN,
            lr=0.05,
            momentum=0.9,
            momentum_placement=MomentumPlacement.DIGITAL if momentum else MomentumPlacement.NONE,
            qnn_weights=QnnWeights.TERNARY if ternary else QnnWeights.BINARY,
        )
        updater = Qnn(layers, cfg, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        for k, compiled in enumerate(paths):
            kernels.ENABLED = compiled
            for j, layer in enumerate(layers):
                grad = torch.randn(layer.weight.shape, generator=g, dtype=torch.float64) * scale
                if alternate:
                    grad.fill_(scale if k % 2 else -scale)
                grad.view(-1)[::131] = 0.0  # no update there: no attempt either
                if poison:
                    grad.view(-1)[3::97] = float("nan")
                    grad.view(-1)[5::89] = float("inf")
                    grad.view(-1)[7::83] = -float("inf")
                updater.step(j, grad.to(dtype))
        signs = [m for pair in updater._signs for m in pair]
        state = [
            *updater.states,
            *(x.weight.data for x in layers),
            *updater.counts,
            *updater.attempts,
            *signs,
            *updater.momentum.bufs,
            torch.rand(3, generator=updater.gen),
        ]
        return state, updater
    finally:
        kernels.ENABLED = saved


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype and values, NaN where NaN (torch.equal is False for NaN)."""
    if a.dtype == torch.bool:
        return b.dtype == torch.bool and torch.equal(a, b)
    nan = a.isnan()
    return a.dtype == b.dtype and torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("ternary", "momentum"), [(True, True), (False, True), (True, False)])
def test_the_compiled_step_equals_the_torch_path_bit_for_bit(
    dtype: torch.dtype, ternary: bool, momentum: bool
) -> None:
    ref, _ = _run([False] * 6, dtype, ternary, momentum, 3.0, (40, 30))
    got, _ = _run([True] * 6, dtype, ternary, momentum, 3.0, (40, 30))
    for a, b in zip(ref, got, strict=True):
        assert _same(a, b)
    switches = sum(float(c.sum()) for c in ref[6:9])
    assert switches > 2 * (50 * 40 + 40 * 30 + 30 * 10) + 300  # the steps switched MTJs


def test_the_byte_counters_are_added_in_before_they_overflow() -> None:
    """300 steps (past one flush at 255) of large updates of alternating sign: every synapse swings
    between −1 and +1, so both its MTJs are attempted every step and a byte counter left alone
    would wrap; the totals equal the torch path's (≥ 300 attempts per MTJ that moves)."""
    steps = PENDING_STEPS + 45
    ref, _ = _run([False] * steps, torch.float32, True, False, 10.0, (), alternate=True)
    got, updater = _run([True] * steps, torch.float32, True, False, 10.0, (), alternate=True)
    for a, b in zip(ref, got, strict=True):
        assert _same(a, b)
    assert updater._pending_steps == [steps - PENDING_STEPS]
    moved = torch.ones(500, dtype=torch.bool)
    moved[::131] = False  # the four synapses without an update keep their one programming write
    attempts = ref[3].view(2, -1)
    assert bool((attempts[:, moved] >= steps).all()) and bool((attempts[:, ~moved] == 1).all())
    assert int(updater._pending[0].max()) <= steps - PENDING_STEPS


def test_alternating_paths_leave_the_state_of_either_path() -> None:
    """Kernel and torch steps interleaved (as the benchmark's --compare runs them): the byte and
    int32 counters add up to the same attempts, and every state is the torch path's."""
    paths = [True, False, False, True, True, False, True]
    ref, _ = _run([False] * len(paths), torch.float32, True, True, 3.0, (40, 30))
    got, _ = _run(paths, torch.float32, True, True, 3.0, (40, 30))
    for a, b in zip(ref, got, strict=True):
        assert _same(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_gradients_switch_and_count_as_the_torch_path(dtype: torch.dtype) -> None:
    """±inf and NaN gradients (NaN momentum, NaN states where the move is NaN): the same values,
    NaNs, MTJ states and counts on both paths."""
    ref, _ = _run([False] * 3, dtype, True, True, 3.0, (40,), poison=True)
    got, _ = _run([True] * 3, dtype, True, True, 3.0, (40,), poison=True)
    for a, b in zip(ref, got, strict=True):
        assert _same(a, b)
    assert bool(ref[0].isnan().any())  # NaN states were compared
