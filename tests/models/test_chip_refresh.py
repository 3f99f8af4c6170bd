"""The training chip's device-state reads that the speed passes rebuilt give the same values.

:func:`models.training.chip.hic_chip` builds every slice's conductances in three tensor operations
and gathers a sample of weights by row (digits stored per weight): compared, with ``==``, against
the per-slice construction of :func:`models.physics.chip.pair_conductances` on the full digits,
for the whole array and a sample, float32 and float64, 2 or 3 slices.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.config import AnalogConfig, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.physics import crossbar, kernels
from models.physics.chip import level_read_power, pair_conductances, pcm_read_std_us, training_read_std
from models.training.chip import hic_chip
from models.training.hic import Hic

SLICES = [
    {"binary_devices": 2, "slice_levels": 16},
    {"binary_devices": 1, "multilevel_devices": 2, "slice_levels": 3},
]


def _reference(arr: object, layer: AnalogLinear, sample: torch.Tensor | None) -> torch.Tensor:
    """The conductances slice by slice, as the chip read them before: ``g_min + level·span/cap``."""
    dev = layer.device_spec
    digits = arr.digits.reshape(len(arr.caps), -1)  # type: ignore[attr-defined]
    digits = digits[:, sample] if sample is not None else digits.reshape(len(arr.caps), *layer.weight.shape)
    return torch.cat(
        [
            pair_conductances(d.clamp_min(0.0), (-d).clamp_min(0.0), cap, dev)
            for d, cap in zip(digits, arr.caps, strict=True)  # type: ignore[attr-defined]
        ]
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("slices", SLICES)
def test_hic_chip_equals_the_per_slice_conductances(dtype: torch.dtype, slices: dict[str, int]) -> None:
    torch.manual_seed(0)
    layer = AnalogLinear(70, 30, AnalogConfig(device="pcm", **slices)).to(dtype)  # type: ignore[arg-type]
    updater = Hic(
        [layer], TrainConfig(mode=TrainMode.HIC, lr=0.5, update_bits=4), torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(1)
    for _ in range(3):  # carries: digits off their programmed values
        updater.step(0, torch.randn(layer.weight.shape, generator=g, dtype=dtype) * 2)
    arr = updater.arrays[0]
    assert bool((arr.digits[1:] != 0).any())  # the upper slices hold digits too
    for sample in (None, torch.arange(3, 2100, 7)):
        chip = hic_chip(arr, layer, sample)
        want = _reference(arr, layer, sample)
        assert chip.g.dtype == want.dtype == dtype and torch.equal(chip.g, want)
        assert chip.coef == tuple(
            arr.lsb * s * c / (layer.device_spec.g_max_us - layer.device_spec.g_min_us)
            for s, c in zip(arr.sig, arr.caps, strict=True)
        )
        assert chip.w_max == arr.lsb * crossbar.max_code(layer.device_spec, layer.config)
    full = hic_chip(arr, layer)  # the read-back is the weight the devices hold (to rounding)
    eps = torch.finfo(dtype).eps
    assert torch.allclose(full.weight(), arr.value, rtol=0, atol=8 * eps * full.w_max)


def _trained_hic(
    dtype: torch.dtype, slices: dict[str, int], rows: int, cols: int
) -> tuple[object, AnalogLinear]:
    torch.manual_seed(0)
    layer = AnalogLinear(rows, cols, AnalogConfig(device="pcm", **slices)).to(dtype)  # type: ignore[arg-type]
    updater = Hic(
        [layer], TrainConfig(mode=TrainMode.HIC, lr=0.5, update_bits=4), torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        updater.step(0, torch.randn(layer.weight.shape, generator=g, dtype=dtype) * 2)
    return updater.arrays[0], layer


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("slices", SLICES)
def test_hic_level_table_is_the_states_conductances(dtype: torch.dtype, slices: dict[str, int]) -> None:
    """A sampled HIC state's level table picks, by each weight's digit, exactly its conductances."""
    arr, layer = _trained_hic(dtype, slices, 70, 30)
    chip = hic_chip(arr, layer, torch.arange(3, 2100, 7))
    levels = chip.levels
    assert levels is not None and levels.g.dtype == dtype
    codes = (levels.digits + levels.offset).long()  # (P, n)
    picked = torch.stack([levels.g[p][:, codes[p]] for p in range(codes.shape[0])])
    assert torch.equal(picked, chip.g)
    assert hic_chip(arr, layer).levels is None  # the whole state (stuck devices) has none


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("slices", SLICES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("compiled", [True, False])
def test_hic_read_std_from_the_level_table_is_the_per_device_one(
    dtype: torch.dtype, slices: dict[str, int], threads: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PCM read-noise level from the per-digit table (gathered, torch's vectorized and scalar
    ``pow`` positions as probed) equals the per-device computation bit for bit, at sample sizes
    with and without a scalar tail, one and two threads (a 2·n ≥ 32768 computation splits), by
    the compiled gather (models/physics/level_kernel.py) and by torch's."""
    monkeypatch.setattr(kernels, "ENABLED", compiled)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        arr, layer = _trained_hic(dtype, slices, 300, 130)
        for sample in (torch.arange(0, 39000, 2), torch.arange(5, 39000, 3), torch.arange(1, 40, 3)):
            chip = hic_chip(arr, layer, sample)
            assert chip.levels is not None
            power = level_read_power(chip.levels, layer.device_spec)
            want_power = torch.stack(
                [pcm_read_std_us(g, layer.device_spec).square().sum(dim=0) for g in chip.g]
            )
            assert power is not None and torch.equal(power, want_power)
            for scale in (1.0, 0.3):
                got = training_read_std(chip, layer.device_spec, scale)
                want = training_read_std(dataclasses.replace(chip, levels=None), layer.device_spec, scale)
                assert got == want > 0
    finally:
        torch.set_num_threads(saved)
