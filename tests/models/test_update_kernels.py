"""The compiled CPU kernels of the pulsed updates (models/physics/kernels.py) against the torch path.

Both paths run on the same device state, pulses and global random stream: the kernels must read
the same noise values and leave the same state, bit for bit where the chain is +, −, ×, ÷, fma
and clamps, within a stated bound where it takes an exponential (LLVM's ``exp`` against torch's
vectorized one), with equal write counts and the global stream consumed alike.
"""

from __future__ import annotations

import dataclasses
import re

import numba
import numpy as np
import pytest
import torch

from models.physics import jit, kernels
from models.physics.devices import DEVICES, UpdateRule
from models.physics.pulses import PulsedArray, PulseModel

pytestmark = pytest.mark.skipif(
    not kernels.TORCH_FUSES,
    reason="this torch build rounds its CPU multiply-adds twice: the kernels stay off (jit.torch_fuses)",
)


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here starts with the kernels on, whatever ``DSE_TORCH_UPDATES`` says (the tests that
    compare the paths switch it themselves)."""
    monkeypatch.setattr(kernels, "ENABLED", True)


def test_this_build_fuses_and_the_probe_tells_a_twice_rounded_add_apart() -> None:
    """The probe's reference: a multiply then an add (two roundings) differs from it on this data."""
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.rand(4096, generator=g) * 2 - 1 for _ in range(3))
    once = (c.double() + a.double() * b.double()).float()
    assert jit.torch_fuses() and torch.equal(torch.addcmul(c, a, b), once)
    assert int((c + a * b != once).sum()) > 400


def _model(name: str, **kw: object) -> PulseModel:
    return dataclasses.replace(PulseModel.of(DEVICES[name]), **kw)  # type: ignore[arg-type]


def _run(model: PulseModel, compiled: bool, dtype: torch.dtype, steps: int = 5) -> list[torch.Tensor]:
    """``steps`` updates of a 60×50 array (60 % of the weights without pulses, the others up to
    ±9, some updates by ``pulse_at`` with zero entries), then the state, counts and returns."""
    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        gen = torch.Generator().manual_seed(5)
        shape = (60, 50)
        arr = PulsedArray((torch.rand(shape, generator=gen, dtype=dtype) - 0.5) * model.reach, model, gen)
        out = []
        for s in range(steps):
            g = torch.Generator().manual_seed(100 + s)
            n = torch.round(torch.randn(shape, generator=g, dtype=dtype) * 3).clamp_(-9, 9)
            n[torch.rand(shape, generator=g) < 0.6] = 0
            torch.manual_seed(7 + s)  # the table windows' offsets come from the global stream
            if s % 2:
                idx = torch.arange(0, n.numel(), 3)
                out.append(arr.pulse_at(idx, n.view(-1)[idx].contiguous()).clone())
            else:
                arr.pulse(n)
        state = [arr.value().clone(), arr.counts.clone(), torch.rand(4)]
        state.append(arr._rows.clone() if model.one_directional else arr.w.clone())
        return state + out
    finally:
        kernels.ENABLED = saved


EXACT = {
    "ecram (linear step, mult. noise)": _model("ecram"),
    "ecram, additive noise and write noise": _model("ecram", mult_noise=False, write_noise=2.0),
    "soft bounds": _model("rram", rule=UpdateRule.SOFT_BOUNDS),
    "linear step, both directions": _model(
        "rram", rule=UpdateRule.LINEAR_STEP, gamma_up=0.3, gamma_down=0.2, gamma_d2d=0.1
    ),
    "constant, complex noise": _model("rram", rule=UpdateRule.CONSTANT, c2c_add=0.1),
    "pcm pair, constant step": _model("pcm", rule=UpdateRule.CONSTANT),
    "pcm pair, linear step": _model("pcm", rule=UpdateRule.LINEAR_STEP, gamma_up=0.5, gamma_d2d=0.1),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(EXACT))
def test_kernels_equal_the_torch_path_bit_for_bit_without_exponentials(name: str, dtype: torch.dtype) -> None:
    model = EXACT[name]
    assert model.state_dependent
    ref, got = _run(model, False, dtype), _run(model, True, dtype)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    if model.one_directional:  # the pairs were refreshed: RESETs and SETs beyond the pulses
        assert float(ref[1].sum()) > 2 * 60 * 50 + 10


def _ulps(a: torch.Tensor, b: torch.Tensor) -> int:
    ints = torch.int32 if a.dtype == torch.float32 else torch.int64
    return int((a.view(ints).long() - b.view(ints).long()).abs().max())


