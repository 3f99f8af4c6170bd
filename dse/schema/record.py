"""The one record schema: every column of a trial row, with its type, unit and display name.

A trial row is flat: identity, every design parameter (from :data:`dse.schema.point.PARAMETERS`),
accuracy and training metrics, and the hardware cost (every field of
:class:`models.cost.record.HardwareCost`). The Parquet schema, the space loader's objective
check, the tables, the figures and the CLI all read :data:`COLUMNS`; read times, objective
directions and trial statuses live here too. Importing this module loads neither torch,
Optuna, Ray nor pyarrow.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dse.schema.point import PARAMETERS, READ_TIMES, DesignPoint
from models.cost.record import HardwareCost

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = 5
"""Version 2: design columns of knobs a design ignores are null; the cost knobs are columns.
Version 3: ``torch_device``, ``torch_threads``, ``repeats``, ``data_fingerprint``, and every accuracy column's
``_std``, ``_ci_low`` and ``_ci_high``. Version 4: status ``stopped``, ``epochs_done``,
``resumed_from_epochs`` and ``warning`` (multi-fidelity search). Version 5: the cell reads that ran,
``input_duty_measured``, ``cell_g_us`` and their ``_by_layer`` lists (the cost knob
``input_duty_source``)."""


class Direction(StrEnum):
    """Whether larger (maximize) or smaller (minimize) values of an objective are better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    @property
    def maximise(self) -> bool:
        """True for MAXIMIZE; the flag moocore expects."""
        return self is Direction.MAXIMIZE


@dataclass(frozen=True)
class Objective:
    """A column to optimise and its direction."""

    name: str
    direction: Direction


class Status(StrEnum):
    """What became of a trial."""

    COMPLETE = "complete"
    """Trained, evaluated and costed; every objective is finite."""
    FAILED = "failed"
    """Stopped by an error; ``error`` says why."""
    INFEASIBLE = "infeasible"
    """Breaks a constraint on a column known before training (``dse.engine.precheck``); never
    trained. ``error`` says which and by how much; the training-free columns are filled."""
    STOPPED = "stopped"
    """Multi-fidelity search stopped it at a rung below ``epochs`` (it ranked outside the top 1/η
    there): its metrics are those after ``epochs_done`` epochs. Fronts leave it out unless asked."""


READ_TIME_LABELS: dict[str, str] = {"1s": "1 s", "1h": "1 h", "1d": "1 day", "1y": "1 year"}
"""Display form of each read-time label of :data:`READ_TIMES`."""
READ_TIME_COLUMNS: tuple[str, ...] = tuple(
    f"accuracy_t_{label}{suffix}" for label in READ_TIMES for suffix in ("", "_gdc")
)
"""Accuracy at every read time, without and with global drift compensation."""
INTERVAL_SUFFIXES: tuple[str, ...] = ("_std", "_ci_low", "_ci_high")
"""Each measured accuracy column ``c`` has ``c_std`` and a 95 % interval ``c_ci_low``, ``c_ci_high``."""
INTERVAL_COLUMNS: dict[str, tuple[str, str]] = {
    c: (f"{c}_ci_low", f"{c}_ci_high") for c in ("accuracy", *READ_TIME_COLUMNS)
}
"""Accuracy column → its 95 % interval's (low, high) columns (for tables and error bars)."""
WRITE_KINDS: tuple[str, ...] = ("binary", "multilevel", "momentum", "capacitor")
"""Device types whose writes are counted apart (``max_writes_<kind>``, ``mean_writes_<kind>``)."""


@dataclass(frozen=True)
class Column:
    """One column of a trial row."""

    name: str
    dtype: str
    """'int', 'int32', 'float', 'str', 'bool' or 'timestamp'."""
    group: str
    """'identity', 'design', 'accuracy', 'training' or 'hardware'."""
    label: str
    """Display name, with the unit in parentheses where there is one."""
    unit: str = ""
    doc: str = ""
    nullable: bool = True

    @property
    def numeric(self) -> bool:
        return self.dtype in ("int", "int32", "float")


