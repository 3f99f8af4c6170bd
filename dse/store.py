"""Append-only Parquet store: one immutable part file per finished trial.

``append`` writes each record to a temp file whose name does not end in ``.parquet``
(readers' globs never see it), fsyncs it, then ``os.replace``s it into place, so a
crash leaves either a whole part or none. ``read`` unifies the parts' schemas with the
current one by column name, so parts written by older versions stay readable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse.point import READ_TIMES, DesignPoint
from models.cost import HardwareCost

SCHEMA_VERSION = 1
PENDING = "compact.pending"

_ARROW = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "tuple[int, ...]": pa.string(),
    "int | None": pa.int64(),
    "float | None": pa.float64(),
}

IDENTITY: list[pa.Field] = [
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("study", pa.string(), nullable=False),
    pa.field("trial_number", pa.int64(), nullable=False),
    pa.field("attempt", pa.int32()),
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("datetime_start", pa.timestamp("us", tz="UTC")),
    pa.field("datetime_complete", pa.timestamp("us", tz="UTC")),
    pa.field("worker_node", pa.string()),
    pa.field("wall_seconds", pa.float64()),
]

ACCURACY: list[pa.Field] = [
    pa.field("accuracy", pa.float64()),
    pa.field("accuracy_std", pa.float64()),
    pa.field("accuracy_fp", pa.float64()),
    *[
        pa.field(f"accuracy_t_{label}{suffix}", pa.float64())
        for label in READ_TIMES
        for suffix in ("", "_gdc")
    ],
    pa.field("train_seconds", pa.float64()),
    pa.field("calibration_seconds", pa.float64()),
    pa.field("eval_seconds", pa.float64()),
    pa.field("cache_hit", pa.bool_()),
    pa.field("extra_devices", pa.int64()),
    *[
        pa.field(f"{stat}_writes_{kind}", pa.float64())
        for kind in ("binary", "multilevel", "momentum")
        for stat in ("max", "mean")
    ],
]


def _cost_fields() -> list[pa.Field]:
    return [pa.field(f.name, _ARROW.get(str(f.type), pa.float64())) for f in dataclasses.fields(HardwareCost)]


def _param_fields() -> list[pa.Field]:
    return [pa.field(f.name, _ARROW[str(f.type)]) for f in dataclasses.fields(DesignPoint)]


def schema() -> pa.Schema:
    """The explicit schema of one trial row (identity, design, accuracy, hardware)."""
    return pa.schema(IDENTITY + _param_fields() + ACCURACY + _cost_fields())


def recorded_columns() -> set[str]:
    """Numeric columns that objectives and constraints may name."""
    return {f.name for f in schema() if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)} - {
        "schema_version",
        "trial_number",
        "attempt",
    }


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, flat: what ``run_trial`` returns and the store writes."""

    study: str
    trial_number: int
    status: str
    """'complete' or 'failed'."""
    point: DesignPoint
    metrics: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Accuracy and hardware columns (names in :func:`schema`)."""
    error: str | None = None
    attempt: int = 0
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    worker_node: str | None = None
    wall_seconds: float | None = None

    def to_row(self) -> dict[str, Any]:
        """The Parquet row: identity, every design parameter, then metrics."""
        row: dict[str, Any] = {
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
        }
        for name, value in self.point.as_dict().items():
            row[name] = json.dumps(value) if isinstance(value, list) else value
        row["tile_rows"], row["tile_cols"] = self.point.rows, self.point.cols
        row.update(self.metrics)
        return row


class ResultStore:
    """The Parquet folder of one study: ``<root>/trials/*.parquet``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.parts = self.root / "trials"

    def append(self, records: Iterable[TrialRecord]) -> list[Path]:
        """Write each record as its own part file, atomically. Returns the new paths."""
        self.parts.mkdir(parents=True, exist_ok=True)
        sch = schema()
        paths = []
        for rec in records:
            row = rec.to_row()
            unknown = set(row) - set(sch.names)
            if unknown:
                raise KeyError(f"record has columns outside the schema: {sorted(unknown)}")
            table = pa.Table.from_pylist([row], schema=sch)
            tag = uuid.uuid4().hex[:8]
            final = self.parts / f"trial-{rec.trial_number:07d}-a{rec.attempt}-{tag}.parquet"
            tmp = self.parts / f".tmp-{tag}.partial"
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            paths.append(final)
        _fsync_dir(self.parts)
        return paths

    def files(self) -> list[Path]:
        """The finished part files, in name order."""
        return sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []

    def read(self) -> pd.DataFrame:
        """Every row, with the current schema's columns (plus any extra ones parts carry).

        A row is identified by (trial_number, attempt); if an interrupted :meth:`compact` left
        a row in two files, it is returned once.
        """
        self._finish_compaction()
        self._finish_compaction()
        files = self.files()
        sch = schema()
        if not files:
            return sch.empty_table().to_pandas()
        tables = [pq.read_table(f) for f in files]
        merged = pa.concat_tables([sch.empty_table(), *tables], promote_options="default")
        df = merged.to_pandas().sort_values(["trial_number", "attempt"], kind="stable")
        return df.drop_duplicates(["trial_number", "attempt"]).reset_index(drop=True)

    def compact(self, max_rows: int = 100_000) -> tuple[int, int]:
        """Merge part files into parts of up to ``max_rows`` rows; readers see the same rows.

        Crash-safe: the merged parts are written atomically first, after a ``compact.pending``
        note of the parts they replace; those are deleted afterwards. A crash in between leaves
        duplicates only until the next :meth:`read` or :meth:`compact` finishes the deletion
        (and :meth:`read` drops them anyway). Returns (parts before, parts after).
        """
        self._finish_compaction()
        files = self.files()
        if len(files) <= 1:
            return len(files), len(files)
        table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        table = table.sort_by([("trial_number", "ascending"), ("attempt", "ascending")])
        staged = []
        for offset in range(0, table.num_rows, max_rows):
            tag = uuid.uuid4().hex[:8]
            tmp = self.parts / f".tmp-{tag}.partial"
            with open(tmp, "wb") as fh:
                pq.write_table(table.slice(offset, max_rows), fh)
                fh.flush()
                os.fsync(fh.fileno())
            staged.append((tmp, self.parts / f"compact-{tag}.parquet"))
        (self.parts / PENDING).write_text(json.dumps([f.name for f in files]))
        _fsync_dir(self.parts)
        for tmp, final in staged:
            os.replace(tmp, final)
        _fsync_dir(self.parts)
        self._finish_compaction()
        return len(files), len(self.files())

    def _finish_compaction(self) -> None:
        """Delete the parts a finished compaction replaced (after a crash: on the next call)."""
        pending = self.parts / PENDING
        if not pending.is_file():
            return
        for name in json.loads(pending.read_text()):
            (self.parts / name).unlink(missing_ok=True)
        pending.unlink()
        _fsync_dir(self.parts)

    def trial_numbers(self) -> set[int]:
        """Trial numbers already recorded (any status)."""
        files = self.files()
        if not files:
            return set()
        return set(
            pa.concat_tables([pq.read_table(f, columns=["trial_number"]) for f in files])
            .column("trial_number")
            .to_pylist()
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: str | Path) -> pd.DataFrame:
    """All trial rows of a results folder as a DataFrame (the Python API: ``dse.load``)."""
    return ResultStore(path).read()
