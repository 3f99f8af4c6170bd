"""Cheap objectives first: every cost column a design fixes before any training, on the driver.

The cost model (:func:`models.cost.model.hardware_cost`) takes the mapped layer shapes, which the
network's architecture fixes, and a few figures that only training and evaluation yield: write
counts, training samples through the arrays, persistent digital state per weight, and the cell
reads, each layer's conductance on the evaluated chip and its measured input duty (they set the
cell read energy). The pre-check evaluates the cost model at the extremes of those figures:

* a column equal at every extreme does not depend on training: it is **exact** (area, latency,
  tiles, MACs, and the model size of off-chip modes, which keep no digital state);
* a column that moves only with the cell reads (read energy, TOPS/W) is **bounded** by its values
  at the least and the most they can charge (:func:`read_extremes`: every device between 0 and
  g_max, the duty in [0, 1] unless it is fixed); the cell read energy duty·V²·G·t is linear in
  each [NS], so every such column is monotone in them;
* the rest (writes, training energy, lifetime) need training.

A constraint that the exact value, or the whole bound, breaks is broken whatever training does,
so the design is infeasible and never reaches a worker. The check takes milliseconds (one
forward pass of two zero samples to read the layer shapes).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import torch

from dse.engine.data import Dataset
from dse.engine.space import Constraint, SearchSpace
from dse.engine.trial import TrialContext
from dse.schema.point import DesignPoint
from dse.schema.record import COLUMNS, Status, TrialRecord
from models.config import CostConfig, InputDutySource
from models.cost.breakdown import LayerReads
from models.cost.model import hardware_cost
from models.nn.networks import analog_layers, build_network, layer_shapes
from models.physics.devices import DeviceSpec
from models.training.modes import OFF_CHIP

_TRAINING_EXTREMES = (
    {
        "writes_max": 0.0,
        "writes_mean": 0.0,
        "train_samples": 0,
        "digital_state_bits_per_weight": 0.0,
    },
    {
        "writes_max": 1e9,
        "writes_mean": 1e8,
        "train_samples": 10**7,
        "digital_state_bits_per_weight": 64.0,
    },
)
"""No training at all, and far more than any run (the cost model is linear in each)."""


@dataclass(frozen=True)
class PreCheck:
    """What a design's cost fixes before training, and the constraints it already breaks."""

    exact: Mapping[str, float]
    """Cost columns that do not depend on training, with their values."""
    bounds: Mapping[str, tuple[float, float]]
    """Cost columns that depend on training only through the cell reads: (low, high)."""
    violations: Mapping[str, float] = field(default_factory=dict)
    """Constraint column → amount (> 0) by which every outcome of training breaks it."""

    @property
    def reason(self) -> str | None:
        """Why the design is infeasible before training, or None."""
        if not self.violations:
            return None
        parts = []
        for col, amount in self.violations.items():
            where = (
                f"= {self.exact[col]:.6g}"
                if col in self.exact
                else "in [{:.6g}, {:.6g}]".format(*self.bounds[col])
            )
            parts.append(f"{col} {where} breaks its constraint by {amount:.6g}")
        return "infeasible before training: " + "; ".join(parts)

    def precomputed(self, columns: Sequence[str]) -> list[str]:
        """Which of ``columns`` (objectives and constraints) were computed before training."""
        return [c for c in dict.fromkeys(columns) if c in self.exact]


