"""The fused CPU converter passes (models/physics/adc_kernel.py, fused_reads.py) against the torch chain.

Both paths read the same layer state and the same global random stream: the fused DAC, read
noise, ADC, tile sum, training noise and bias must give the torch path's outputs and gradients
bit for bit (``torch.equal``), in float32 and float64, for every range mode the layers use.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from models.config import AnalogConfig
from models.nn.conv import AnalogConv2d
from models.nn.layers import AnalogMatrix
from models.physics import adc_kernel, fused_reads, kernels, noise
from models.training.chip import weight_chip
from tests.fused_equality import Outputs, assert_equal, linear

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES,
    reason="this torch build rounds its CPU multiply-adds twice: the kernels stay off (jit.torch_fuses)",
)


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with the kernels on, whatever ``DSE_TORCH_UPDATES`` says (the comparisons
    switch them themselves)."""
    monkeypatch.setattr(kernels, "ENABLED", True)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """torch sums on one thread, as the benchmark and a one-CPU trial do (:func:`fused_reads.in_order`;
    with more, reads of over ``GRAIN_SIZE`` entries and 4+ tiles stay on the torch path: tested below)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the fused DAC and read ran (the real functions, counted)."""
    count = {"quantize": 0, "read": 0}
    for name in count:
        real = getattr(fused_reads, name)

        def counted(
            *args: object, _real: Callable[..., object] = real, _name: str = name, **kw: object
        ) -> object:
            count[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(fused_reads, name, counted)
    return count


def _both(
    run: Callable[[], Outputs],
    calls: dict[str, int],
    reseed: Callable[[], None] | None = None,
    fused_reads: bool = True,
) -> tuple[Outputs, Outputs]:
    """``run`` on the torch path, then fused, from the same global random state; the torch path
    must not call the fused passes, the fused run must (its reads only if ``fused_reads``)."""
    saved, got = kernels.ENABLED, []
    try:
        for compiled in (False, True):
            kernels.ENABLED = compiled
            torch.manual_seed(11)
            if reseed is not None:
                reseed()
            calls.update(quantize=0, read=0)
            got.append(run())
            assert (calls["quantize"] > 0) == compiled
            assert (calls["read"] > 0) == (compiled and fused_reads)
    finally:
        kernels.ENABLED = saved
    return got[0], got[1]


def _train_step(layer: AnalogMatrix, x: torch.Tensor, calibrating: bool = False) -> Outputs:
    """Forward and backward of one batch; the output, ∂x, ∂W and ∂b."""
    layer.zero_grad(set_to_none=True)
    xr = x.clone().requires_grad_(True)
    layer.calibrating = calibrating
    try:
        y = layer(xr)
        y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y))
    finally:
        layer.calibrating = False
    grads = [p.grad for p in (xr, layer.weight, layer.bias) if p is not None and p.grad is not None]
    return [y.detach(), *grads]


def _on_chip(layer: AnalogMatrix, x: torch.Tensor) -> None:
    """Chip-true reads with the analog backward pass, converter ranges calibrated on ``x``."""
    layer.train()
    layer.start_chip_reads(weight_chip(layer), None, analog_backward=True)
    assert layer._read_sigma > 0  # the reads draw noise
    _train_step(layer, x, calibrating=True)


DTYPES = [torch.float32, torch.float64]
CHIP_CONFIGS = [
    {},
    {"adc_scope": "layer"},
    {"adc_range": "fixed", "dac_range": "fixed"},
    {"adc_range": "fixed", "adc_scope": "layer"},
    {"adc_bits": None},
    {"adc_bits": 2, "dac_bits": 3},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [200, 10])
@pytest.mark.parametrize("analog", CHIP_CONFIGS, ids=str)
def test_chip_read_forward_and_analog_backward_equal_the_torch_path(
    dtype: torch.dtype, out: int, analog: dict[str, object], calls: dict[str, int]
) -> None:
    layer = linear(dtype, out, **analog)
    x = torch.randn(48, 300, dtype=dtype)
    _on_chip(layer, x)
    assert layer._fuses(torch.empty(5, 48, out, dtype=dtype))
    ref, new = _both(lambda: _train_step(layer, x), calls)
    assert_equal(ref, new)
    assert len(ref) == 4  # output, ∂x (a transposed read), ∂W, ∂b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [200, 192, 10])
@pytest.mark.parametrize("scope", ["tile", "layer"])
def test_dynamic_ranges_with_training_noise_equal_the_torch_path(
    dtype: torch.dtype, out: int, scope: str, calls: dict[str, int]
) -> None:
    """hwa with converters in the loop: dynamic DAC and ADC ranges (per tile, per column tile in
    the 4-D form when 64 divides ``out``, or per layer), η_train noise on the sum."""
    layer = linear(dtype, out, adc_scope=scope)
    layer.train()
    layer.noise_std = 0.04
    assert layer._adc_is_dynamic()
    x = torch.rand(48, 300, dtype=dtype)
    ref, new = _both(lambda: _train_step(layer, x), calls)
    assert_equal(ref, new)


def test_windows_over_half_the_table_are_fresh_draws_in_the_torch_paths_order(calls: dict[str, int]) -> None:
    """The full tiles' window (4 × 1100 × 512 normals) exceeds half the table: ``normals`` draws it
    from the global generator, between the offset draws of the table windows around it."""
    layer = linear(torch.float32, 512)
    x = torch.randn(1100, 300)
    _on_chip(layer, x)
    assert 4 * 1100 * 512 > noise.NOISE_TABLE_SIZE // 2 >= 1100 * 512
    ref, new = _both(lambda: _train_step(layer, x), calls)
    assert_equal(ref, new)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gdc", [False, True])