_UNITS = (
    ("_pj", "pJ"),
    ("_j", "J"),
    ("_ns", "ns"),
    ("_seconds", "s"),
    ("_s", "s"),
    ("_mm2", "mm²"),
    ("_bits", "bit"),
    ("_cycles", "cycles"),
    ("_nm", "nm"),
    ("_us", "µS"),
    ("_v", "V"),
    ("_ghz", "GHz"),
    ("_per_w", "TOPS/W"),
    ("_per_mm2", "TOPS/mm²"),
)
_LABELS: dict[str, str] = {
    "trial_number": "Trial",
    "status": "Status",
    "device": "Device",
    "mode": "Training mode",
    "model": "Model",
    "dataset": "Dataset",
    "tile_size": "Tile size",
    "tile_rows": "Tile rows",
    "tile_cols": "Tile cols",
    "adc_bits": "ADC bits",
    "dac_bits": "DAC bits",
    "update_bits": "Update bits",
    "width_mult": "Width mult.",
    "lr": "Learning rate",
    "accuracy": "Accuracy",
    "accuracy_std": "Accuracy std.",
    "accuracy_ci_low": "Accuracy, 95 % CI low",
    "accuracy_ci_high": "Accuracy, 95 % CI high",
    "repeats": "Repeats",
    "accuracy_fp": "Accuracy (FP)",
    "energy_per_inference_pj": "Energy/inference (pJ)",
    "energy_training_j": "Training energy (J)",
    "latency_per_inference_ns": "Latency/inference (ns)",
    "area_mm2": "Area (mm²)",
    "model_size_bits": "Model size (bit)",
    "max_writes_per_device": "Max. writes/device",
    "mean_writes_per_device": "Mean writes/device",
    "endurance_cycles": "Endurance (cycles)",
    "lifetime_fraction_used": "Lifetime used",
    "wall_seconds": "Wall time (s)",
    "tops_per_w": "Efficiency (TOPS/W)",
    "tops_per_mm2": "Density (TOPS/mm²)",
    "node_nm": "Node (nm)",
    "pareto_rank": "Pareto rank",
    "hypervolume": "Hypervolume",
    "hv_contribution": "HV contribution",
    "knee_distance": "Knee distance",
    **{f"accuracy_t_{k}": f"Accuracy ({v})" for k, v in READ_TIME_LABELS.items()},
    **{f"accuracy_t_{k}_gdc": f"Accuracy ({v}, GDC)" for k, v in READ_TIME_LABELS.items()},
}


def unit_of(name: str) -> str:
    """The unit a column name carries in its suffix ('' when none)."""
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def label(name: str) -> str:
    """Display name of a column: an explicit label, else the name in words with its unit."""
    if name in _LABELS:
        return _LABELS[name]
    unit = unit_of(name)
    words = name
    for suffix, u in _UNITS:
        if u == unit and name.endswith(suffix):
            words = name[: -len(suffix)]
            break
    text = re.sub(r"_+", " ", words).strip().capitalize()
    text = " ".join(_ACRONYMS.get(w.lower(), w) for w in text.split(" "))
    return f"{text} ({unit})" if unit else text


_ACRONYMS = {
    "adc": "ADC",
    "adcs": "ADCs",
    "dac": "DAC",
    "gdc": "GDC",
    "fp": "FP",
    "hv": "HV",
    "tops": "TOPS",
    "mac": "MAC",
    "macs": "MACs",
    "apt": "APT",
    "qnn": "QNN",
    "hic": "HIC",
    "ci": "CI",
}
"""Words a label spells in capitals."""


def _column(name: str, dtype: str, group: str, doc: str = "", nullable: bool = True) -> Column:
    return Column(name, dtype, group, label(name), unit_of(name), doc, nullable)


_IDENTITY = (
    _column("schema_version", "int32", "identity", "version of this schema", nullable=False),
    _column("study", "str", "identity", "study name", nullable=False),
    _column("trial_number", "int", "identity", "Optuna trial number", nullable=False),
    _column("attempt", "int32", "identity", "Ray retries before this outcome (0: first try)"),
    _column("status", "str", "identity", "complete, stopped, failed or infeasible", nullable=False),
    _column("error", "str", "identity", "why the trial failed"),
    _column("datetime_start", "timestamp", "identity", "when the trial started (UTC)"),
    _column("datetime_complete", "timestamp", "identity", "when the trial ended (UTC)"),
    _column("worker_node", "str", "identity", "Ray node that ran the trial"),
    _column("torch_device", "str", "identity", "torch device type the trial ran on (cpu or cuda)"),
    _column("torch_threads", "int32", "identity", "torch CPU threads of the trial (a replay uses as many)"),
    _column("wall_seconds", "float", "identity", "wall time of the trial"),
)
_DTYPE = {"int": "int", "float": "float", "bool": "bool", "str": "str", "choice": "str", "ints": "str"}
_DESIGN = tuple(_column(p.name, _DTYPE[p.kind], "design", p.doc) for p in PARAMETERS.values())
_INTERVAL_DOCS = (
    "population std over every repeat and chip",
    "95 % interval, low: test-set sampling and the spread between repeats (dse.engine.interval)",
    "95 % interval, high: test-set sampling and the spread between repeats (dse.engine.interval)",
)


def _with_interval(name: str, doc: str) -> tuple[Column, ...]:
    return (
        _column(name, "float", "accuracy", doc),
        *(
            _column(name + sfx, "float", "accuracy", d)
            for sfx, d in zip(INTERVAL_SUFFIXES, _INTERVAL_DOCS, strict=True)
        ),
    )


