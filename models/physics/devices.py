"""Device technologies as named, frozen presets.

A device is an axis of the design space, not a class: each preset is one
:class:`DeviceSpec` instance in :data:`DEVICES`. Every number carries its source key
from ``docs/references.md`` ([A] aihwkit, [C] CrossSim, [M] MLP+NeuroSim, [N] NVMExplorer
survey, [X] NVMExplorer/Accelergy cells, [NS] NeuroSim, [MN] MNSIM, [J20] Joshi 2020,
[N20] Nandakumar 2020, [G21] Greenberg-Toledo 2021). Values marked (est.) are our
estimates from V·I·t, not quoted figures. To add a technology, add one preset here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DriftLaw(StrEnum):
    """How conductance relaxes after programming."""

    NONE = "none"
    POWER = "power"
    """g(t) = g0·((t+t0)/t0)^(−ν), ν drawn per device [A, J20]."""
    PCM = "pcm"
    """Power law with conductance-dependent ν statistics of aihwkit's PCM model [A]."""


class UpdateRule(StrEnum):
    """How one update pulse changes a device's normalized weight ω (aihwkit's pulsed devices [A]).

    Every rule moves ω by ``d·s^d·f^d(ω)`` per pulse of direction d = ±1, with the per-device step
    s^d (:func:`models.physics.update_rules.device_steps`), then clips ω at the device's bounds.
    """

    CONSTANT = "constant"
    """ConstantStepDevice: f = 1."""
    SOFT_BOUNDS = "soft_bounds"
    """SoftBoundsDevice: f⁺ = 1 − ω/b_max, f⁻ = 1 − ω/b_min (per-device bounds): the step
    vanishes at each bound."""
    LINEAR_STEP = "linear_step"
    """LinearStepDevice: f^d = 1 + γ^d·ω with γ⁺ = −|γ_up + σ_γ·ξ|/w_max,
    γ⁻ = −|γ_down + σ_γ·ξ|/w_min (mean bounds, ``mean_bound_reference``)."""
    EXP_STEP = "exp_step"
    """ExpStepDevice: f⁺ = max(1 − A_up·e^{γ_up·z}, 0), f⁻ = max(1 − A_down·e^{−γ_down·z}, 0),
    z = 2a·ω/(b_max − b_min) + b (per-device bounds)."""


class ProgNoiseModel(StrEnum):
    """How programming error depends on the target conductance."""

    NONE = "none"
    RELATIVE = "relative"
    """σ = prog_noise · g_max, independent of the target [M]."""
    PCM_POLY = "pcm_poly"
    """σ(µS) = c0 + c1·x + c2·x², x = g/g_max, the fit of aihwkit's PCMLikeNoiseModel [A]."""


class ReadNoiseModel(StrEnum):
    """How read (instantaneous) noise behaves."""

    NONE = "none"
    ADDITIVE = "additive"
    """σ = read_noise · g_max per read [A]."""
    PCM_1F = "pcm_1f"
    """1/f: σ/g = min(0.0088/x^0.65, 0.2)·√ln((t+t_r)/(2 t_r)) [A]."""


