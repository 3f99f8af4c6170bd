"""What a training run reports: time, loss and device write counts (per device, for endurance).

Every training mode keeps one counter per physical device (a tensor, one entry per device)
and reports :class:`WriteCounts` built by :func:`summarize`. Two events are counted apart:
state changes (``writes``: a device's stored state moved; they wear it) and write attempts
(``attempts``: pulses applied, switching or not; they cost write energy and time). For pulsed
analog devices every pulse moves the conductance, so the two coincide and ``attempts`` is None;
binary stochastic devices (qnn's MTJs) are pulsed far more often than they switch. The cost
model turns them into ``max_writes_per_device`` … and ``max_write_attempts_per_device`` ….
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: an application failure, never retried."""


@dataclass(frozen=True)
class WriteCounts:
    """Programming pulses seen by the devices of a network during training and deployment."""

    max_per_device: float
    """Largest number of writes any single device saw."""
    mean_per_device: float
    """Mean writes over all devices."""
    total: float
    """All writes (pulses), summed over devices."""


def summarize(counters: Sequence[Tensor]) -> WriteCounts:
    """Max, mean and total over per-device counters (any shapes; each entry is one device)."""
    devices = sum(c.numel() for c in counters)
    if devices == 0:
        return WriteCounts(0.0, 0.0, 0.0)
    total = float(sum(float(c.double().sum()) for c in counters))
    peak = max(float(c.max()) for c in counters if c.numel())
    return WriteCounts(max_per_device=peak, mean_per_device=total / devices, total=total)


@dataclass(frozen=True)
class TrainResult:
    """What a training run reports besides the trained model."""

    seconds: float
    """Wall time of training (for apt: of the floating-point pretraining)."""
    steps: int
    """Optimizer steps taken."""
    final_loss: float
    """Mean training loss of the last epoch."""
    writes: WriteCounts
    """Device writes of every device set, including the first programming."""
    calibration_seconds: float = 0.0
    """apt: wall time of the analog-aware calibration (0 for other modes)."""
    train_samples: int = 0
    """Samples passed forward and backward through the arrays (on-chip modes; 0 off-chip)."""
    digital_bits_per_weight: float = 0.0
    """Digital state kept beside the array per weight (χ, accumulator, momentum)."""
    writes_by_kind: tuple[tuple[str, WriteCounts], ...] = ()
    """Writes of device subsets (``binary``, ``multilevel``, ``momentum``), where they exist."""
    extra_devices: int = 0
    """Devices beyond the weight mapping (in-memory momentum), included in ``writes``."""
    attempts: WriteCounts | None = None
    """Write pulses per device, switching or not, where they differ from ``writes`` (qnn); None:
    every pulse changed the device's state, so attempts equal ``writes``."""

    @property
    def write_attempts(self) -> WriteCounts:
        """Write pulses per device (``attempts``, or ``writes`` where every pulse switches)."""
        return self.writes if self.attempts is None else self.attempts


ATTEMPTS = "attempts"
"""The tag of an updater's write-attempt counters (kept apart from its state-change counters)."""

__all__ = ["ATTEMPTS", "TrainResult", "TrainingDiverged", "WriteCounts", "summarize"]