def test_programmed_evaluation_equals_the_torch_path(
    dtype: torch.dtype, gdc: bool, calls: dict[str, int]
) -> None:
    """Calibrated ranges, fresh additive read noise from the layer's generator (RRAM), drift and
    the GDC scale."""
    layer = linear(dtype, 200, "rram", gdc=gdc)
    layer.eval()
    layer.program(torch.Generator().manual_seed(3))
    layer.set_read_time(3600.0, torch.Generator().manual_seed(4))
    x = torch.rand(48, 300, dtype=dtype)
    with torch.no_grad():
        layer.calibrating = True
        layer(x)
        layer.calibrating = False
    gen = layer._read_gen
    assert gen is not None and layer._read_sigma > 0
    assert layer._gdc_scale is not None and bool((layer._gdc_scale != 1).any())  # drifted

    def run() -> Outputs:
        with torch.no_grad():
            return [layer(x)]

    ref, new = _both(run, calls, lambda: gen.manual_seed(5))  # type: ignore[union-attr]
    assert_equal(ref, new)


@pytest.mark.parametrize("dtype", DTYPES)
def test_analog_conv_dac_and_transposed_read_equal_the_torch_path(
    dtype: torch.dtype, calls: dict[str, int]
) -> None:
    torch.manual_seed(0)
    cfg = AnalogConfig(device="pcm", tile_rows=32, tile_cols=32)
    layer = AnalogConv2d(6, 40, 3, cfg, padding=1).to(dtype)  # 54 rows: a full tile and a remainder
    x = torch.randn(4, 6, 7, 7, dtype=dtype)
    _on_chip(layer, x)
    ref, new = _both(lambda: _train_step(layer, x), calls)
    assert_equal(ref, new)


def test_the_torch_path_stays_where_the_fused_pass_does_not_apply() -> None:
    """1-bit ADCs, more than MAX_TILES tiles and non-float dtypes take the torch chain; calibration
    reads fuse (sixth pass: their noise is added first, tests/models/test_calibration_speed.py)."""
    layer = linear(torch.float32, 200)
    parts = torch.zeros(5, 8, 200)
    saved = kernels.ENABLED
    try:
        kernels.ENABLED = True
        assert layer._fuses(parts)
        assert not layer._fuses(torch.zeros(adc_kernel.MAX_TILES + 1, 8, 200))
        assert not layer._fuses(parts.to(torch.bfloat16))
        layer.calibrating = True
        assert layer._fuses(parts)
        layer.calibrating = False
        assert not linear(torch.float32, 200, adc_bits=1)._fuses(parts)
        kernels.ENABLED = False
        assert not layer._fuses(parts)
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tiles", range(1, adc_kernel.MAX_TILES + 1))
@pytest.mark.parametrize("shape", [(7, 45), (64, 10), (3, 100), (33, 17)])
def test_the_tile_sum_adds_in_torchs_order(dtype: torch.dtype, tiles: int, shape: tuple[int, int]) -> None:
    """Without converters the fused read is the bare sum over tiles: equal to torch's ``sum(dim=0)``
    on magnitudes spread over 8 decades (where the order of the additions shows), in order up to
    the last full group of columns and in the tail's interleaved order past it."""
    n, out = shape
    g = torch.Generator().manual_seed(tiles)
    scale = torch.logspace(-4, 4, tiles, dtype=dtype)[torch.randperm(tiles, generator=g)].view(-1, 1, 1)
    parts = torch.randn(tiles, n, out, generator=g, dtype=dtype) * scale
    assert fused_reads.in_order(parts)
    x = torch.zeros(n, tiles)  # no read noise: the input is not read
    got = fused_reads.read(parts, x, 1, read_sigma=0.0, gen=None, ranges=None, adc_bits=0, clip=True)
    want = parts[0] if tiles == 1 else parts.sum(dim=0)
    assert torch.equal(got, want)


def test_the_sum_group_probe_finds_this_builds_tail() -> None:
    """The probe's group (columns per 4 vectors) is a power of two that leaves the outputs before it
    in order: a (5, 2·group + 3) sum has exactly its last 3 outputs in the tail's order."""
    for dtype in DTYPES:
        group = fused_reads.SUM_GROUP[dtype]
        assert group in (8, 16, 32, 64, 128, 256)
        tiny = 2.0 ** -(24 if dtype is torch.float32 else 53)
        p = torch.zeros(5, 2 * group + 3, dtype=dtype)
        p[0], p[1:4], p[4] = 1.0, tiny, -1.0
        assert (p.sum(dim=0) != 0).tolist() == [False] * (2 * group) + [True] * 3


def test_more_threads_keep_large_reads_of_four_tiles_on_the_torch_path(calls: dict[str, int]) -> None:
    """With 2 threads torch splits a large sum's columns (its tails move): 5 tiles × 48 × 200 stay
    on the torch chain, 3 tiles (added in order whatever the split) are fused; results equal."""
    torch.set_num_threads(2)
    assert not fused_reads.in_order(torch.zeros(5, 48, 200))
    assert fused_reads.in_order(torch.zeros(3, 48, 200))
    assert fused_reads.in_order(torch.zeros(5, 16, 200))  # under GRAIN_SIZE: one thread sums it
    layer = linear(torch.float32, 200)
    x = torch.randn(48, 300)
    _on_chip(layer, x)
    ref, new = _both(lambda: _train_step(layer, x), calls, fused_reads=False)
    assert_equal(ref, new)
