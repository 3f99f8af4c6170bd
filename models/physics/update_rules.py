"""Device update rules: how one pulse moves a device's normalized weight ω, as aihwkit documents them [A].

Per device (drawn once, at construction, as aihwkit's ``PulsedDevice.populate`` [A]):

- steps: with gain g = 1 + σ_d2d·ξ, r = σ_ud·ξ' and bias β = ``up_down``,
  s⁺ = |min(β, 0) + g + r|·ε and s⁻ = |−max(β, 0) + g − r|·ε (a positive β shrinks the
  down step, a negative one the up step);
- bounds: b_max = w_max·(1 + σ_b·ξ), b_min = w_min·(1 + σ_b·ξ'), made b_max ≥ 0 ≥ b_min.

Per pulse of direction d = ±1: ω ← clip(ω + d·s^d·f^d(ω)·(1 + c2c·ξ), b_min, b_max), with the
factor f of the rule (:class:`~models.physics.devices.UpdateRule`):

- constant: f = 1;
- soft bounds: f⁺ = 1 − ω/b_max, f⁻ = 1 − ω/b_min;
- linear step: f^d = 1 + γ^d·ω, γ⁺ = −|γ_up + σ_γ·ξ|/w_max, γ⁻ = −|γ_down + σ_γ·ξ|/w_min;
- exponential step: f⁺ = max(1 − A_up·e^{γ_up·z}, 0), f⁻ = max(1 − A_down·e^{−γ_down·z}, 0),
  z = 2a·ω/(b_max − b_min) + b.

f is clipped at 0 (a step never reverses its direction). c2c noise is multiplicative as above,
additive (ω + d·s^d·(f + c2c·ξ)) when ``mult_noise`` is off, or aihwkit's complex PCM noise
Δω + c2c·(|Δω| + add + slope·|ω|)·ξ when ``step_c2c_add`` or ``step_c2c_slope`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from models.physics.devices import DeviceSpec, UpdateRule
from models.physics.noise import normals
from models.torch_device import flat_indices


@dataclass(frozen=True)
class PulseModel:
    """The pulsed-update parameters of one device technology, in normalized units [A]
    (the fields of :class:`~models.physics.devices.DeviceSpec` of the same meaning)."""

    dw_min: float
    """Nominal step ε."""
    asymmetry: float
    """aihwkit's up/down bias β."""
    c2c: float
    """Cycle-to-cycle std of each step, relative to the step."""
    d2d: float
    """Device-to-device std of the step, relative."""
    lo: float
    """Lower bound of ω."""
    hi: float
    """Upper bound of ω."""
    bound_d2d: float
    """Device-to-device spread of the bounds, relative."""
    rule: UpdateRule = UpdateRule.CONSTANT
    one_way: bool = False
    """Only steps up (PCM SET): used as a refreshed pair."""
    up_down_d2d: float = 0.0
    gamma_up: float = 0.0
    gamma_down: float = 0.0
    gamma_d2d: float = 0.0
    exp_a: float = 0.0
    exp_b: float = 0.0
    amp_up: float = 0.0
    amp_down: float = 0.0
    mult_noise: bool = True
    c2c_add: float = 0.0
    c2c_slope: float = 0.0
    write_noise: float = 0.0
    """σ of the write noise in units of ε."""

    @classmethod
    def of(cls, d: DeviceSpec) -> PulseModel:
        """The pulse model of a device preset."""
        return cls(
            d.dw_min,
            d.up_down_asymmetry,
            d.step_c2c,
            d.step_d2d,
            d.w_bound_min,
            d.w_bound_max,
            d.bound_d2d,
            d.update_rule,
            d.one_directional,
            d.up_down_d2d,
            d.gamma_up,
            d.gamma_down,
            d.gamma_d2d,
            d.exp_a,
            d.exp_b,
            d.exp_amp_up,
            d.exp_amp_down,
            d.mult_noise,
            d.step_c2c_add,
            d.step_c2c_slope,
            d.write_noise,
        )

    @property
    def one_directional(self) -> bool:
        """True when the device only steps up (PCM SET): it is used as a refreshed pair."""
        return self.one_way

    @property
    def reach(self) -> float:
        """Largest |ω| the weight can take: the pair's span, or the nearer bound."""
        return self.hi - self.lo if self.one_directional else min(self.hi, -self.lo)

    @property
    def state_dependent(self) -> bool:
        """True when a step depends on ω (or its noise does): pulses are then applied one by one."""
        return self.rule is not UpdateRule.CONSTANT or self.complex_noise

    @property
    def complex_noise(self) -> bool:
        """aihwkit's complex c2c noise (PCM preset)."""
        return self.c2c_add > 0 or self.c2c_slope > 0

    @property
    def write_sigma(self) -> float:
        """Write noise std on the read weight, in units of ω."""
        return self.write_noise * self.dw_min