EXP_ULP_BOUND = 1
"""LLVM's (glibc's) expf/exp against torch's (Sleef's vectorized ones), measured: at most 1 ULP."""
EXP_TRAIN_BOUND = 2.0
"""|Δω| after the updates, in units of the dtype's machine ε times the device's reach (a ULP of
ω near the top of its range): measured ≤ 0.5 after 5 and after 20 updates of up to 9 pulses,
float32 and float64, rram and pcm (1.2·10⁻⁷ of ω in float32, 10⁻⁵ of a pulse's step)."""


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_llvm_exp_is_within_one_ulp_of_torch(dtype: torch.dtype) -> None:
    z = torch.linspace(-12.0, 12.0, 200_001, dtype=dtype)
    mine = torch.from_numpy(jit.exp_values(z.numpy()))
    assert _ulps(mine, torch.exp(z)) <= EXP_ULP_BOUND


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["rram", "pcm"])
def test_exponential_rules_match_within_the_bound_with_equal_counts(name: str, dtype: torch.dtype) -> None:
    model = _model(name)
    assert model.rule is UpdateRule.EXP_STEP
    ref, got = _run(model, False, dtype), _run(model, True, dtype)
    assert torch.equal(ref[1], got[1])  # write counts, refreshes included
    assert torch.equal(ref[2], got[2])  # the global stream consumed alike
    bound = EXP_TRAIN_BOUND * torch.finfo(dtype).eps * model.reach
    for a, b in zip([ref[0], *ref[3:]], [got[0], *got[3:]], strict=True):
        assert float((a - b).abs().max()) <= bound


def test_kernels_compile_without_fast_math_or_contracted_multiply_adds() -> None:
    _run(EXACT["linear step, both directions"], True, torch.float32, steps=1)
    _run(_model("pcm"), True, torch.float32, steps=1)
    for kernel in (kernels.pulse_devices, kernels.pulse_pairs):
        fresh = numba.njit(error_model="numpy")(kernel.py_func)  # the cached one keeps no IR
        for sig in kernel.signatures:
            fresh.compile(sig)
            ir = fresh.inspect_llvm(sig)
            assert "fmul" in ir and "@llvm.exp" in ir  # the chain is in this IR
            assert not re.search(r"\bf(add|sub|mul|div) (fast|contract|reassoc|afn|nnan|ninf|arcp)", ir)
            assert "@llvm.fmuladd" not in ir  # only the explicit llvm.fma of addcmul's 1 + γ·ω


def test_other_torch_devices_and_the_switch_take_the_torch_path() -> None:
    meta = torch.empty(3, device="meta")
    assert not kernels.usable(meta)
    cpu = torch.zeros(3)
    saved = kernels.ENABLED
    try:
        kernels.ENABLED = False
        assert not kernels.usable(cpu)
        kernels.ENABLED = True
        assert kernels.usable(cpu) and not kernels.usable(cpu.half())
    finally:
        kernels.ENABLED = saved
    assert not kernels.fits(np.iinfo(np.int32).max)


