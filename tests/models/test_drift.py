"""Drift law, device-to-device ν, PCM read noise and global drift compensation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.config import AnalogConfig
from models.nn.layers import AnalogLinear
from models.physics import drift
from models.physics.devices import DEVICES, PCM_READ_TR_S, DriftLaw, ReadNoiseModel

YEAR = 365 * 86400.0


@pytest.mark.parametrize("t", [1.0, 3600.0, 86400.0, YEAR])
def test_mean_drift_factor_matches_power_law(t: float) -> None:
    dev = dataclasses.replace(
        DEVICES["rram"], drift_law=DriftLaw.POWER, drift_nu_mean=0.06, drift_nu_std=0.01
    )
    n = 100000
    nu = drift.drift_exponents(
        torch.full((n,), 10.0, dtype=torch.float64), dev, torch.Generator().manual_seed(0)
    )
    factor = drift.drift_factor(t, nu, dev.drift_t0_s)
    s = math.log((t + dev.drift_t0_s) / dev.drift_t0_s)
    # E[s^-ν] for ν ~ N(μ, σ²) is exp(-μ ln s + σ² ln² s / 2); without spread it is ((t+t0)/t0)^-ν.
    expected = math.exp(-0.06 * s + 0.5 * (0.01 * s) ** 2)
    assert abs(float(factor.mean()) - expected) < 4 * float(factor.std()) / math.sqrt(n)
    exact = drift.drift_factor(t, torch.tensor(0.06, dtype=torch.float64), dev.drift_t0_s)
    assert float(exact) == pytest.approx(((t + dev.drift_t0_s) / dev.drift_t0_s) ** -0.06, rel=1e-12)


@pytest.mark.parametrize("x", [1.0, 0.5, 0.1])
def test_pcm_nu_statistics_depend_on_conductance(x: float) -> None:
    dev, n = DEVICES["pcm"], 100000
    g = torch.full((n,), x * dev.g_max_us, dtype=torch.float64)
    mu = min(max(-0.0155 * math.log(x) + 0.0244, 0.049), 0.1)  # [A, J20]
    sigma = min(max(-0.0125 * math.log(x) - 0.0059, 0.008), 0.045)
    m, s = drift.pcm_nu_stats(g[:1], dev.g_max_us)
    assert float(m) == pytest.approx(mu) and float(s) == pytest.approx(sigma)
    nu = drift.drift_exponents(g, dev, torch.Generator().manual_seed(1))
    assert torch.all(nu >= 0)
    if mu > 4 * sigma:  # folding |·| is negligible
        assert abs(float(nu.mean()) - mu) < 4 * sigma / math.sqrt(n)
        assert float(nu.std()) == pytest.approx(sigma, rel=4 / math.sqrt(2 * n))


def test_pcm_read_noise_grows_with_log_time() -> None:
    dev, n, x = DEVICES["pcm"], 50000, 0.5
    g0 = torch.full((n,), x * dev.g_max_us, dtype=torch.float64)
    nu = torch.zeros(n, dtype=torch.float64)
    q = min(0.0088 / x**0.65, 0.2)  # [A]
    stds = []
    for t in (1.0, 3600.0, YEAR):
        g = drift.read_at(g0, nu, t, dev, torch.Generator().manual_seed(2), drift=False)
        rel = (g - g0) / g0
        expected = q * math.sqrt(math.log((t + dev.drift_t0_s + PCM_READ_TR_S) / (2 * PCM_READ_TR_S)))
        assert float(rel.std()) == pytest.approx(expected, rel=4 / math.sqrt(2 * n))
        stds.append(float(rel.std()))
    assert stds[0] < stds[1] < stds[2]
    assert torch.equal(drift.read_at(g0, nu, 0.0, dev, torch.Generator()), g0)  # t = 0: just programmed


def test_read_at_applies_drift_and_clips() -> None:
    dev = dataclasses.replace(DEVICES["pcm"], read_noise_model=ReadNoiseModel.NONE)
    g0, nu = torch.tensor([10.0, 0.0]), torch.tensor([0.1, 0.1])
    g = drift.read_at(g0, nu, 3600.0, dev, torch.Generator())
    assert float(g[0]) == pytest.approx(10.0 * ((3600 + 20) / 20) ** -0.1, rel=1e-6)
    assert torch.equal(drift.read_at(g0, nu, 3600.0, dev, torch.Generator(), drift=False), g0)
    assert drift.additive_read_std_us(DEVICES["rram"]) == pytest.approx(0.01 * 40.0)
    assert drift.additive_read_std_us(DEVICES["pcm"]) == 0.0


@pytest.mark.parametrize("t", [86400.0, YEAR])
def test_gdc_restores_mean_output_scale_of_drifted_tile(t: float) -> None:
    cfg = AnalogConfig(
        device="pcm", tile_rows=128, tile_cols=64, adc_bits=None, dac_bits=None, read_noise_scale=0.0
    )
    torch.manual_seed(0)
    layer = AnalogLinear(128, 64, cfg, bias=False).eval()
    x = torch.rand(512, 128)
    layer.program(torch.Generator().manual_seed(0))
    y0 = layer(x).abs().mean()
    layer.set_read_time(t, torch.Generator().manual_seed(1))
    layer.gdc = False
    y_drift = layer(x).abs().mean()
    layer.gdc = True
    y_gdc = layer(x).abs().mean()
    assert float(y_drift / y0) < 0.8  # the drift is real ...
    assert float(y_gdc / y0) == pytest.approx(1.0, abs=0.02)  # ... and GDC undoes its mean scale