@dataclass(frozen=True)
class DeviceSpec:
    """One memory technology's parameters, as the simulator and the cost model need them.

    Conductances are in µS. Energies in pJ, latencies in ns. ``endurance_cycles`` is
    the number of programming (write/erase) cycles a device tolerates.
    """

    name: str
    """Registry key, e.g. ``"pcm"``."""
    description: str
    """One line for ``dse devices``."""
    levels: int
    """Distinct programmable conductance levels per cell (2 for a binary cell)."""
    g_min_us: float
    """Lowest programmable conductance, µS."""
    g_max_us: float
    """Highest programmable conductance, µS."""
    prog_noise_model: ProgNoiseModel
    """Shape of programming noise."""
    prog_noise: float
    """RELATIVE: σ as a fraction of g_max. PCM_POLY: unused (coefficients below)."""
    read_noise_model: ReadNoiseModel
    """Shape of read noise."""
    read_noise: float
    """ADDITIVE: σ per read as a fraction of g_max."""
    drift_law: DriftLaw
    """Drift law."""
    drift_nu_mean: float
    """POWER: mean drift exponent ν."""
    drift_nu_std: float
    """POWER: device-to-device std of ν."""
    drift_t0_s: float
    """Time after programming at which drift is referenced (t0), s."""
    write_energy_pj: float
    """Energy of one programming pulse, pJ."""
    write_latency_ns: float
    """Duration of one programming pulse, ns."""
    endurance_cycles: float
    """Write/erase cycles before wear-out; ``inf`` for SRAM."""
    dw_min: float
    """Pulsed update: nominal step as a fraction of the weight range [A]."""
    up_down_asymmetry: float
    """Pulsed update: aihwkit's ``up_down`` β [A]: a positive β shrinks the down step to
    ε(1 − β), a negative one the up step to ε(1 + β)."""
    step_c2c: float
    """Pulsed update: cycle-to-cycle step noise, as a fraction of the step [A]."""
    step_d2d: float
    """Pulsed update: device-to-device spread of dw_min, relative [A]."""
    cell_area_f2: float
    """Cell area in F² (feature size squared) for the area model [X, NS]."""
    w_bound_min: float = -1.0
    """Pulsed update: lower bound of the normalized device weight [A]."""
    w_bound_max: float = 1.0
    """Pulsed update: upper bound of the normalized device weight [A]."""
    bound_d2d: float = 0.0
    """Pulsed update: device-to-device spread of the bounds, relative [A]."""
    update_rule: UpdateRule = UpdateRule.CONSTANT
    """Pulsed update: how the step depends on the device's state [A]."""
    one_directional: bool = False
    """Pulsed update: the device only steps up (PCM SET); used as a refreshed pair [A, N20]."""
    up_down_d2d: float = 0.0
    """Pulsed update: device-to-device spread of the up/down bias, in units of dw_min [A]."""
    gamma_up: float = 0.0
    """LINEAR_STEP γ_up, or EXP_STEP γ_up [A]."""
    gamma_down: float = 0.0
    """LINEAR_STEP γ_down, or EXP_STEP γ_down [A]."""
    gamma_d2d: float = 0.0
    """LINEAR_STEP: device-to-device spread of γ_up and γ_down (absolute) [A]."""
    exp_a: float = 0.0
    """EXP_STEP slope a of z [A]."""
    exp_b: float = 0.0
    """EXP_STEP offset b of z [A]."""
    exp_amp_up: float = 0.0
    """EXP_STEP A_up [A]."""
    exp_amp_down: float = 0.0
    """EXP_STEP A_down [A]."""
    mult_noise: bool = True
    """Pulsed update: c2c noise multiplies the step, s·f·(1 + c2c·ξ); else s·(f + c2c·ξ) [A]."""
    step_c2c_add: float = 0.0
    """EXP_STEP complex c2c noise: σ = c2c·(|Δω| + add + slope·|ω|) when add or slope > 0 [A]."""
    step_c2c_slope: float = 0.0
    """EXP_STEP complex c2c noise: see ``step_c2c_add`` [A]."""
    write_noise: float = 0.0
    """Pulsed update: write noise of a touched device, σ = write_noise·dw_min on the weight
    the array reads, redrawn at each write; the update acts on the hidden persistent ω [A]."""
    analog: bool = True
    """False for the digital SRAM baseline: exact arithmetic, no conversion noise."""

    @property
    def bits_per_cell(self) -> float:
        """Information stored per cell, log2(levels)."""
        import math

        return math.log2(self.levels)

    @property
    def on_off_ratio(self) -> float:
        """g_max / g_min."""
        return self.g_max_us / self.g_min_us if self.g_min_us > 0 else float("inf")