def _qnn_run(compiled: bool, dtype: torch.dtype, ternary: bool) -> list[torch.Tensor]:
    """Four qnn steps of a 3-layer MLP on STT-MRAM with large gradients (many switches)."""
    from models.config import AnalogConfig, NetworkConfig, QnnWeights, TrainConfig, TrainMode
    from models.nn.networks import analog_layers, build_network
    from models.training.qnn import Qnn

    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(40, 30), in_features=50, in_shape=(50,))
        layers = analog_layers(build_network(net, AnalogConfig(device="stt_mram")).to(dtype))
        weights = QnnWeights.TERNARY if ternary else QnnWeights.BINARY
        cfg = TrainConfig(mode=TrainMode.QNN, lr=0.05, momentum=0.5, qnn_weights=weights)
        updater = Qnn(layers, cfg, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        for _ in range(4):
            for j, layer in enumerate(layers):
                updater.step(j, torch.randn(layer.weight.shape, generator=g, dtype=dtype) * 3)
        signs = [m for pair in updater._signs for m in pair]
        return [*updater.states, *(x.weight.data for x in layers), *updater.counts, *updater.attempts, *signs]
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize(
    ("dtype", "ternary"),
    [(torch.float32, True), (torch.float32, False), (torch.float64, True), (torch.float64, False)],
)
def test_qnn_kernel_equals_the_torch_step_bit_for_bit(dtype: torch.dtype, ternary: bool) -> None:
    ref, got = _qnn_run(False, dtype, ternary), _qnn_run(True, dtype, ternary)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    switches, initial = float(ref[6].sum()), 2 * 40 * 50
    assert switches > initial + 100  # the steps switched MTJs (the compare is not of idle states)


def _pulsed_run(compiled: bool, dtype: torch.dtype, device: str, mode: str, bits: int) -> list[torch.Tensor]:
    """Five steps of a 3-layer MLP by ``mixed_precision`` (χ transfers every step) or
    ``onchip_sgd`` (digital momentum): χ, counts, the global stream, device state, weights/α."""
    from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
    from models.nn.networks import analog_layers, build_network
    from models.training.onchip import MixedPrecision, PulsedSGD

    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(40, 30), in_features=50, in_shape=(50,))
        layers = analog_layers(build_network(net, AnalogConfig(device=device)).to(dtype))
        make = MixedPrecision if mode == "mixed_precision" else PulsedSGD
        cfg = TrainConfig(mode=TrainMode(mode), lr=0.05, momentum=0.5, update_bits=bits)
        updater = make(layers, cfg, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        for s in range(5):
            for j, layer in enumerate(layers):
                torch.manual_seed(50 + 3 * s + j)
                updater.step(j, torch.randn(layer.weight.shape, generator=g, dtype=dtype) * 0.3)
        chi = updater.chi if isinstance(updater, MixedPrecision) else [torch.zeros(1)] * 3
        return [
            *chi,
            *(a.counts for a in updater.arrays),
            torch.rand(3),
            *(a.value() for a in updater.arrays),
            *(x.weight.data / alpha for x, alpha in zip(layers, updater.alphas, strict=True)),
        ]
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize(
    ("mode", "bits"),
    [("mixed_precision", 8), ("mixed_precision", 4), ("mixed_precision", 32), ("onchip_sgd", 32)],
)  # mixed_precision at 32 bits: a float χ register (no rounding)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mixed_precision_and_sgd_kernels_equal_the_torch_step(
    dtype: torch.dtype, mode: str, bits: int
) -> None:
    """χ (mixed precision) bit for bit on both devices; the whole state bit for bit with ECRAM's
    linear rule, and within :data:`EXP_TRAIN_BOUND` with PCM's (mixed precision) or RRAM's
    (onchip_sgd, write noise on) exponential rule (the weights α·ω in units of α, one rounding
    more), equal counts."""
    ref, got = _pulsed_run(False, dtype, "ecram", mode, bits), _pulsed_run(True, dtype, "ecram", mode, bits)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert float(ref[3].sum()) > 2 * 40 * 50 + 100  # pulses were transferred
    device = "pcm" if mode == "mixed_precision" else "rram"
    ref, got = _pulsed_run(False, dtype, device, mode, bits), _pulsed_run(True, dtype, device, mode, bits)
    for a, b in zip(ref[:7], got[:7], strict=True):  # χ, counts, the global stream
        assert torch.equal(a, b)
    bound = EXP_TRAIN_BOUND * torch.finfo(dtype).eps * PulseModel.of(DEVICES[device]).reach
    for a, b in zip(ref[7:], got[7:], strict=True):
        assert float((a - b).abs().max()) <= 2 * bound