def training_free_cost(
    point: DesignPoint, data: Dataset
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """(exact, bounded) cost columns of ``point`` on ``data``'s input shape, before training."""
    torch.manual_seed(point.seed)
    analog = point.analog_config()
    with torch.no_grad():
        model = build_network(point.network_config(data.in_shape, data.classes), analog)
        shapes = layer_shapes(model, torch.zeros((2, *data.in_shape)))
    device = analog_layers(model)[0].device_spec
    extremes = list(_TRAINING_EXTREMES)
    if point.train_config().mode in OFF_CHIP:  # off-chip modes only program: no reads, no digital state
        extremes = [{**e, "train_samples": 0, "digital_state_bits_per_weight": 0.0} for e in extremes]
    cost = point.cost_config()
    rows = {
        side: [
            dataclasses.asdict(hardware_cost(analog, device, shapes, reads=reads, cost=cost, **e))
            for e in extremes
        ]
        for side, reads in enumerate(read_extremes(len(shapes), device, cost, analog.dac_bits))
    }
    exact: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for name in rows[0][0]:
        at_g = {g: {float(r[name]) for r in rs} for g, rs in rows.items()}
        if any(len(v) > 1 for v in at_g.values()):
            continue  # moves with writes, training samples or digital state: needs training
        lo, hi = sorted(v.pop() for v in at_g.values())
        if lo == hi:
            exact[name] = lo
        else:
            bounds[name] = (lo, hi)
    return exact, bounds


def read_extremes(
    layers: int, device: DeviceSpec, cost: CostConfig, dac_bits: int | None
) -> tuple[list[LayerReads], list[LayerReads]]:
    """The cell reads that charge least and most, before training: a layer's mean device between 0
    and g_max (devices are programmed or trained to at most g_max and stuck at g_min or g_max;
    programming noise is zero-mean and clipped only at 0, which lifts devices near 0 by well under
    g_max − g_min at the largest ``prog_noise_scale``), and the input duty anywhere in [0, 1] when
    it will be measured, else the fixed ``input_duty`` (also for inputs without a DAC)."""
    fixed = cost.input_duty_source is InputDutySource.FIXED or dac_bits is None
    lo, hi = (cost.input_duty, cost.input_duty) if fixed else (0.0, 1.0)
    return [LayerReads(lo, 0.0)] * layers, [LayerReads(hi, 2.0 * device.g_max_us)] * layers


def precheck(point: DesignPoint, data: Dataset, constraints: Sequence[Constraint]) -> PreCheck:
    """The training-free columns of ``point`` and the constraints they break whatever training does."""
    exact, bounds = training_free_cost(point, data)
    violations = {}
    for c in constraints:
        if c.column in exact:
            amount = c.violation(exact[c.column])
        elif c.column in bounds:
            amount = min(c.violation(v) for v in bounds[c.column])  # the most favourable outcome
        else:
            continue
        if amount > 0 or math.isnan(amount):
            violations[c.column] = amount
    return PreCheck(exact, bounds, violations)


log = logging.getLogger(__name__)


def screen(point: DesignPoint, datasets: Mapping[str, Dataset], space: SearchSpace) -> PreCheck | None:
    """The driver's pre-check of a sampled point; None when it cannot be made here (the dataset is
    not loaded on the driver, or the network cannot be built: the trial then fails with its reason)."""
    data = datasets.get(point.dataset)
    if data is None:
        return None
    try:
        return precheck(point, data, space.constraints)
    except Exception as exc:  # the worker reports the same error as the trial's failure
        log.debug("pre-check of %s skipped: %s", point, exc)
        return None


def targets(space: SearchSpace) -> list[str]:
    """The objectives and constraint columns of ``space``, in order."""
    return list(dict.fromkeys([*(o.name for o in space.objectives), *(c.column for c in space.constraints)]))


def infeasible_record(
    point: DesignPoint, ctx: TrialContext, pre: PreCheck, space: SearchSpace
) -> TrialRecord:
    """The row of a design the pre-check rejects: every training-free column, the reason, no training."""
    now = datetime.now(UTC)
    metrics: dict[str, object] = {k: v for k, v in pre.exact.items() if k in COLUMNS}
    metrics["precomputed"] = ",".join(pre.precomputed(targets(space)))
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status=Status.INFEASIBLE.value,
        point=point,
        metrics=metrics,
        error=pre.reason,
        datetime_start=now,
        datetime_complete=now,
        wall_seconds=0.0,
    )
