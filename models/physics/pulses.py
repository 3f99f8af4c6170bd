"""Pulsed device updates: an update becomes a number of device steps with the device's physics.

Weights are held in normalized device units ω (the units of ``DeviceSpec.dw_min`` and the
bounds); a layer's weight is ``α·ω`` with one scale α per layer. An update becomes pulses of
the nominal step ε = ``dw_min``; each pulse moves ω by the device's update rule
(:mod:`models.physics.update_rules`, aihwkit's pulsed devices [A]: constant, soft-bounds,
linear and exponential steps, per-device steps and bounds, c2c and write noise). A
one-directional device (PCM SET) is used as a pair ω = ω⁺ − ω⁻ whose devices are RESET and
reprogrammed when one nears its bound (refresh) [N20, A18].

Pure functions compute the arithmetic; :class:`PulsedArray` holds a matrix's device state and counters.

Speed (docs/training_modes.md): stochastic rounding is ``floor(x + U)`` with table uniforms
(:func:`uniforms`, as :func:`models.physics.noise.normals`); only pulsed devices are touched.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from models.physics import device_rows, kernels, trains
from models.physics.chi_kernel import chi_grid, chi_transfer
from models.physics.devices import UpdateRule
from models.physics.noise import normals, window
from models.physics.train_noise import TrainSizes
from models.physics.update_rules import (
    PulseModel,
    device_bounds,
    device_slopes,
    device_steps,
    pulse_train,
    pulses_to_reach,
)
from models.torch_device import nonzero_indices, per_device, random_int

MAX_PULSES_PER_UPDATE = 31
"""Most pulses one update may apply to a device: aihwkit's default pulse-train length [A]."""
INIT_FRACTION = 0.25
"""The initial largest |weight| maps to this fraction of the device's range (room to learn)."""
REFRESH_FRACTION = 0.9
"""A one-directional pair is refreshed when a device passes this fraction of its bound [N20]."""
PENDING_REFRESHES = 1 << 14
"""Refreshed devices whose SET pulses may wait to be counted together (:meth:`PulsedArray._refresh`)."""
UNIFORM_TABLE_SIZE = 1 << 22
"""Uniforms kept for stochastic rounding (16 MiB in float32)."""
_UNIFORM_TABLE: dict[tuple[torch.dtype, torch.device], Tensor] = {}


def layer_scale(w: Tensor, model: PulseModel) -> float:
    """α such that the initial largest |weight| sits at :data:`INIT_FRACTION` of the reach."""
    return max(float(w.abs().max()), 1e-6) / (INIT_FRACTION * model.reach)


def stochastic_round(x: Tensor, generator: torch.Generator) -> Tensor:
    """Round to an adjacent integer, up with probability frac(x): unbiased, E = x (fresh draws)."""
    low = torch.floor(x)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return low + (u < (x - low)).to(x.dtype)


def uniforms(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, generator: torch.Generator) -> Tensor:
    """U[0, 1) of ``shape`` on ``generator``'s device: a window at a random offset (drawn from
    ``generator``) into a fixed table of uniforms (one copy per device); fresh draws where the
    shape exceeds half the table. Read-only.

    The noise-table trick of :func:`models.physics.noise.normals`: inside a window the values are
    i.i.d. U[0, 1), windows of different steps are random shifts of one sequence (``torch.rand``
    costs more than an analog layer's whole forward and backward: ~5 µs per 1,000 draws).
    """
    n = math.prod(shape)
    if n > UNIFORM_TABLE_SIZE // 2:
        return torch.rand(shape, generator=generator, dtype=dtype, device=generator.device)
    start = random_int(UNIFORM_TABLE_SIZE - n + 1, generator)
    return window(uniform_table(dtype, generator.device), start, shape)