def _hic_run(compiled: bool, bits: int, device: str) -> list[torch.Tensor]:
    """Five hic steps of a 3-layer MLP (carries every step): accumulators, digits, counts, weights."""
    from models.config import AnalogConfig, NetworkConfig, TrainConfig, TrainMode
    from models.nn.networks import analog_layers, build_network
    from models.training.hic import Hic

    saved = kernels.ENABLED
    kernels.ENABLED = compiled
    try:
        torch.manual_seed(0)
        net = NetworkConfig(hidden=(40, 30), in_features=50, in_shape=(50,))
        sliced = AnalogConfig(device=device, binary_devices=2, slice_levels=16)
        layers = analog_layers(build_network(net, sliced))
        cfg = TrainConfig(mode=TrainMode.HIC, lr=0.05, momentum=0.5, update_bits=bits)
        updater = Hic(layers, cfg, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        for s in range(5):
            for j, layer in enumerate(layers):
                torch.manual_seed(50 + 3 * s + j)
                updater.step(j, torch.randn(layer.weight.shape, generator=g) * 0.5)
        arrays = updater.arrays
        return [
            *(a.acc for a in arrays),
            *(a.digits for a in arrays),
            *(a.counts for a in arrays),
            *(a.value for a in arrays),
            *(x.weight.data for x in layers),
        ]
    finally:
        kernels.ENABLED = saved


@pytest.mark.parametrize("device", ["pcm", "rram"])
@pytest.mark.parametrize("bits", [4, 8, 32])  # 32: a float accumulator (no rounding)
def test_hic_accumulator_kernel_equals_the_torch_step_bit_for_bit(bits: int, device: str) -> None:
    ref, got = _hic_run(False, bits, device), _hic_run(True, bits, device)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert float(ref[6].sum()) > ref[6].numel() + 100  # carries wrote devices


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit, NaN where NaN (torch.equal is False for NaN)."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def test_rounding_and_transfer_passes_treat_nan_and_infinities_as_torch_does() -> None:
    """The branch-free passes keep every entry the torch path keeps: n ≠ 0 or NaN (onchip_sgd),
    |χ| ≥ reach or NaN (mixed precision, hic), with the same values, infinities clipped."""
    from models.physics import chi_kernel
    from models.physics.pulses import chi_transfer
    from models.training.onchip import _sparse_pulses

    gen = torch.Generator().manual_seed(0)
    v = torch.randn(5000, generator=gen) * 3
    v[[3, 70, 900]] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    u = torch.rand(5000, generator=gen)
    idx, n, sizes = chi_kernel.pulses(v, u, 0.7, 31)  # type: ignore[misc]
    ref_idx, ref_n = _sparse_pulses(torch.add(u, v, alpha=0.7).floor_())
    assert torch.equal(idx, ref_idx) and _same(n, ref_n)
    assert {3, 70, 900} <= set(idx.tolist())
    assert sizes is not None  # the sizes themselves: test_device_rows.py
    chi = torch.randn(5000, generator=gen) * 0.01
    ref_chi = chi.clone()
    lsb, saturation, eps = 0.01 / 16, 0.01 * 127 / 16, 0.01
    reach = min(saturation, eps) * (1 - 1e-5)
    found = chi_kernel.step(v, u, chi, 0.3 / lsb, lsb, reach, saturation, eps)
    assert found is not None
    ref_chi.add_(torch.add(u, v, alpha=0.3 / lsb).floor_(), alpha=lsb)
    hit = torch.from_numpy(np.flatnonzero(~((ref_chi.numpy() < reach) & (ref_chi.numpy() > -reach))))
    c = ref_chi[hit].clamp_(-saturation, saturation)
    ref_n, rest = chi_transfer(c, eps)
    ref_chi[hit] = rest
    assert torch.equal(found[0], hit) and _same(found[1], ref_n)
    assert torch.equal(chi.isnan(), ref_chi.isnan()) and torch.equal(chi.nan_to_num(), ref_chi.nan_to_num())
    assert found[2] is not None


def test_a_kernel_that_cannot_be_cached_compiles_with_a_warning() -> None:
    """No writable cache location (a read-only install without a writable home; here a function
    without a source file, which numba refuses to cache alike): the kernel still compiles, warns."""
    from models.physics.jit import jit

    namespace: dict[str, object] = {}
    exec("def twice(x):\n    return x * 2.0\n", namespace)
    with pytest.warns(RuntimeWarning, match="twice compiles at each start"):
        twice = jit()(namespace["twice"])
    assert twice(3.0) == 6.0


@pytest.mark.parametrize("name", ["ecram", "pcm"])
def test_pulse_trains_with_nan_pulses_match_the_torch_path(name: str) -> None:
    """A diverged update (NaN pulses) reaches the kernels as it reaches the torch loop: sign 0,
    no later pulses, NaN counts; the rest of the train unchanged (ECRAM: no exponential)."""
    model = _model(name)
    states = []
    for compiled in (False, True):
        saved = kernels.ENABLED
        kernels.ENABLED = compiled
        try:
            gen = torch.Generator().manual_seed(5)
            arr = PulsedArray((torch.rand(20, 10, generator=gen) - 0.5) * model.reach, model, gen)
            n = torch.round(torch.randn(200, generator=gen) * 3)
            n[[4, 50]] = float("nan")
            torch.manual_seed(3)
            out = arr.pulse_at(torch.arange(200), n)
            states.append([out, arr.value().clone(), arr.counts.clone(), torch.rand(2)])
        finally:
            kernels.ENABLED = saved
    assert bool(states[0][2].isnan().any())
    for a, b in zip(*states, strict=True):
        if name == "ecram":
            assert _same(a, b)
        else:
            assert torch.equal(a.isnan(), b.isnan())
            assert float((a.nan_to_num() - b.nan_to_num()).abs().max()) <= 2 * 1.2e-7 * model.reach
