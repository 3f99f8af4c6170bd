"""hic's compiled update (models/physics/hic_kernel.py) against its torch path, bit for bit.

Both paths run the same steps from the same state and generator: the accumulators, digits, write
counts, the weight the devices hold, the layer's weight, the momentum and the generator's next
draw must be equal (``torch.equal``; NaN where NaN), in float32 and float64, on one-directional
(PCM) and bidirectional (RRAM) devices, with a rounded or a float accumulator, with and without
momentum, and where the carry chain runs often (3-level slices) or saturates the top slice.
"""

from __future__ import annotations

import pytest
import torch

from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, TrainConfig, TrainMode
from models.nn.networks import analog_layers, build_network
from models.physics import kernels
from models.training.hic import Hic

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES,
    reason="this torch build rounds its CPU multiply-adds twice: the kernels stay off (jit.torch_fuses)",
)

SLICES = {
    "2 binary + 16 levels": {"binary_devices": 2, "slice_levels": 16},
    "1 binary + 2×3 levels": {"binary_devices": 1, "multilevel_devices": 2, "slice_levels": 3},
    "3 levels, base 2": {"binary_devices": 1, "multilevel_devices": 2, "slice_levels": 3, "slice_base": 2},
}


def _run(
    compiled: bool,
    dtype: torch.dtype,
    device: str,
    bits: int,
    slices: str,
    momentum: bool,
    grads: list[list[torch.Tensor]],
) -> list[torch.Tensor]:
    """``grads`` as hic steps of a 3-layer MLP: the state that the steps leave."""
    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(40, 30), in_features=50, in_shape=(50,))
        layers = analog_layers(build_network(net, AnalogConfig(device=device, **SLICES[slices])).to(dtype))  # type: ignore[arg-type]
        placement = MomentumPlacement.DIGITAL if momentum else MomentumPlacement.NONE
        cfg = TrainConfig(
            mode=TrainMode.HIC, lr=0.05, momentum=0.9, momentum_placement=placement, update_bits=bits
        )
        updater = Hic(layers, cfg, torch.Generator().manual_seed(0))
        for step in grads:
            for j, g in enumerate(step):
                updater.step(j, g.to(dtype))
        arrays = updater.arrays
        return [
            *(a.acc for a in arrays),
            *(a.digits for a in arrays),
            *(a.counts for a in arrays),
            *(a.value for a in arrays),
            *(x.weight.data for x in layers),
            *updater.momentum.bufs,
            torch.rand(3, generator=updater.gen),
        ]
    finally:
        kernels.ENABLED = saved