# PCM programming-noise polynomial (µS) over x = g/g_max, from aihwkit PCMLikeNoiseModel [A].
PCM_PROG_POLY_US: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
# PCM 1/f read-noise constants [A]: σ/g = min(Q/x^0.65, 0.2)·√ln((t+t_r)/(2t_r)).
PCM_READ_Q: float = 0.0088
PCM_READ_EXP: float = 0.65
PCM_READ_MAX: float = 0.2
PCM_READ_TR_S: float = 250e-9
PCM_READ_T_INFER_S: float = 1.0  # duration of inference reads, as aihwkit's t_inference default [A]
# PCM drift-exponent statistics over x = g/g_max [A, J20]:
# μ = clip(a_μ·ln x + b_μ, lo_μ, hi_μ), σ = clip(a_σ·ln x + b_σ, lo_σ, hi_σ), ν = |μ + σ·z|.
PCM_NU_MEAN: tuple[float, float, float, float] = (-0.0155, 0.0244, 0.049, 0.1)
PCM_NU_STD: tuple[float, float, float, float] = (-0.0125, -0.0059, 0.008, 0.045)
PCM_X_MIN: float = 1e-7  # clip of x before ln x, as aihwkit's _ZERO_CLIP [A]

DEVICES: dict[str, DeviceSpec] = {
    "pcm": DeviceSpec(
        name="pcm",
        description="Phase-change memory, analog multi-level, drifting (IBM-style)",
        levels=100,  # ~100–200 usable analog states [A, M]
        g_min_us=0.25,  # 0.25–25 µS, on/off 100 [A, C]
        g_max_us=25.0,  # g_max 25 µS [A]
        prog_noise_model=ProgNoiseModel.PCM_POLY,  # 0.26348 + 1.9650x − 1.1731x² µS [A]
        prog_noise=0.0,
        read_noise_model=ReadNoiseModel.PCM_1F,  # 1/f accumulated read noise [A]
        read_noise=0.0,
        drift_law=DriftLaw.PCM,  # ν ~ N(μ(x), σ(x)), clipped fits [A, J20]
        drift_nu_mean=0.0,
        drift_nu_std=0.0,
        drift_t0_s=20.0,  # t0 = 20 s [A]
        write_energy_pj=17.5,  # ~12–23 pJ per pulse (est.) [X, N]
        write_latency_ns=100.0,  # SET ~100 ns [N]
        endurance_cycles=1e8,  # 1e5–2e11, median 1e8 [N]
        dw_min=0.01,  # PCMPresetDevice dw_min 0.01 [A, N20]
        up_down_asymmetry=0.0,  # up_down 0 [A]; SET only: the partner device realises "down" [A, N20]
        step_c2c=0.6,  # dw_min_std 0.6 [A]
        step_d2d=0.2,  # dw_min_dtod 0.2 [A]
        cell_area_f2=25.0,  # 1T1R PCM cell ~25 F² (est.) [X]
        w_bound_min=0.0,  # one-directional device, w ∈ [0, 2] [A, N20]
        w_bound_max=2.0,
        bound_d2d=0.1,  # w_max_dtod 0.1 (w_min 0, so only the upper bound spreads) [A]
        update_rule=UpdateRule.EXP_STEP,  # PCMPresetDevice is an ExpStepDevice [A, N20]
        one_directional=True,  # used as a ± pair with refresh (PCMPresetUnitCell) [A, N20]
        up_down_d2d=0.05,  # up_down_dtod 0.05 [A]
        gamma_up=2.5,  # gamma_up 2.5 [A]
        gamma_down=2.5,  # gamma_down 2.5 [A]
        exp_a=-1.0,  # a −1 [A]
        exp_b=0.0,  # b 0 [A]
        exp_amp_up=-27.235,  # A_up −27.235 [A]
        exp_amp_down=-2.235,  # A_down −2.235 [A]
        step_c2c_add=0.042,  # dw_min_std_add 0.042 [A]
        step_c2c_slope=0.108,  # dw_min_std_slope 0.108 [A]
    ),
    "rram": DeviceSpec(
        name="rram",
        description="Resistive RAM (HfOx), few-level, ExpStep pulsed updates",
        levels=16,  # 4–128 states; array fits ~4–21 steps [A, M, N]
        g_min_us=4.0,  # on/off 10 [NS] with g_max 40 µS [A]
        g_max_us=40.0,  # 40 µS [A]
        prog_noise_model=ProgNoiseModel.RELATIVE,
        prog_noise=0.037,  # c2c ≈ 3.7 % [M]
        read_noise_model=ReadNoiseModel.ADDITIVE,
        read_noise=0.01,  # ~1 % read noise [A]
        drift_law=DriftLaw.POWER,  # log-time relaxation, small [A]
        drift_nu_mean=0.005,  # small relaxation; exposed as a parameter (est.) [A]
        drift_nu_std=0.002,  # (est.) [A]
        drift_t0_s=20.0,
        write_energy_pj=1.0,  # 0.6–1.3 pJ (est.) [X, M]
        write_latency_ns=50.0,  # 10–100 ns [X, N]
        endurance_cycles=1e6,  # 1e3–1e9, median 1e6 [N]
        dw_min=0.00135,  # ReRamESPresetDevice dw_min [A, Gong 2018]
        up_down_asymmetry=0.259359,  # ReRamESPresetDevice up_down [A, Gong 2018]
        step_c2c=5.0,  # dw_min_std 5.0 (relative to the step) [A]
        step_d2d=0.2,  # dw_min_dtod 0.2 [A]
        # 1T1R RRAM 4 F × 12 F = 48 F² [NS] (Param.cpp heightInFeatureSize1T1R 4, widthInFeatureSize1T1R
        # 12; SubArray.cpp sizes 1T1R arrays with F = the node); NVMExplorer's 1T1R RRAM.cell 53 F² [X]
        cell_area_f2=48.0,
        w_bound_min=-1.0,  # ReRamESPresetDevice w_min −1 [A]
        w_bound_max=1.0,  # w_max 1 [A]
        bound_d2d=0.3,  # w_max_dtod = w_min_dtod = 0.3 [A]
        update_rule=UpdateRule.EXP_STEP,  # ReRamESPresetDevice is an ExpStepDevice [A, Gong 2018]
        up_down_d2d=0.05,  # up_down_dtod 0.05 [A]
        gamma_up=5.0,  # gamma_up 5 [A]
        gamma_down=5.0,  # gamma_down 5 [A]
        exp_a=-0.5,  # a −0.5 [A]
        exp_b=-0.5,  # b −0.5 [A]
        exp_amp_up=-1.18445,  # A_up [A]
        exp_amp_down=-0.081404,  # A_down [A]
        write_noise=75.0,  # write_noise_std 75 (× dw_min ≈ 0.10 of the range) [A]
    ),
    "stt_mram": DeviceSpec(
        name="stt_mram",
        description="Spin-transfer-torque MRAM, binary, stochastic switching",
        levels=2,  # 1 bit [M]
        g_min_us=20.0,  # on/off ≈ 2–2.3 [M, X]
        g_max_us=45.0,
        prog_noise_model=ProgNoiseModel.NONE,  # write error rate, not analog [M]
        prog_noise=0.0,
        read_noise_model=ReadNoiseModel.NONE,
        read_noise=0.0,
        drift_law=DriftLaw.NONE,  # no drift [M]
        drift_nu_mean=0.0,
        drift_nu_std=0.0,
        drift_t0_s=20.0,
        write_energy_pj=1.0,  # ~1 pJ (0.6–4.5) [X, N]
        write_latency_ns=10.0,  # 2–200 ns [N]
        endurance_cycles=1e12,  # 1e6–1e15 [N]
        dw_min=1.0,  # binary: a switch spans the whole range [G21]
        up_down_asymmetry=0.0,
        step_c2c=0.0,
        step_d2d=0.0,
        cell_area_f2=40.0,  # 1T1MTJ ~40 F² [X]
        w_bound_min=-1.0,  # binary: the two states ±1 [G21]
        w_bound_max=1.0,
    ),
    "fefet": DeviceSpec(
        name="fefet",
        description="Ferroelectric FET, 5-bit multi-level",
        levels=32,  # 32 states (5 b) [M]
        g_min_us=0.5,  # on/off 45–100 [M, NS]
        g_max_us=25.0,
        prog_noise_model=ProgNoiseModel.RELATIVE,
        prog_noise=0.005,  # c2c < 0.5 % [M]
        read_noise_model=ReadNoiseModel.NONE,
        read_noise=0.0,
        drift_law=DriftLaw.POWER,  # small [M]
        drift_nu_mean=0.003,  # small, exposed as a parameter (est.)
        drift_nu_std=0.001,  # (est.)
        drift_t0_s=20.0,
        write_energy_pj=0.003,  # ~3 fJ [X]
        write_latency_ns=50.0,  # ~27–75 ns [N, M]
        endurance_cycles=1e7,  # 1e4–1e11 [N]
        dw_min=1.0 / 31.0,  # one of 32 states per pulse [M]
        up_down_asymmetry=0.1,  # (est.)
        step_c2c=0.1,  # (est.)
        step_d2d=0.05,  # (est.)
        cell_area_f2=15.0,  # 1FeFET ~15 F² [X]
        w_bound_min=-1.0,  # normalized range (est.)
        w_bound_max=1.0,
        bound_d2d=0.05,  # (est.)
    ),
    "ecram": DeviceSpec(
        name="ecram",
        description="Electrochemical RAM, many symmetric steps",
        levels=1000,  # ~1,000 steps: dw_min 0.002 over a range of 2 [A]
        g_min_us=0.5,  # parameter (est.)
        g_max_us=25.0,  # parameter (est.)
        prog_noise_model=ProgNoiseModel.RELATIVE,
        prog_noise=0.0006,  # c2c 0.3 × dw_min [A, Tang 2018]
        read_noise_model=ReadNoiseModel.NONE,
        read_noise=0.0,
        drift_law=DriftLaw.POWER,  # volatile retention, small; parameter [A]
        drift_nu_mean=0.002,  # (est.)
        drift_nu_std=0.001,  # (est.)
        drift_t0_s=20.0,
        write_energy_pj=1.0,  # parameter (est.)
        write_latency_ns=100.0,  # parameter (est.)
        endurance_cycles=1e9,  # parameter (large) (est.)
        dw_min=0.002,  # EcRamPresetDevice dw_min [A, Tang 2018]
        up_down_asymmetry=0.0,  # up_down 0 (shifted onto the symmetry point) [A]
        step_c2c=0.3,  # dw_min_std 0.3 [A]
        step_d2d=0.1,  # dw_min_dtod 0.1 [A]
        cell_area_f2=30.0,  # 3-terminal cell (est.)
        w_bound_min=-0.8276,  # EcRamPresetDevice w_min [A, Tang 2018]
        w_bound_max=1.1724,  # w_max [A, Tang 2018]
        bound_d2d=0.05,  # w_max_dtod = w_min_dtod = 0.05 [A]
        update_rule=UpdateRule.LINEAR_STEP,  # EcRamPresetDevice is a LinearStepDevice [A, Tang 2018]
        up_down_d2d=0.01,  # up_down_dtod 0.01 [A]
        gamma_up=0.1153,  # gamma_up [A, Tang 2018]
        gamma_down=0.5085,  # gamma_down [A, Tang 2018]
        gamma_d2d=0.05,  # gamma_up_dtod = gamma_down_dtod = 0.05 [A]
    ),
    "sram": DeviceSpec(
        name="sram",
        description="Digital SRAM baseline: exact 8-bit weights, unlimited endurance",
        levels=256,  # an 8-bit signed word per weight (8 SRAM cells) [NS]
        g_min_us=0.0,
        g_max_us=1.0,  # digital: conductance units are nominal
        prog_noise_model=ProgNoiseModel.NONE,  # exact [NS]
        prog_noise=0.0,
        read_noise_model=ReadNoiseModel.NONE,
        read_noise=0.0,
        drift_law=DriftLaw.NONE,
        drift_nu_mean=0.0,
        drift_nu_std=0.0,
        drift_t0_s=20.0,
        write_energy_pj=0.0016,  # 1.6 fJ/bit [MN]
        write_latency_ns=1.0,  # ~1 ns
        endurance_cycles=float("inf"),  # unlimited
        dw_min=1.0 / 255.0,  # one LSB of the 8-bit word
        up_down_asymmetry=0.0,
        step_c2c=0.0,
        step_d2d=0.0,
        cell_area_f2=150.0,  # 6T SRAM ~150 F² per bit [NS]
        w_bound_min=-1.0,  # signed word, exact
        w_bound_max=1.0,
        analog=False,
    ),
}


def get_device(name: str) -> DeviceSpec:
    """Look a preset up by name, with an error that lists the allowed names."""
    try:
        return DEVICES[name]
    except KeyError:
        raise KeyError(f"unknown device {name!r}; allowed: {', '.join(sorted(DEVICES))}") from None
