"""Mixed precision's χ register [N20] on both update paths (the torch calls and the compiled CPU pass):
its LSB grid, no pulse below ε, one pulse at exactly ε, a lone transfer, saturation, and the widths that
cannot hold one device step. Noise-free devices, so the applied pulses are read back from the weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

from models.config import AnalogConfig, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.physics import kernels
from models.physics.devices import DEVICES
from models.physics.pulses import chi_grid
from models.training.onchip import MixedPrecision
from tests.models.test_onchip_mutants import EPS, _grad_for, _layer, _mixed, _pulses

pytestmark = pytest.mark.usefixtures("ideal_devices")


@pytest.fixture(params=["torch", "kernels"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The χ tests run on both update paths: the torch calls and the compiled CPU pass
    (``chi_kernel``), whichever ``DSE_TORCH_UPDATES`` selects by default."""
    if request.param == "kernels" and not kernels.TORCH_FUSES:
        pytest.skip("this torch build rounds its multiply-adds twice: the kernels stay off")
    monkeypatch.setattr(kernels, "ENABLED", request.param == "kernels")
    return str(request.param)


def test_the_chi_register_rounds_onto_its_lsb_without_pulsing_below_eps(path: str) -> None:
    """4 bits: LSB = ε/4; an update of |Δ| < ε/2 lands on a neighbouring multiple of the LSB."""
    layer = _layer(8, 8)
    upd = MixedPrecision([layer], _mixed(4), torch.Generator().manual_seed(0))
    want = (torch.rand(8, 8, generator=torch.Generator().manual_seed(5)) - 0.5) * EPS * 0.9  # |Δ| < ε/2
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want / EPS, upd.alphas[0]))
    lsb = EPS / 4
    k = upd.chi[0] / lsb
    assert torch.allclose(k, k.round(), atol=1e-4)
    assert bool(((upd.chi[0] - want).abs() < lsb * (1 + 1e-4)).all())
    assert torch.equal(layer.weight.detach(), w0)


@pytest.fixture
def write_noise() -> Iterator[str]:
    """``ideal_bi`` with write noise σ = ε: a device's read is redrawn whenever it is written."""
    DEVICES["noisy_write_bi"] = dataclasses.replace(
        DEVICES["ideal_bi"], name="noisy_write_bi", write_noise=1.0
    )
    try:
        yield "noisy_write_bi"
    finally:
        del DEVICES["noisy_write_bi"]


def test_a_chi_below_eps_writes_no_device(write_noise: str, path: str) -> None:
    """|χ| ≤ ε/2 on every weight: no device is written, so not one read is redrawn."""
    torch.manual_seed(0)
    layer = AnalogLinear(8, 8, AnalogConfig(device=write_noise))
    upd = MixedPrecision([layer], _mixed(4), torch.Generator().manual_seed(0))
    w0, counts0 = layer.weight.detach().clone(), upd.counters()[0][1].clone()
    want = (torch.rand(8, 8, generator=torch.Generator().manual_seed(5)) - 0.5) * 0.8  # |Δ| < 0.4ε
    upd.step(0, _grad_for(want, upd.alphas[0]))
    assert float(upd.chi[0].abs().max()) <= 0.5 * EPS * (1 + 1e-5) and bool(upd.chi[0].any())
    assert torch.equal(layer.weight.detach(), w0) and torch.equal(upd.counters()[0][1], counts0)


def test_a_chi_of_exactly_eps_becomes_one_pulse(path: str) -> None:
    """Δ = 4 LSB = ε on every weight: each χ reaches ε exactly and transfers one pulse, leaving 0."""
    layer = _layer(4, 4)
    upd = MixedPrecision([layer], _mixed(4), torch.Generator().manual_seed(0))
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(torch.ones(4, 4), upd.alphas[0]))
    assert torch.equal(_pulses(layer, w0, upd.alphas[0]), torch.ones(4, 4))
    assert torch.equal(upd.chi[0], torch.zeros(4, 4))


def test_a_single_weight_past_eps_transfers(path: str) -> None:
    """A float χ (no grid): only one weight reaches 2.5ε, and gets 2 pulses; its χ keeps ½ε."""
    layer = _layer(4, 4)
    upd = MixedPrecision([layer], _mixed(32), torch.Generator().manual_seed(0))
    want = torch.zeros(4, 4)
    want[1, 2] = 2.5
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want, upd.alphas[0]))
    assert torch.equal(_pulses(layer, w0, upd.alphas[0]), want.floor())
    assert float(upd.chi[0][1, 2]) == pytest.approx(0.5 * EPS, rel=1e-4)
    assert int(torch.count_nonzero(upd.chi[0])) == 1


def test_the_chi_register_saturates_at_seven_lsb_both_ways(path: str) -> None:
    """4 bits saturate at 7 LSB = 1.75ε: an update of ±10ε becomes one pulse and χ = ±0.75ε."""
    layer = _layer(4, 4)
    upd = MixedPrecision([layer], _mixed(4), torch.Generator().manual_seed(0))
    want = torch.zeros(4, 4)
    want[0, 0], want[3, 1] = 10.0, -10.0
    w0 = layer.weight.detach().clone()
    upd.step(0, _grad_for(want, upd.alphas[0]))
    p = _pulses(layer, w0, upd.alphas[0])
    assert float(p[0, 0]) == 1.0 and float(p[3, 1]) == -1.0 and int(torch.count_nonzero(p)) == 2
    assert float(upd.chi[0][0, 0]) == pytest.approx(0.75 * EPS, rel=1e-5)
    assert float(upd.chi[0][3, 1]) == pytest.approx(-0.75 * EPS, rel=1e-5)


def test_mixed_precision_refuses_a_chi_register_that_cannot_hold_one_device_step() -> None:
    """update_bits b is accepted for mixed_precision exactly when χ's saturation reaches ε (a transfer is
    possible); at 1 and 2 bits no device would ever be written, so the row would claim training that did
    not happen (found by a mutant of the χ tests)."""
    eps = DEVICES["pcm"].dw_min
    for bits in range(1, 17):
        reaches = chi_grid(bits, eps)[1] >= eps
        if reaches:
            TrainConfig(mode=TrainMode.MIXED_PRECISION, update_bits=bits)
        else:
            with pytest.raises(ValueError, match=r"update_bits must be ≥ 3 for mode 'mixed_precision'"):
                TrainConfig(mode=TrainMode.MIXED_PRECISION, update_bits=bits)
        assert reaches == (bits >= 3)
    TrainConfig(mode=TrainMode.ONCHIP_SGD, update_bits=1)  # the update resolution of other modes is not χ


def test_mixed_precision_with_a_float_register_trains() -> None:
    assert TrainConfig(mode=TrainMode.MIXED_PRECISION, update_bits=32).update_precision is None