_ACCURACY = (
    *_with_interval("accuracy", "at the headline read time, mean over every repeat and chip"),
    _column(
        "accuracy_fp",
        "float",
        "accuracy",
        "the same weights read digitally (software baseline), mean over repeats",
    ),
    _column("repeats", "int", "accuracy", "training repeats (seeds seed … seed + repeats - 1)"),
    *(c for name in READ_TIME_COLUMNS for c in _with_interval(name, "mean over every repeat and chip")),
)
_TRAINING = (
    _column("train_seconds", "float", "training", "training wall time (0 on a cache hit: see cache_hit)"),
    _column("calibration_seconds", "float", "training", "apt's calibration wall time"),
    _column("eval_seconds", "float", "training", "evaluation wall time"),
    _column("cache_hit", "bool", "training", "the trained weights came from the weights cache"),
    _column(
        "eval_chip", "str", "training", "the chip evaluated: trained (on-chip modes) or fresh (programmed)"
    ),
    _column("data_fingerprint", "str", "training", "dataset name and a hash of its training split"),
    _column(
        "precomputed", "str", "training", "objectives and constraints computed before training (comma list)"
    ),
    _column("extra_devices", "int", "training", "devices beyond the weights' (in-memory momentum)"),
    _column(
        "epochs_done",
        "int",
        "training",
        "training epochs behind the row's readings: epochs, or the rung a stopped trial reached",
    ),
    _column(
        "resumed_from_epochs",
        "int",
        "training",
        "epochs loaded from the trial's checkpoint before its last rung trained (0: from scratch; "
        "null without a fidelity)",
    ),
    _column(
        "warning",
        "str",
        "training",
        "a problem the trial survived, e.g. a missing or damaged checkpoint it retrained past",
    ),
    *(
        _column(f"{stat}_writes_{kind}", "float", "training", f"{stat} writes per {kind} device")
        for kind in WRITE_KINDS
        for stat in ("max", "mean")
    ),
)
_READS = (
    _column(
        "input_duty_measured",
        "float",
        "hardware",
        "fraction of (row, input-bit) read pulses driven over the test set at the headline reading, "
        "from the DAC codes each layer converted, weighted by the layers' MACs (null: digital, no DAC)",
    ),
    _column(
        "cell_g_us",
        "float",
        "hardware",
        "conductance of a (row, column) entry's device pair on the evaluated chips as programmed, "
        "weighted by the layers' MACs (µS; null: digital)",
    ),
    _column(
        "input_duty_by_layer",
        "str",
        "hardware",
        "input_duty_measured per analog layer in forward order (comma list of exact floats)",
    ),
    _column(
        "cell_g_us_by_layer",
        "str",
        "hardware",
        "cell_g_us per analog layer in forward order (comma list of exact floats): with the duties, "
        "what the energy charged (dse cost recomputes it)",
    ),
)
_COST_DTYPE = {"int": "int", "float": "float"}
_HARDWARE = tuple(
    _column(f.name, _COST_DTYPE.get(str(f.type), "float"), "hardware")
    for f in dataclasses.fields(HardwareCost)
)

COLUMNS: dict[str, Column] = {
    c.name: c for c in (*_IDENTITY, *_DESIGN, *_ACCURACY, *_TRAINING, *_READS, *_HARDWARE)
}
"""Every column of a trial row, in order."""
METRIC_COLUMNS: frozenset[str] = frozenset(c.name for c in (*_ACCURACY, *_TRAINING, *_READS, *_HARDWARE))
"""Columns a trial computes (the rest are identity and design)."""


def objective_columns() -> set[str]:
    """Numeric columns that objectives and constraints may name."""
    return {c.name for c in COLUMNS.values() if c.numeric and c.group in ("accuracy", "training", "hardware")}


def arrow_schema() -> pa.Schema:
    """The explicit Parquet schema of one trial row."""
    import pyarrow as pa

    types = {
        "int": pa.int64(),
        "int32": pa.int32(),
        "float": pa.float64(),
        "str": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(c.name, types[c.dtype], nullable=c.nullable) for c in COLUMNS.values()])


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, flat: what ``run_trial`` returns and the store writes."""

    study: str
    trial_number: int
    status: str
    """A :class:`Status` value."""
    point: DesignPoint
    metrics: Mapping[str, Any] = field(default_factory=dict)
    """Accuracy, training and hardware columns (names in :data:`COLUMNS`)."""
    error: str | None = None
    attempt: int = 0
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    worker_node: str | None = None
    wall_seconds: float | None = None
    torch_device: str | None = None
    torch_threads: int | None = None

    def to_row(self) -> dict[str, Any]:
        """The row: identity, every design parameter (null where the design ignores it), metrics."""
        unknown = set(self.metrics) - METRIC_COLUMNS
        if unknown:
            raise KeyError(f"record has columns outside the schema: {sorted(unknown)}")
        return {
            "schema_version": SCHEMA_VERSION,
            "study": self.study,
            "trial_number": self.trial_number,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "datetime_start": self.datetime_start,
            "datetime_complete": self.datetime_complete,
            "worker_node": self.worker_node,
            "wall_seconds": self.wall_seconds,
            "torch_device": self.torch_device,
            "torch_threads": self.torch_threads,
            **self.point.as_row(),
            **self.metrics,
        }
