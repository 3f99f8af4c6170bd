"""Cheaper chip calibration (docs/training_modes.md, sixth speed pass).

The calibrated ADC ranges' percentile by one compiled pass (``fused_reads.abs_percentile``), and
calibration reads through the fused converter pass (read noise added first, in torch, for the
percentile to see it), against the torch path they replace: equal bit for bit (``torch.equal``),
float32 and float64. (The HIC read-noise level on its level table: tests/models/test_chip_refresh.py.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from models.nn.layers import AnalogLinear
from models.physics import converters, fused_reads, kernels
from models.training.chip import weight_chip
from tests.fused_equality import Outputs, assert_equal, linear


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "ENABLED", True)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """torch sums on one thread, as the benchmark does (the fused read's tile order, fused_reads.in_order)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often the fused read ran (the real function, counted)."""
    count = [0]
    real = fused_reads.read

    def counted(*args: object, **kw: object) -> torch.Tensor:
        count[0] += 1
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fused_reads, "read", counted)
    return count


def _both(run: Callable[[], Outputs], reads: list[int]) -> tuple[Outputs, Outputs]:
    """``run`` on the torch path, then with the kernels, from the same global random state."""
    got = []
    for compiled in (False, True):
        kernels.ENABLED = compiled
        torch.manual_seed(11)
        reads[0] = 0
        got.append(run())
        assert (reads[0] > 0) == compiled  # calibration reads take the fused pass
    return got[0], got[1]


def _ranges(layer: AnalogLinear) -> Outputs:
    bwd = [] if layer.bwd_adc_range is None else [layer.bwd_adc_range.clone()]
    extra = [] if layer.bwd_dac_range is None else [torch.tensor(layer.bwd_dac_range, dtype=torch.float64)]
    return [layer.dac_range.clone(), layer.adc_range.clone(), *bwd, *extra]


CONFIGS = [{}, {"adc_scope": "layer"}, {"adc_bits": 2, "dac_bits": 3}, {"adc_range": "fixed"}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("out", [200, 10])
@pytest.mark.parametrize("analog", CONFIGS, ids=str)
@pytest.mark.parametrize("noise_std", [0.0, 0.04])
def test_a_chip_calibration_read_equals_the_torch_path(
    dtype: torch.dtype, out: int, analog: dict[str, object], noise_std: float, reads: list[int]
) -> None:
    """An on-chip calibration read (forward and analog backward, PCM read noise, with and without
    η_train): the same output, ∂x, ∂b and every range it sets (forward and backward DAC and ADC)."""
    layer = linear(dtype, out, **analog)
    layer.train()
    layer.start_chip_reads(weight_chip(layer), None, analog_backward=True)
    layer.noise_std = noise_std
    assert layer._read_sigma > 0
    x = torch.randn(48, 300, dtype=dtype)

    def run() -> Outputs:
        layer.zero_grad(set_to_none=True)
        xr = x.clone().requires_grad_(True)
        layer.calibrating = True
        try:
            y = layer(xr)
            y.backward(torch.linspace(-1, 1, y.numel(), dtype=dtype).view_as(y))
        finally:
            layer.calibrating = False
        return [y.detach(), xr.grad, layer.bias.grad, *_ranges(layer)]  # type: ignore[list-item]

    ref, new = _both(run, reads)
    assert_equal(ref, new)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gdc", [False, True])
def test_a_programmed_calibration_read_equals_the_torch_path(
    dtype: torch.dtype, gdc: bool, reads: list[int]
) -> None:
    """Calibrating a programmed chip for evaluation: fresh read noise from the layer's generator
    (RRAM), drift and the GDC scale; the same output and ranges."""
    layer = linear(dtype, 200, "rram", gdc=gdc)
    layer.eval()
    layer.program(torch.Generator().manual_seed(3))
    layer.set_read_time(3600.0, torch.Generator().manual_seed(4))
    x = torch.rand(48, 300, dtype=dtype)

    def run() -> Outputs:
        layer._read_gen.manual_seed(5)  # type: ignore[union-attr]
        with torch.no_grad():
            layer.calibrating = True
            try:
                y = layer(x)
            finally:
                layer.calibrating = False
        return [y, *_ranges(layer)]

    assert layer._read_sigma > 0
    ref, new = _both(run, reads)
    assert_equal(ref, new)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(4, 64, 512), (2, 64, 10), (1, 64, 512), (3, 2, 7), (2, 3, 5)])
@pytest.mark.parametrize("q", [99.99, 99.0, 50.0, 100.0])
def test_abs_percentile_is_the_percentile_of_the_magnitudes(
    dtype: torch.dtype, shape: tuple[int, int, int], q: float
) -> None:
    """Every shape the calibration reads (forward tiles, backward column tiles, narrow outputs),
    with ties at the top (rounded entries), a −0 and both signs: the percentile of ``|parts|``
    along the samples, to the bit. q = 99.99 and 99 take the compiled pass (the two largest), 50
    and 100 the torch path."""
    gen = torch.Generator().manual_seed(sum(shape))
    parts = torch.randn(shape, generator=gen, dtype=dtype) * 3
    parts[..., ::3] = parts[..., ::3].round()  # ties, also between + and −
    parts[0, 0, 0] = -0.0
    got = fused_reads.abs_percentile(parts, q)
    want = converters.percentile(parts.abs(), q, dim=1)
    assert got.dtype == want.dtype == dtype
    assert torch.equal(got, want)


def test_abs_percentile_of_two_equal_maxima_is_that_maximum() -> None:
    """A tie at the top: the second largest is the largest (|−5| = |5|), so any q between gives 5;
    a column whose one large entry is alone interpolates towards the next (1 + 0.5·(9 − 1))."""
    parts = torch.tensor([[[5.0, 1.0], [-5.0, 9.0], [0.5, -0.25]]])  # (1 tile, 3 samples, 2 columns)
    got = fused_reads.abs_percentile(parts, 75.0)  # position 1.5 of 3: between the two largest
    assert got.tolist() == [[5.0, 5.0]]


def test_abs_percentile_with_a_nan_is_the_torch_paths() -> None:
    """NaN entries: the compiled pass reports them and the torch path (which propagates NaN) answers."""
    parts = torch.randn(2, 64, 512, generator=torch.Generator().manual_seed(1))
    parts[1, 5, 7] = float("nan")
    got = fused_reads.abs_percentile(parts, 99.99)
    want = converters.percentile(parts.abs(), 99.99, dim=1)
    assert torch.equal(got.isnan(), want.isnan()) and bool(got.isnan().any())
    assert torch.equal(got.nan_to_num(), want.nan_to_num())