def device_steps(
    shape: torch.Size, model: PulseModel, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Per-device (s⁺, s⁻), aihwkit's combination of ``up_down``, its spread and the gain spread
    (module docstring) [A]; a one-directional device has s⁻ = 0."""
    where = generator.device
    gain = 1.0 + model.d2d * torch.randn(shape, generator=generator, device=where, dtype=dtype)
    r = model.up_down_d2d * torch.randn(shape, generator=generator, device=where, dtype=dtype)
    beta = model.asymmetry
    up = (min(beta, 0.0) + gain + r).abs_() * model.dw_min
    if model.one_directional:
        return up, torch.zeros_like(up)
    return up, (-max(beta, 0.0) + gain - r).abs_() * model.dw_min


def device_bounds(
    shape: torch.Size, model: PulseModel, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Per-device (b_min, b_max) = w_min·(1 + σ_b·ξ'), w_max·(1 + σ_b·ξ), then b_max ≥ 0 ≥ b_min [A]."""
    where = generator.device
    hi = model.hi * (
        1.0 + model.bound_d2d * torch.randn(shape, generator=generator, device=where, dtype=dtype)
    )
    lo = model.lo * (
        1.0 + model.bound_d2d * torch.randn(shape, generator=generator, device=where, dtype=dtype)
    )
    return -torch.minimum(lo, hi).abs_(), torch.maximum(lo, hi).abs_()


def device_slopes(
    model: PulseModel, lo: Tensor, hi: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor] | None:
    """Per-device (γ⁺, γ⁻) of the linear rules (soft bounds: −1/b_max, −1/b_min), else None [A]."""
    if model.rule is UpdateRule.SOFT_BOUNDS:
        return -1.0 / hi.clamp_min(1e-12), -1.0 / lo.clamp_max(-1e-12)
    if model.rule is not UpdateRule.LINEAR_STEP:
        return None
    where, dtype = generator.device, lo.dtype
    g_up = model.gamma_up + model.gamma_d2d * torch.randn(
        lo.shape, generator=generator, device=where, dtype=dtype
    )
    g_dn = model.gamma_down + model.gamma_d2d * torch.randn(
        lo.shape, generator=generator, device=where, dtype=dtype
    )
    g_up, g_dn = g_up.abs_(), g_dn.abs_()
    down = g_dn / -model.lo if model.lo < 0 else torch.zeros_like(g_dn)  # mean bounds (mean_bound_reference)
    return g_up / -model.hi, down


def step_factor(
    w: Tensor, up: bool, model: PulseModel, slope: Tensor | None, lo: Tensor, hi: Tensor
) -> Tensor | float:
    """f^d(ω) of the rule (module docstring), ≥ 0; ``slope`` is γ^d of the linear rules."""
    if slope is not None:
        return torch.addcmul(torch.ones_like(w), slope, w).clamp_min_(0.0)
    if model.rule is UpdateRule.EXP_STEP:
        z = (2.0 * model.exp_a) * w / (hi - lo).clamp_min(1e-12) + model.exp_b
        if up:
            return (1.0 - model.amp_up * torch.exp(model.gamma_up * z)).clamp_min_(0.0)
        return (1.0 - model.amp_down * torch.exp(-model.gamma_down * z)).clamp_min_(0.0)
    return 1.0


def pulse_once(
    w: Tensor,
    sign: Tensor,
    step: Tensor,
    factor: Tensor | float,
    lo: Tensor,
    hi: Tensor,
    model: PulseModel,
    noise: bool = True,
    unit: bool = False,
) -> Tensor:
    """ω after one pulse of direction ``sign`` (±1, or 0 for none) with per-device step ``step``
    and factor f^d(ω): the rule's change plus its c2c noise, clipped at the bounds [A].

    ``unit``: every sign is ±1, so the noise's factor |sign| (1) is skipped; the same bits."""
    dw = step * factor
    change = sign * dw
    if noise and model.c2c > 0:
        xi = normals(w, None)
        if model.complex_noise:
            sigma = (dw + model.c2c_add + model.c2c_slope * w.abs()) * model.c2c
        elif model.mult_noise:
            sigma = dw * model.c2c
        else:
            sigma = step * model.c2c
        change.add_(sigma.mul_(xi) if unit else sign.abs().mul_(sigma).mul_(xi))
    return change.add_(w).clamp_(lo, hi)  # min(max(ω + Δ, b_min), b_max)


def pulse_train(
    w: Tensor,
    n: Tensor,
    up: Tensor,
    down: Tensor,
    lo: Tensor,
    hi: Tensor,
    model: PulseModel,
    slopes: tuple[Tensor, Tensor] | None,
    noise: bool = True,
) -> Tensor:
    """ω after ``n`` signed pulses per device, applied one at a time (so every pulse sees the state
    the previous one left). Pulse j runs on the devices with |n| > j only, so the work is the total
    number of pulses, not the largest.

    Speed: the first pulse runs on the given tensors as they are (every entry; an entry with
    n = 0 stays where it is), the later ones on the few devices with |n| > 1, gathered once; the
    devices of each pulse keep their order, so each pulse's noise draw lands on the same device
    as in a loop over the whole arrays. A device keeps its direction through its train, so its
    direction's step, slope and exponential constants are selected once (:func:`_directed`),
    by exact 0/1 blends instead of ``torch.where`` (5–10× an add on this CPU)."""
    k = n.abs()
    sign = torch.sign(n)
    params = _directed(sign, up, down, model, slopes)
    span = (hi - lo).clamp_min(1e-12) if model.rule is UpdateRule.EXP_STEP else None
    out = _one_pulse(w, sign, params, lo, hi, span, model, noise)
    rows = flat_indices(k, lambda a: a > 1)
    if rows.numel() == 0:
        return out
    cols = [out, k, sign, lo, hi, *([] if span is None else [span]), *params]
    sub = torch.stack([t.index_select(0, rows) for t in cols], dim=1)  # a row per device: one gather a pulse
    cur, k_sub, first = sub[:, 0], sub[:, 1], 5 if span is None else 6
    for j in range(1, int(k_sub.max())):
        # pulse j + 1 on the rows with |n| > j, in order (the second pulse: all of them, as they lie)
        live = None if j == 1 else flat_indices(k_sub, lambda a, j=j: a > j)
        g = (sub if live is None else sub.index_select(0, live)).unbind(1)
        new = _one_pulse(
            g[0], g[2], g[first:], g[3], g[4], None if span is None else g[5], model, noise, True
        )
        if live is None:
            cur.copy_(new)
        else:
            cur.scatter_(0, live, new)
    return out.scatter_(0, rows, cur)


def _blend(p: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``a`` where ``p`` = 1, ``b`` where ``p`` = 0, exactly (for finite a, b: x·1 + y·0 = x)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return torch.lerp(b, a, p)  # weight 1 returns a − (a − b)·0, weight 0 b + 0·(a − b): exact
    q = torch.sub(1.0, p)
    return torch.mul(p, a).add_(q * b)


def _directed(
    sign: Tensor, up: Tensor, down: Tensor, model: PulseModel, slopes: tuple[Tensor, Tensor] | None
) -> tuple[Tensor, ...]:
    """Per device, the constants of its direction (``sign`` > 0: up, else down), exactly the
    values ``torch.where(sign > 0, up-value, down-value)`` selects: the step, then the linear
    rules' slope γ^d, or the exponential rule's rate (γ_up or −γ_down) and negated amplitude
    (−A_up or −A_down)."""
    if model.one_directional:  # always up: the up constants as they are (its rule's up factor)
        return (up,) if slopes is None else (up, slopes[0])
    p = sign.clamp(min=0.0)  # 1 up, 0 down or none (sign is −1, 0 or 1)
    step = _blend(p, up, down)
    if slopes is not None:
        return step, _blend(p, slopes[0], slopes[1])
    if model.rule is UpdateRule.EXP_STEP:
        # the amplitude negated, −A^d: x·(−A) is −(x·A) exactly, one call fewer a pulse
        return step, _blend(p, model.gamma_up, -model.gamma_down), _blend(p, -model.amp_up, -model.amp_down)
    return (step,)


def _one_pulse(
    cur: Tensor,
    sign: Tensor,
    params: tuple[Tensor, ...],
    lo: Tensor,
    hi: Tensor,
    span: Tensor | None,
    model: PulseModel,
    noise: bool,
    unit: bool = False,
) -> Tensor:
    """One pulse of direction ``sign`` on every device (:func:`pulse_once` with the rule's factor),
    with the per-device constants of its direction ``params`` (:func:`_directed`) and, for the
    exponential rule, ``span`` = max(b_max − b_min, 10⁻¹²); ``unit``: every sign is ±1."""
    step = params[0]
    if len(params) == 2:  # linear rules: f = max(1 + γ^d·ω, 0)
        factor: Tensor | float = step_factor(cur, True, model, params[1], lo, hi)
    elif span is not None:  # exponential: f^d = max(1 − A^d·e^{rate·z}, 0), one exponential per device
        z = ((2.0 * model.exp_a) * cur).div_(span).add_(model.exp_b)
        if len(params) == 3:  # params[2] = −A^d
            factor = torch.exp(z.mul_(params[1])).mul_(params[2]).add_(1.0).clamp_min_(0.0)
        else:  # one-directional: the up factor
            factor = torch.exp(z.mul_(model.gamma_up)).mul_(-model.amp_up).add_(1.0).clamp_min_(0.0)
    else:
        factor = step_factor(cur, True, model, None, lo, hi)
    return pulse_once(cur, sign, step, factor, lo, hi, model, noise, unit)


def pulses_to_reach(
    target: Tensor,
    up: Tensor,
    hi: Tensor,
    model: PulseModel,
    slope: Tensor | None,
    groups: Tensor | None = None,
) -> Tensor:
    """SET pulses that take a one-directional device from 0 to ``target`` on its nominal (noise-free)
    pulse response: what a program-and-verify refresh writes [N20]. Constant steps: ⌈target/s⁺⌉.

    A device counts a pulse while it is short of the target (less 10⁻⁶ relative); counting stops
    for a refresh whose devices are all short and stuck (the next step moves none of them).
    ``groups`` (refresh numbers, 0 … G−1) evaluates several refreshes at once, each with that
    rule of its own: the same counts as one call per refresh, in one loop."""
    if not model.state_dependent or model.rule is UpdateRule.CONSTANT:
        return torch.ceil(target / up)
    lo = torch.zeros_like(hi)
    w, count = torch.zeros_like(target), torch.zeros_like(target)
    threshold = target * (1 - 1e-6)
    live = torch.ones_like(target, dtype=torch.bool)  # devices of refreshes still pulsing
    cap = math.ceil(10.0 * model.hi / model.dw_min)
    for _ in range(cap):
        short = (w < threshold).logical_and_(live)
        if not bool(short.any()):
            break
        f = step_factor(w, True, model, slope, lo, hi)
        nxt = torch.minimum(w + up * f, hi)
        stuck = nxt <= w
        w = torch.where(short, nxt, w)
        count += short.to(count.dtype)
        held = short & stuck
        if bool(held.any()):  # a refresh whose devices are all short and stuck stops here
            ids = torch.zeros_like(target, dtype=torch.long) if groups is None else groups
            size = torch.bincount(ids)
            done = torch.bincount(ids, weights=held.to(torch.float64), minlength=size.numel()) == size
            live &= ~done.index_select(0, ids)
    return count


def pulses_toward(
    start: Tensor, target: Tensor, up: Tensor, hi: Tensor, model: PulseModel, slope: Tensor | None
) -> Tensor:
    """SET pulses that bring a one-directional device from ``start`` nearest to ``target`` (≥ start) on
    its nominal pulse response: pulse while the next nominal step ends closer to the target than
    the device stands (what an open-loop write of a known change applies)."""
    lo = torch.zeros_like(hi)
    w, count = start.clone(), torch.zeros_like(start)
    for _ in range(math.ceil(10.0 * model.hi / model.dw_min)):
        step = torch.minimum(w + up * step_factor(w, True, model, slope, lo, hi), hi) - w
        go = (w + step / 2 < target) & (step > 0)
        if not bool(go.any()):
            break
        w = torch.where(go, w + step, w)
        count += go.to(count.dtype)
    return count


__all__ = [
    "PulseModel",
    "device_bounds",
    "device_slopes",
    "device_steps",
    "pulse_once",
    "pulse_train",
    "pulses_to_reach",
    "pulses_toward",
    "step_factor",
]