def uniform_table(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The fixed table that :func:`uniforms` windows (read-only)."""
    return per_device(_UNIFORM_TABLE, dtype, device, _uniform_table)


def _uniform_table(dtype: torch.dtype) -> Tensor:
    """The table, drawn on the CPU from seed 1 (the same values on every device)."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    return torch.rand(UNIFORM_TABLE_SIZE, generator=gen, dtype=dtype, device="cpu")


def stochastic_round_(x: Tensor, generator: torch.Generator) -> Tensor:
    """:func:`stochastic_round` in place, as ``floor(x + U)`` with table uniforms (:func:`uniforms`):
    up with probability P(U ≥ 1 − frac(x)) = frac(x), so E = x as well."""
    return x.add_(uniforms(x.shape, x.dtype, generator)).floor_()


def pulse_counts(delta: Tensor, dw_min: float, generator: torch.Generator, max_pulses: int) -> Tensor:
    """Signed pulse numbers for the desired change ``delta``: ``delta/ε`` stochastically rounded,
    at most ``max_pulses`` per device (the expected change is ``delta`` inside the cap)."""
    return stochastic_round_(delta / dw_min, generator).clamp_(-max_pulses, max_pulses)


def apply_pulses(
    w: Tensor, n: Tensor, up: Tensor, down: Tensor, lo: Tensor, hi: Tensor, c2c: float
) -> Tensor:
    """ω after ``n`` signed pulses: the sum of |n| noisy steps, n·s + c2c·s·√|n|·ξ, then clipped.

    The sum of |n| steps with independent relative noise c2c has mean n·s and std
    c2c·s·√|n|, drawn in one normal per device (no per-pulse loop)."""
    step = torch.where(n >= 0, up, down)
    change = n * step
    if c2c > 0:
        change = change + normals(w, None) * (c2c * step * n.abs().sqrt())
    return torch.minimum(torch.maximum(w + change, lo), hi)


class PulsedArray:
    """The devices of one weight matrix under pulsed updates, with a write counter per device.

    Two devices per weight: a bidirectional device carries ω against a fixed reference (written
    once, at programming); a one-directional pair carries ω⁺ − ω⁻ (positive pulses on ω⁺, negative
    on ω⁻) with refresh [N20]. Programming counts one write per device. The rule is the device's
    (:mod:`models.physics.update_rules` [A]); with write noise, the array reads ω plus σ_w·ξ,
    redrawn whenever a device is written (aihwkit's persistent weight [A]).

    Only the devices that get pulses are touched (:meth:`pulse_at`, by flat index): a device
    without pulses keeps its ω (it already lies inside its bounds) and its count, and a pair
    can only become full (refresh) where it was pulsed, since a refresh leaves one device of
    the pair at 0. Constant steps without write noise take all of a device's pulses at once
    (n·s + c2c·s·√|n|·ξ, :func:`apply_pulses`); state-dependent rules apply them one by one
    (:func:`~models.physics.update_rules.pulse_train`). ``packed``: a bidirectional state-dependent
    array keeps one row per device (:mod:`~models.physics.device_rows`); False keeps separate
    tensors (an array read whole every step: in-memory momentum).
    """

    def __init__(
        self, target: Tensor, model: PulseModel, generator: torch.Generator, packed: bool = True
    ) -> None:
        self.model = model
        shape = target.shape
        self.up, self.down = device_steps(shape, model, generator, target.dtype)  # [A]
        self.lo, self.hi = device_bounds(shape, model, generator, target.dtype)
        self._counts = torch.ones(2, *shape, dtype=torch.float64, device=target.device)
        self._pending: list[tuple[Tensor, ...]] = []  # refreshes' SET pulses not yet counted
        self._pending_size = 0
        self._exact = not model.state_dependent and model.write_sigma == 0
        self._packed: device_rows.DeviceRows | None = None  # bidirectional state-dependent: rows
        if model.one_directional:
            self.lo = torch.zeros(shape, device=target.device, dtype=target.dtype)
        slopes = device_slopes(model, self.lo, self.hi, generator)
        self._slopes = None if slopes is None else (slopes[0].reshape(-1), slopes[1].reshape(-1))
        # One-directional: what a pulsed pair reads and writes, one row per weight so that a
        # gather touches one cache line (device_rows.pair_rows); an upper bound of its pending counts.
        if model.one_directional:
            pos = target.clamp_min(0.0).minimum(self.hi)
            neg = (-target).clamp_min(0.0).minimum(self.hi)
            self._rows, self._pair_pending = device_rows.pair_rows(pos, neg, self.up, self.hi), 0
            self.pos, self.neg = (self._rows[:, j].unflatten(0, shape) for j in (0, 1))
            self._value = pos - neg
            self._cols = torch.arange(4, device=target.device)
        else:  # separate tensors, which the dense path (:meth:`pulse_dense`) streams, or packed
            self.w = torch.minimum(torch.maximum(target, self.lo), self.hi)
            self._mid, self._half = (self.up + self.down) / 2, (self.up - self.down) / 2
            self._read = self.w
            if model.write_sigma > 0:  # programming writes every device: a first draw [A]
                self._read = self.w + model.write_sigma * torch.randn(
                    shape, generator=generator, device=generator.device, dtype=target.dtype
                )
            if packed and model.state_dependent:  # one row per device, the attributes its columns
                self._pack(shape, slopes)

    def _pack(self, shape: torch.Size, slopes: tuple[Tensor, Tensor] | None) -> None:
        """One row per device (:mod:`~models.physics.device_rows`): a pulsed device's state is one
        cache line; ω, bounds, steps, read ω and slopes become views of the rows' columns."""
        packed = device_rows.DeviceRows(
            self.w, self._read, self.lo, self.hi, self.up, self.down, slopes, self.model.write_sigma > 0
        )
        self._packed = packed
        cols = (device_rows.W, device_rows.LO, device_rows.HI, device_rows.UP, device_rows.DOWN)
        self.w, self.lo, self.hi, self.up, self.down = (packed.column(j, shape) for j in cols)
        self._read = packed.column(device_rows.READ, shape) if self.model.write_sigma > 0 else self.w
        if self._slopes is not None:
            self._slopes = (packed.column(device_rows.SLOPE_UP), packed.column(device_rows.SLOPE_DOWN))

    @property
    def dense(self) -> bool:
        """:meth:`pulse_dense` updates every device in place (a bidirectional device with constant
        steps and no write noise); otherwise it gathers the pulsed devices as :meth:`pulse` does."""
        return self._exact and not self.model.one_directional

    def value(self) -> Tensor:
        """The ω the array reads (read-only: the array's own tensor, updated in place)."""
        return self._value if self.model.one_directional else self._read

    def rows(self) -> tuple[device_rows.DeviceRows, Tensor] | None:
        """A row-packed array's rows and its devices' flat write counter (else None)."""
        return None if self._packed is None else (self._packed, self._counts[0].view(-1))

    def pulse(self, n: Tensor) -> Tensor:
        """Apply ``n`` signed pulses per weight and count them on the devices that got them;
        returns the flat indices of the weights that changed."""
        idx = nonzero_indices(n)
        self.pulse_at(idx, n.reshape(-1).index_select(0, idx))
        return idx

    def pulse_at(
        self, idx: Tensor, n: Tensor, into: trains.Into = None, sizes: TrainSizes | None = None
    ) -> Tensor:
        """:meth:`pulse` given only the weights with pulses: flat indices ``idx`` (unique) and pulses
        ``n`` (0 changes nothing); returns their new read ω (in ``idx``'s order); ``into`` = (weight, α):
        also α·ω there at ``idx``; ``sizes``: ``n``'s train sizes if counted (the compiled paths)."""
        if idx.numel() == 0:
            return n
        flat = None if into is None else (into[0].view(-1), into[1])
        fused = self.model.state_dependent and self._compiled(idx, n) and trains.writable(into, self.up)
        if fused and self._packed is not None:
            return self._packed.pulse(self.model, idx, n, self._counts[0].view(-1), flat, sizes)
        if fused and self.model.one_directional:
            return self._pulse_pairs_compiled(idx, n, flat, sizes)
        w = self._pulse_pairs(idx, n) if self.model.one_directional else self._pulse_at(idx, n)
        if flat is not None:
            flat[0].scatter_(0, idx, w * flat[1])
        return w

    def _pulse_at(self, idx: Tensor, n: Tensor) -> Tensor:
        if self.model.state_dependent and self._compiled(idx, n):
            state = (self.w, self.lo, self.hi, self.up, self.down, self._counts[0], self._read)
            return trains.pulse_devices_at(self.model, idx, n, tuple(t.view(-1) for t in state), self._slopes)
        k = n.abs()
        w, lo, hi = (t.view(-1).index_select(0, idx) for t in (self.w, self.lo, self.hi))
        if self._exact or not self.model.state_dependent:
            mid, half = self._mid.view(-1).index_select(0, idx), self._half.view(-1).index_select(0, idx)
            # in steps: n, plus the c2c noise of the sum of |n| steps, c2c·√|n|·ξ (ξ symmetric)
            c2c = self.model.c2c
            noise = torch.sqrt(k).mul_(normals(k, None)).mul_(c2c) if c2c > 0 else None
            move = n if noise is None else noise.add_(n)
            w = torch.clamp(w.addcmul_(move, torch.addcmul(mid, torch.sign(n), half)), lo, hi)
        else:
            up, down = self.up.view(-1).index_select(0, idx), self.down.view(-1).index_select(0, idx)
            sl = self._slopes
            slopes = None if sl is None else (sl[0].index_select(0, idx), sl[1].index_select(0, idx))
            w = pulse_train(w, n, up, down, lo, hi, self.model, slopes)
        self.w.view(-1).scatter_(0, idx, w)
        self._counts[0].view(-1).scatter_add_(0, idx, k.double())
        if self.model.write_sigma > 0:
            w = w + self.model.write_sigma * normals(w, None)
            self._read.view(-1).scatter_(0, idx, w)
        return w

    def _compiled(self, idx: Tensor, n: Tensor) -> bool:
        """Whether the compiled kernel runs this update (:mod:`models.physics.kernels`: CPU tensors)."""
        return kernels.usable(n, idx, self.up) and n.dtype == self.up.dtype and kernels.fits(idx.numel())

    def _pulse_pairs_compiled(
        self, idx: Tensor, n: Tensor, into: trains.Into, sizes: TrainSizes | None = None
    ) -> Tensor:
        """The pair kernel (:func:`~models.physics.trains.pulse_pairs_at`); refreshes' SETs counted here."""
        slope = None if self._slopes is None else self._slopes[0]
        flat = (self._rows, self._value.view(-1), self._counts.view(-1))
        w, where, found, grew = trains.pulse_pairs_at(
            self.model, idx, n, *flat, slope, REFRESH_FRACTION, into, sizes
        )
        self._pair_pending += grew
        if self._pair_pending >= device_rows.ROW_COUNT_FLUSH:
            self._pair_pending = device_rows.flush_pairs(self._rows, self._counts)
        if where.numel() > 0:  # the kernel RESET them; their SETs are counted here
            target, up, hi, s_slope = found.unbind(1)
            self._count_sets(where, target, up, hi, None if slope is None else s_slope)
        return w

    def _pulse_pairs(self, idx: Tensor, n: Tensor) -> Tensor:
        if self.model.state_dependent and self._compiled(idx, n):
            return self._pulse_pairs_compiled(idx, n, None)
        k = n.abs()
        at = (idx * kernels.PAIR_WIDTH).unsqueeze(1) + self._cols  # flat indices of the rows' entries
        rows = self._rows.view(-1).index_select(0, at.view(-1)).view(-1, 4)
        up, hi = rows[:, 2], rows[:, 3]
        on_pos = (n > 0).to(n.dtype)  # positive pulses on ω⁺, negative ones on ω⁻
        pq = rows[:, :2]
        slope = None if self._slopes is None else self._slopes[0].index_select(0, idx)
        if self.model.state_dependent:
            # the pulsed device of each pair and back, by exact 0/1 blends (torch.where is slow here)
            dev = torch.lerp(pq[:, 1], pq[:, 0], on_pos)
            zero = torch.zeros_like(dev)
            slopes = None if slope is None else (slope, slope)
            new = pulse_train(dev, k, up, zero, zero, hi, self.model, slopes)
            pq[:, 0].lerp_(new, on_pos)
            pq[:, 1] = torch.lerp(new, pq[:, 1], on_pos)
        else:
            c2c = self.model.c2c
            noise = torch.sqrt(k).mul_(normals(k, None)).mul_(c2c) if c2c > 0 else None
            move = k * up if noise is None else noise.add_(k).mul_(up)  # on the device that gets them
            pq[:, 0].addcmul_(move, on_pos)
            pq[:, 1].addcmul_(move, 1.0 - on_pos)
            torch.minimum(pq.clamp_min_(0.0), hi.unsqueeze(1), out=pq)
        device = idx + self._counts[0].numel() * (1 - on_pos).long()  # flat index into (2, ...)
        self._counts.view(-1).scatter_add_(0, device, k.double())
        self._refresh(idx, pq[:, 0], pq[:, 1], up, hi, slope)
        self._rows.view(-1).scatter_(0, at[:, :2].reshape(-1), pq.reshape(-1))
        w = pq[:, 0] - pq[:, 1]
        self._value.view(-1).scatter_(0, idx, w)
        return w

    def pulse_dense(self, n: Tensor) -> None:
        """:meth:`pulse` over every device of a bidirectional array (``n`` is overwritten): fewer
        passes than gathering when many devices get pulses. √|n| is |n|·rsqrt(max(|n|, 1)):
        ``torch.sqrt`` of zeros takes a slow path on this CPU build. State-dependent rules and
        write noise go through :meth:`pulse`."""
        if not self.dense:
            self.pulse(n)
            return
        w, mid, half, lo, hi = self.w, self._mid, self._half, self.lo, self.hi
        k = torch.abs(n)
        self._counts[0].add_(k)
        move = n
        if self.model.c2c > 0:
            root = torch.clamp(k, min=1.0).rsqrt_().mul_(k)
            move = root.mul_(normals(n, None)).mul_(self.model.c2c).add_(n)
        step = torch.addcmul(mid, torch.sign(n, out=k), half)
        torch.clamp(w.addcmul_(move, step), lo, hi, out=w)

    def _refresh(
        self, idx: Tensor, p: Tensor, q: Tensor, up: Tensor, hi: Tensor, slope: Tensor | None = None
    ) -> None:
        """RESET both devices of pairs near their bound and SET the difference onto one [N20, A18]:
        one write each for the RESET, plus the SET pulses that reach |ω| on the device's nominal
        pulse response (⌈|ω|/step⌉ for constant steps), programmed and verified to |ω|.
        Checked on the pairs ``idx`` just pulsed (no other pair can be full), whose devices
        hold ``p`` and ``q`` (changed in place).

        A state-dependent response takes a loop of one step per SET pulse to count them (tens
        of tiny steps per refresh, more than the rest of an update); the count depends only on
        the device and |ω|, never on the state the array trains on, so it is kept pending and
        counted for all refreshes at once when :attr:`counts` is read (or every
        :data:`PENDING_REFRESHES` devices): the same counts, one loop."""
        full = (torch.maximum(p, q) >= REFRESH_FRACTION * hi) & (torch.minimum(p, q) >= up)
        # only where the partner holds at least a step, so the refresh frees headroom
        if not bool(full.any()):
            return
        at = full.nonzero().squeeze(1)
        w = p[at] - q[at]
        where = idx[at] + self._counts[0].numel() * (w < 0).long()  # the device that gets the SETs
        self._count_sets(where, w.abs(), up[at], hi[at], None if slope is None else slope[at])
        resets = torch.ones(2, at.numel(), dtype=torch.float64, device=w.device)  # one write per device
        self._counts.view(2, -1).index_add_(1, idx[at], resets)
        p[at] = w.clamp_min(0.0)
        q[at] = (-w).clamp_min(0.0)

    def _count_sets(
        self, where: Tensor, target: Tensor, up: Tensor, hi: Tensor, slope: Tensor | None
    ) -> None:
        """Count the SET pulses of refreshes on devices ``where`` (flat, into the counts), now for
        constant steps, else pending (:meth:`_refresh`)."""
        if self.model.rule is UpdateRule.CONSTANT or not self.model.state_dependent:
            sets = pulses_to_reach(target, up, hi, self.model, slope)
            self._counts.view(-1).index_add_(0, where, sets.double())
            return
        self._pending.append((where, target, up, hi, *(() if slope is None else (slope,))))
        self._pending_size += where.numel()
        if self._pending_size >= PENDING_REFRESHES:
            self._count_refreshes()

    def _count_refreshes(self) -> None:
        """Count the pending refreshes' SET pulses (:func:`pulses_to_reach`, each refresh a group)."""
        if not self._pending:
            return
        parts = list(zip(*self._pending, strict=True))
        groups = torch.cat([torch.full_like(e[0], g) for g, e in enumerate(self._pending)])
        where, target, up, hi = (torch.cat(c) for c in parts[:4])
        slope = torch.cat(parts[4]) if len(parts) > 4 else None
        sets = pulses_to_reach(target, up, hi, self.model, slope, groups)
        self._counts.view(-1).index_add_(0, where, sets.double())
        self._pending.clear()
        self._pending_size = 0

    @property
    def counts(self) -> Tensor:
        """Writes per device ``(2, ...)`` (float64): the pair's two devices, or device and reference."""
        self._count_refreshes()
        if self._packed is not None:
            self._packed.flush(self._counts[0].view(-1))
        if self.model.one_directional and self._pair_pending > 0:
            self._pair_pending = device_rows.flush_pairs(self._rows, self._counts)
        return self._counts


__all__ = [
    "MAX_PULSES_PER_UPDATE",
    "PulseModel",
    "PulsedArray",
    "apply_pulses",
    "chi_grid",
    "chi_transfer",
    "layer_scale",
    "pulse_counts",
    "stochastic_round",
    "stochastic_round_",
    "uniform_table",
    "uniforms",
]