def _grads(steps: int, scale: float) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    shapes = [(50, 40), (40, 30), (30, 10)]  # the layers' weights (in, out)
    return [[torch.randn(s, generator=g, dtype=torch.float64) * scale for s in shapes] for _ in range(steps)]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype and values, NaN where NaN (torch.equal is False for NaN)."""
    nan = a.isnan()
    return a.dtype == b.dtype and torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("device", "bits", "slices", "momentum"),
    [
        ("pcm", 4, "2 binary + 16 levels", True),
        ("rram", 8, "2 binary + 16 levels", False),
        ("pcm", 32, "1 binary + 2×3 levels", True),  # 32 bits: a float accumulator
        ("rram", 4, "1 binary + 2×3 levels", True),
        ("pcm", 6, "3 levels, base 2", False),
    ],
)
def test_the_compiled_update_equals_the_torch_path_bit_for_bit(
    dtype: torch.dtype, device: str, bits: int, slices: str, momentum: bool
) -> None:
    grads = _grads(6, 0.5)
    ref = _run(False, dtype, device, bits, slices, momentum, grads)
    got = _run(True, dtype, device, bits, slices, momentum, grads)
    for a, b in zip(ref, got, strict=True):
        assert _same(a, b)
    counts = ref[6:9]
    devices = sum(c.numel() for c in counts)
    assert sum(float(c.sum()) for c in counts) > devices + 200  # carries wrote devices
    assert not any(bool(t.isnan().any()) for t in ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", ["pcm", "rram"])
def test_huge_and_non_finite_gradients_saturate_and_poison_as_the_torch_path(
    dtype: torch.dtype, device: str
) -> None:
    """Gradients of 10⁶ carry far past the top slice (the chain saturates it), and a few of ±inf and
    NaN make NaN accumulators and digits: the same values, counts and NaNs on both paths."""
    grads = _grads(3, 1e6)
    for step in grads:
        for g in step:
            g.view(-1)[::97] = float("nan")
            g.view(-1)[5::89] = float("inf")
            g.view(-1)[7::83] = -float("inf")
    for slices in ("2 binary + 16 levels", "1 binary + 2×3 levels"):
        ref = _run(False, dtype, device, 4, slices, True, grads)
        got = _run(True, dtype, device, 4, slices, True, grads)
        for a, b in zip(ref, got, strict=True):
            assert _same(a, b)
        assert bool(ref[3].isnan().any())  # NaN digits (the compare covers them)
        assert bool((ref[3].nan_to_num().abs() > 0).any())


def test_the_compiled_pass_applies_to_cpu_tensors_only_while_kernels_are_enabled() -> None:
    """The kernel runs on contiguous CPU float tensors with kernels on; off (or on a mismatched
    dtype) it declines before drawing anything, and the torch path runs."""
    net = NetworkConfig(hidden=(8,), in_features=6, in_shape=(6,))
    layers = analog_layers(build_network(net, AnalogConfig(device="pcm", binary_devices=1, slice_levels=4)))
    updater = Hic(
        layers, TrainConfig(mode=TrainMode.HIC, lr=0.1, update_bits=4), torch.Generator().manual_seed(0)
    )
    arr, g = updater.arrays[0], torch.randn(layers[0].weight.shape)
    saved = kernels.ENABLED
    try:
        kernels.ENABLED = False
        state = updater.gen.get_state()
        assert arr.fused_update(g, None, 0.0, updater.gen, -1.0, None) is None
        assert torch.equal(updater.gen.get_state(), state)  # nothing drawn
        kernels.ENABLED = True
        assert arr.fused_update(g.double(), None, 0.0, updater.gen, -1.0, None) is None
        assert arr.fused_update(g.t().contiguous().t(), None, 0.0, updater.gen, -1.0, None) is None
        assert torch.equal(updater.gen.get_state(), state)
        assert arr.fused_update(g, None, 0.0, updater.gen, -1.0, None) is not None
    finally:
        kernels.ENABLED = saved


def test_a_pickled_array_steps_on_its_own_tensors_after_loading() -> None:
    """The kernel's NumPy views are not pickled (they would load as copies of the state): an
    updater pickled mid-run and loaded continues exactly as the one that was not."""
    import pickle

    grads = _grads(4, 0.5)
    saved = kernels.ENABLED
    kernels.ENABLED = True
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(40, 30), in_features=50, in_shape=(50,))
        layers = analog_layers(
            build_network(net, AnalogConfig(device="pcm", **SLICES["2 binary + 16 levels"]))
        )  # type: ignore[arg-type]
        updater = Hic(
            layers, TrainConfig(mode=TrainMode.HIC, lr=0.05, update_bits=4), torch.Generator().manual_seed(0)
        )
        for j, g in enumerate(grads[0]):
            updater.step(j, g.float())  # the views exist now
        loaded = pickle.loads(pickle.dumps((updater, layers)))
        for step in grads[1:]:
            for pair in ((updater, layers), loaded):
                for j, g in enumerate(step):
                    pair[0].step(j, g.float())
        for a, b in zip(updater.arrays, loaded[0].arrays, strict=True):
            assert torch.equal(a.acc, b.acc) and torch.equal(a.digits, b.digits)
            assert torch.equal(a.counts, b.counts) and torch.equal(a.value, b.value)
            assert float(a.counts.sum()) > a.counts.numel()  # carries after loading were written
        for x, y in zip(layers, loaded[1], strict=True):
            assert torch.equal(x.weight, y.weight)
    finally:
        kernels.ENABLED = saved


def test_huge_page_state_is_an_ordinary_tensor_on_aligned_memory() -> None:
    """Large state arrays start on a 2 MiB boundary (where the platform offers huge pages), hold
    what is written, and pickle and copy as any tensor; small ones are plain ``torch.empty``."""
    import mmap
    import pickle

    from models.allocator import HUGE_PAGE, huge_page_empty

    big = huge_page_empty((300_000, 3, 2), torch.float64)
    assert big.shape == (300_000, 3, 2) and big.dtype == torch.float64 and big.is_contiguous()
    if hasattr(mmap, "MADV_HUGEPAGE"):
        assert big.data_ptr() % HUGE_PAGE == 0
    big.copy_(torch.arange(big.numel(), dtype=torch.float64).view(big.shape))
    loaded = pickle.loads(pickle.dumps(big))
    assert torch.equal(loaded, big) and loaded.data_ptr() != big.data_ptr()
    assert torch.equal(big.clone(), big)
    small = huge_page_empty((10, 3), torch.float32)
    assert small.shape == (10, 3) and small.dtype == torch.float32
