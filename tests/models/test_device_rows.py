"""Row-packed device state (models/physics/device_rows.py) and the train's noise windows (train_noise.py).

Packing a bidirectional state-dependent array one row per device changes where its state lies,
never a value: a packed and an unpacked array built from the same generator and pulsed alike
hold the same state bit for bit, on the torch path and with the kernels; the weight the kernels
write (α·ω) is the torch path's ``omega * alpha``; the noise windows' sizes are the brute-force
counts of the devices each pulse runs on.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
from pathlib import Path

import numpy as np
import pytest
import torch

from models.allocator import HUGE_PAGE
from models.physics import device_rows, kernels
from models.physics.devices import DEVICES, UpdateRule
from models.physics.pulses import PulsedArray, PulseModel
from models.physics.train_noise import DIRECT, live_sizes, train_windows

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES, reason="this torch build rounds its CPU multiply-adds twice: kernels off"
)

MODELS = {
    "rram (exp step, write noise)": PulseModel.of(DEVICES["rram"]),
    "ecram (linear step)": PulseModel.of(DEVICES["ecram"]),
    "soft bounds, write noise": dataclasses.replace(
        PulseModel.of(DEVICES["rram"]), rule=UpdateRule.SOFT_BOUNDS, write_noise=2.0
    ),
}


def _run(model: PulseModel, packed: bool, compiled: bool, dtype: torch.dtype) -> list[torch.Tensor]:
    """Four updates of a 40×30 array (half the weights pulsed, up to ±6), each also writing α·ω
    into a weight: the state, counts, weight, returns and the global stream after."""
    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        gen = torch.Generator().manual_seed(3)
        shape = (40, 30)
        arr = PulsedArray(
            (torch.rand(shape, generator=gen, dtype=dtype) - 0.5) * model.reach, model, gen, packed
        )
        assert (arr._packed is not None) == packed
        alpha = 0.37
        weight = torch.mul(arr.value(), alpha)
        out = []
        for s in range(4):
            g = torch.Generator().manual_seed(20 + s)
            n = torch.round(torch.randn(shape, generator=g, dtype=dtype) * 2.5).clamp_(-6, 6).view(-1)
            idx = torch.nonzero(torch.rand(n.numel(), generator=g) < 0.5).squeeze(1)
            torch.manual_seed(11 + s)
            out.append(arr.pulse_at(idx, n[idx].contiguous(), into=(weight, alpha)).clone())
        state = [arr.w, arr.value(), arr.lo, arr.hi, arr.up, arr.down, arr.counts, weight]
        return [t.clone() for t in state] + out + [torch.rand(3)]
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_packed_rows_hold_the_same_state_as_separate_tensors(name: str, dtype: torch.dtype) -> None:
    model = MODELS[name]
    for compiled in (False, True):
        ref, got = _run(model, False, compiled, dtype), _run(model, True, compiled, dtype)
        for a, b in zip(ref, got, strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)
    assert float(ref[6].sum()) > 2 * 40 * 30 + 500  # pulses were counted


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["ecram (linear step)", "soft bounds, write noise"])
def test_the_kernels_weight_is_alpha_times_the_read_value_bit_for_bit(name: str, dtype: torch.dtype) -> None:
    """Rules without an exponential: the kernel's state and weight equal the torch path's."""
    ref, got = _run(MODELS[name], True, False, dtype), _run(MODELS[name], True, True, dtype)
    for a, b in zip(ref, got, strict=True):
        assert torch.equal(a, b)
    weight, value = got[7], got[1]
    assert torch.equal(weight, value * 0.37)


def test_columns_are_views_of_the_rows() -> None:
    model = MODELS["soft bounds, write noise"]
    arr = PulsedArray(torch.zeros(5, 4), model, torch.Generator().manual_seed(0))
    rows = arr._packed.rows  # type: ignore[union-attr]
    assert rows.shape == (20, device_rows.ROW_WIDTH) and rows.is_contiguous()
    arr.w[2, 3] = 0.125
    arr.value()[1, 1] = -0.25
    assert rows[11, device_rows.W] == 0.125 and rows[5, device_rows.READ] == -0.25
    assert torch.equal(arr._slopes[0], -1.0 / arr.hi.reshape(-1).clamp_min(1e-12))  # type: ignore[index]
    assert torch.equal(arr._mid, (arr.up + arr.down) / 2)  # the dense path's constants stay right


@pytest.mark.parametrize("one_directional", [False, True], ids=["rows", "pair rows"])
def test_large_rows_sit_on_huge_page_aligned_memory_and_hold_their_columns(one_directional: bool) -> None:
    """Rows of at least 2 MiB start on a huge page's boundary where the platform advises them
    (a pulsed device's row is then no TLB miss); the columns hold what they were packed from."""
    cols = [torch.arange(70_000, dtype=torch.float32) + 0.25 * j for j in range(6)]
    if one_directional:
        rows = device_rows.pair_rows(*cols[:4])
        expect = torch.stack([*cols[:4], *[torch.zeros(70_000)] * 4], dim=1)
    else:
        rows = device_rows.pack(*cols, None)
        expect = torch.stack([*cols, *[torch.zeros(70_000)] * 2], dim=1)
    assert rows.shape == (70_000, 8) and rows.is_contiguous() and torch.equal(rows, expect)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        assert rows.data_ptr() % HUGE_PAGE == 0


def _brute_sizes(n: np.ndarray) -> list[int]:
    k = np.abs(n)
    later = k[k > 1]
    last = int(later.max()) if later.size else 0
    return [n.size] + [int((k > j).sum()) for j in range(1, last)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(5))
def test_live_sizes_count_the_devices_of_each_pulse(seed: int, dtype: type) -> None:
    """Seeds 0–3: up to :data:`DIRECT` pulses (a count per pulse); seed 4: beyond (the histogram)."""
    rng = np.random.default_rng(seed)
    n = np.round(rng.standard_normal(3000) * (2 + 4 * seed if seed < 4 else 60)).astype(dtype)
    n[:3] = [np.nan, 2.5, -1.5]  # NaN runs no later pulse; fractions as the torch loop's k > j
    n[3:5] = [np.inf * 0, -0.0]  # another NaN, a negative zero
    last = train_windows(n, False)[1]
    assert (last > DIRECT) == (seed == 4)
    assert list(live_sizes(n, last)) == _brute_sizes(n)[: max(last, 1)]
    assert last == int(np.nanmax(np.where(np.abs(n) > 1, np.abs(n), 0)))


def test_a_train_without_later_pulses_has_one_window_and_an_infinite_one_raises() -> None:
    n = np.array([1.0, -1.0, 0.0], dtype=np.float32)
    assert train_windows(n, False)[1] == 0 and list(live_sizes(n, 0)) == [3]
    with pytest.raises(OverflowError):
        train_windows(np.array([math.inf], dtype=np.float32), True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_producers_count_each_trains_sizes_as_the_brute_force_does(dtype: torch.dtype) -> None:
    """The rounding (onchip_sgd) and transfer (mixed precision) passes count each train's length
    and live sizes as they append the pulses (``chi_kernel.TrainSizes``): the brute-force counts at
    every scale (few, many and capped pulses; NaN and infinities among them), and None (the train
    scans) where a pulse number lies beyond the counted ones."""
    from models.physics import chi_kernel

    gen = torch.Generator().manual_seed(3)
    for scale in (0.3, 3.0, 40.0, 1e4):
        v = (torch.randn(20_000, generator=gen) * scale).to(dtype)
        v[::997], v[1], v[2] = float("nan"), float("inf"), -float("inf")
        u = torch.rand(20_000, generator=gen, dtype=dtype)
        for found in (
            chi_kernel.pulses(v, u, 1.0, 31),
            chi_kernel.step(v, u, torch.zeros_like(v), 1.0, 1.0, 1.0, 1e9 if scale == 1e4 else 7.0, 1.0),
        ):
            assert found is not None and found[1].numel() > 0
            n, sizes = found[1].numpy(), found[2]
            if np.nanmax(np.abs(n)) >= chi_kernel.SIZES:
                assert sizes is None and scale == 1e4
                continue
            last = int(np.nanmax(np.where(np.abs(n) > 1, np.abs(n), 0)))
            assert sizes is not None and sizes.last == last, scale
            assert sizes.live.tolist() == _brute_sizes(n)[: max(last, 1)], scale


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_pair_kernel_writes_the_same_weight_as_the_torch_path(dtype: torch.dtype) -> None:
    """A PCM pair with a linear step (no exponential), refreshes included: weight α·(ω⁺ − ω⁻)."""
    model = dataclasses.replace(PulseModel.of(DEVICES["pcm"]), rule=UpdateRule.LINEAR_STEP, gamma_up=0.5)
    runs = []
    for compiled in (False, True):
        saved = kernels.ENABLED
        kernels.ENABLED = compiled
        try:
            gen = torch.Generator().manual_seed(4)
            arr = PulsedArray(
                (torch.rand(30, 20, generator=gen, dtype=dtype) - 0.5) * model.reach, model, gen
            )
            weight = torch.mul(arr.value(), 0.37)
            for s in range(6):
                g = torch.Generator().manual_seed(40 + s)
                n = torch.round(torch.randn(600, generator=g, dtype=dtype) * 4).clamp_(-9, 9)
                torch.manual_seed(s)
                arr.pulse_at(torch.arange(600), n, into=(weight, 0.37))
            runs.append([weight.clone(), arr.value().clone(), arr.counts.clone()])
        finally:
            kernels.ENABLED = saved
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(runs[1][0], runs[1][1] * 0.37)
    assert float(runs[0][2].sum()) > 2 * 600 + 2000  # pulses were counted


def _momentum_run(compiled: bool, dtype: torch.dtype, mode: str) -> list[torch.Tensor]:
    """Four steps of a 64-64-10 MLP on ECRAM (no exponential) with momentum 0.9 (μ·buf rounds):
    the momentum buffers, χ, counts, device state, weights and the global stream after."""
    from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
    from models.nn.networks import analog_layers, build_network
    from models.training.onchip import MixedPrecision, PulsedSGD

    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(64, 64), in_features=40, in_shape=(40,))
        layers = analog_layers(build_network(net, AnalogConfig(device="ecram")).to(dtype))
        make = MixedPrecision if mode == "mixed_precision" else PulsedSGD
        cfg = TrainConfig(
            mode=TrainMode(mode), lr=0.05, momentum=0.9, update_bits=8 if make is MixedPrecision else 32
        )
        updater = make(layers, cfg, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        for s in range(4):
            for j, layer in enumerate(layers):
                torch.manual_seed(70 + 3 * s + j)
                updater.step(j, torch.randn(layer.weight.shape, generator=g, dtype=dtype) * 0.3)
        chi = updater.chi if isinstance(updater, MixedPrecision) else []
        state = [*updater.momentum.bufs, *chi, *(a.counts for a in updater.arrays)]
        state += [*(a.value() for a in updater.arrays), *(x.weight.data for x in layers), torch.rand(3)]
        return [t.clone() for t in state]
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize("mode", ["onchip_sgd", "mixed_precision"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_momentum_in_the_kernels_leaves_what_the_torch_path_leaves(dtype: torch.dtype, mode: str) -> None:
    """v = μ·buf + g formed inside the rounding (onchip_sgd) or χ pass (mixed precision): the buffer,
    the pulses and everything after them bit for bit, the layers' sizes multiples of 64 and not."""
    ref, got = _momentum_run(False, dtype, mode), _momentum_run(True, dtype, mode)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    counts = ref[6 if mode == "mixed_precision" else 3]
    assert float(counts.sum()) > 2 * counts[0].numel() + 100  # pulses were applied
    assert bool((ref[0] != 0).any())  # the buffer carries momentum


def test_the_new_kernels_compile_without_fast_math_or_contracted_multiply_adds() -> None:
    import re

    import numba

    from models.physics import chi_kernel

    _run(MODELS["ecram (linear step)"], True, True, torch.float32)
    _momentum_run(True, torch.float32, "mixed_precision")
    _momentum_run(True, torch.float32, "onchip_sgd")
    for kernel in (kernels.pulse_rows, chi_kernel.round_step, chi_kernel.chi_step):
        assert kernel.signatures
        fresh = numba.njit(error_model="numpy")(kernel.py_func)  # the cached one keeps no IR
        for sig in kernel.signatures:
            fresh.compile(sig)
            ir = fresh.inspect_llvm(sig)
            assert "fmul" in ir or "@llvm.fma" in ir
            assert not re.search(r"\bf(add|sub|mul|div) (fast|contract|reassoc|afn|nnan|ninf|arcp)", ir)
            assert "@llvm.fmuladd" not in ir


@pytest.mark.parametrize("name", list(MODELS))
def test_pending_row_counts_are_exact_and_reach_the_counter(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole pulse numbers wait in the row's free column (RRAM: a slope column; ECRAM: the read
    column; soft bounds with write noise: none), fractional or larger than ROW_COUNT_STEP ones go to
    the float64 counter; moved every update (a tiny threshold) or only when read, the counts are
    1 (programming) + Σ|n| per device, summed in float64."""
    model = MODELS[name]
    expected = {"rram (exp step, write noise)": device_rows.SLOPE_UP, "ecram (linear step)": device_rows.READ}
    monkeypatch.setattr(kernels, "ENABLED", True)
    for flush in (device_rows.ROW_COUNT_FLUSH, 1):
        monkeypatch.setattr(device_rows, "ROW_COUNT_FLUSH", flush)
        gen = torch.Generator().manual_seed(9)
        arr = PulsedArray(torch.zeros(30, 20), model, gen)
        assert arr._packed is not None and arr._packed.count_col == expected.get(name, -1)
        total = torch.ones(600, dtype=torch.float64)
        for s in range(3):
            n = torch.round(torch.randn(600, generator=gen) * 3)
            n[:3] = torch.tensor([2.5, -0.5, -float(device_rows.ROW_COUNT_STEP + 1)])
            torch.manual_seed(s)
            arr.pulse_at(torch.arange(600), n)
            total += n.double().abs()
        if arr._packed.count_col >= 0:
            pending = float(arr._packed.column(arr._packed.count_col).abs().sum())
            assert (pending > 600) == (flush > 1)  # waiting in the rows, or moved at every update
        assert torch.equal(arr.counts[0].reshape(-1), total) and torch.equal(
            arr.counts[1], torch.ones(30, 20)
        )


def test_every_kernel_cache_is_stamped_with_the_whole_package(tmp_path: Path) -> None:
    """numba stamps a kernel's cache with its own file only; the package stamp
    (:class:`~models.physics.jit.PackageCache`) adds every source of ``models/physics``, so a kernel
    that inlines a helper, an intrinsic (``jit.fma``, ``jit.prefetch``) or a constant of another
    file recompiles when that file changes, and only then."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import models.physics as physics
    from models.physics.jit import PackageCache, package_stamp, source_stamp

    cached = 0
    for info in pkgutil.iter_modules(physics.__path__):
        module = importlib.import_module(f"models.physics.{info.name}")
        for kernel in vars(module).values():
            if isinstance(kernel, CPUDispatcher) and kernel.py_func.__module__ == module.__name__:
                assert isinstance(kernel._cache, PackageCache), kernel
                assert kernel._cache._cache_file._source_stamp[1] == package_stamp()
                cached += 1
    assert cached >= 20
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    (tmp_path / "notes.txt").write_text("not a source")
    before = source_stamp(tmp_path)
    (tmp_path / "notes.txt").write_text("changed")
    assert source_stamp(tmp_path) == before
    (tmp_path / "b.py").write_text("y = 3\n")
    assert source_stamp(tmp_path) != before
    (tmp_path / "b.py").write_text("y = 2\n")
    assert source_stamp(tmp_path) == before


def _pair_counts(
    compiled: bool, flush: int, big: bool, monkeypatch: pytest.MonkeyPatch
) -> list[torch.Tensor]:
    """Three updates of a 30×20 PCM pair array (exponential SET, refreshes) with a fractional |n|
    and, if ``big``, one beyond ROW_COUNT_STEP: counts and rows after the counts are read."""
    monkeypatch.setattr(kernels, "ENABLED", compiled)
    monkeypatch.setattr(device_rows, "ROW_COUNT_FLUSH", flush)
    model = PulseModel.of(DEVICES["pcm"])
    gen = torch.Generator().manual_seed(12)
    arr = PulsedArray((torch.rand(30, 20, generator=gen) - 0.5) * model.reach, model, gen)
    pulses = torch.zeros((), dtype=torch.float64)
    for s in range(3):
        n = torch.round(torch.randn(600, generator=gen) * 4).clamp_(-20, 20)
        n[:2] = torch.tensor([2.5, -(device_rows.ROW_COUNT_STEP + 1.0) if big else -1.5])
        torch.manual_seed(s)
        arr.pulse_at(torch.arange(600), n)
        pulses += n.double().abs().sum()
    return [arr.counts.clone(), arr._rows.clone(), torch.rand(2), pulses]


def test_pair_rows_count_pending_pulses_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """PCM pairs keep whole pulse counts (and RESETs) in their rows until the counts are read, or
    move them at every update: the same counts as the torch path's float64 counter, refreshes and
    fractional |n| included; a train beyond ROW_COUNT_STEP is counted in float64 (kernel runs)."""
    ref = _pair_counts(False, device_rows.ROW_COUNT_FLUSH, False, monkeypatch)
    assert float(ref[0].sum()) > 2 * 600 + float(ref[3]) + 50  # programming, pulses, and refreshes
    for flush in (device_rows.ROW_COUNT_FLUSH, 1):
        got = _pair_counts(True, flush, False, monkeypatch)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[2], ref[2])
        assert torch.equal(got[1][:, kernels.PAIR_COUNTS :], torch.zeros(600, 4))  # moved when read
    held, moved = (_pair_counts(True, f, True, monkeypatch) for f in (device_rows.ROW_COUNT_FLUSH, 1))
    assert (
        torch.equal(held[0], moved[0]) and float(held[0][1].reshape(-1)[1]) >= device_rows.ROW_COUNT_STEP + 1
    )
