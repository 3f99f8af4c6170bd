"""Append-only Parquet store: immutable part files, one per finished trial or group of trials.

``append`` writes its records to a temp file whose name does not end in ``.parquet``
(readers' globs never see it), fsyncs it, then ``os.replace``s it into place, so a
crash leaves either a whole part or none. ``read`` unifies the parts' schemas with the
current one by column name, so parts written by older versions stay readable.

A part that cannot be read (truncated, a corrupt footer, zero bytes) is skipped by every
reader with one :class:`DamagedPartWarning` naming it; :meth:`ResultStore.compact` moves it
into ``<study>/_damaged/`` (a folder Parquet readers ignore) and never deletes it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse.schema.record import SCHEMA_VERSION, TrialRecord, arrow_schema

__all__ = ["SCHEMA_VERSION", "DamagedPartWarning", "ResultStore", "TrialRecord", "load"]

PENDING = "_compact.pending"
"""The note of a compaction in progress (``_``: dataset readers skip it); older notes were
``compact.pending``."""
DAMAGED = "_damaged"
"""Folder of the study (beside ``trials/``) that :meth:`ResultStore.compact` moves damaged parts into."""
TEMP_GLOB = ".tmp-*.partial"
"""Names of files being written; readers' ``*.parquet`` globs never match them."""

DAMAGE_ERRORS: tuple[type[BaseException], ...] = (pa.ArrowException, OSError, ValueError)
"""What pyarrow raises on a part it cannot decode (ArrowInvalid is also a ValueError)."""


class DamagedPartWarning(UserWarning):
    """A Parquet part could not be read and was skipped; the message names it and the reason."""


def warn_damaged(damaged: Mapping[Path, str], action: str = "skipped") -> None:
    """One warning naming every damaged part (``{path: reason}``) and what was done with it."""
    if not damaged:
        return
    listed = "; ".join(f"{path} ({reason})" for path, reason in damaged.items())
    hint = f"; `dse compact` moves them into {DAMAGED}/" if action == "skipped" else ""
    warnings.warn(
        f"{len(damaged)} damaged Parquet part(s) {action}: {listed}{hint}", DamagedPartWarning, stacklevel=3
    )


def damage_reason(err: BaseException) -> str:
    """The first line of a reader's error, for the warning."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class ResultStore:
    """The Parquet folder of one study: ``<root>/trials/*.parquet``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.parts = self.root / "trials"

    def append(self, records: Iterable[TrialRecord]) -> Path | None:
        """Write the records as one part file, atomically. Returns its path (None if no records)."""
        recs = list(records)
        if not recs:
            return None
        self.parts.mkdir(parents=True, exist_ok=True)
        sch = arrow_schema()
        rows = [rec.to_row() for rec in recs]
        unknown = set().union(*rows) - set(sch.names)
        if unknown:
            raise KeyError(f"record has columns outside the schema: {sorted(unknown)}")
        table = pa.Table.from_pylist(rows, schema=sch)
        tag = uuid.uuid4().hex[:8]
        numbers = sorted(rec.trial_number for rec in recs)
        if len(recs) == 1:
            name = f"trial-{numbers[0]:07d}-a{recs[0].attempt}-{tag}.parquet"
        else:
            name = f"trials-{numbers[0]:07d}-{numbers[-1]:07d}-{tag}.parquet"
        final, tmp = self.parts / name, self.parts / f".tmp-{tag}.partial"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.parts)
        return final

    def rows_on_disk(self) -> int:
        """Rows in the part files, from their footers: duplicates (a row a compaction has copied
        but not yet deleted) count twice, which :meth:`read` would return once. A part whose
        footer cannot be read is skipped with a :class:`DamagedPartWarning`."""
        rows, damaged = 0, {}
        for f in self.files():
            try:
                rows += pq.read_metadata(f).num_rows
            except DAMAGE_ERRORS as err:
                damaged[f] = damage_reason(err)
        warn_damaged(damaged)
        return rows

    def files(self) -> list[Path]:
        """The finished part files, in name order."""
        return sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []

    def read(self) -> pd.DataFrame:
        """Every row, with the current schema's columns (plus any extra ones parts carry).

        A row is identified by (trial_number, attempt); if an interrupted :meth:`compact` left
        a row in two files, it is returned once. Damaged parts are skipped with one
        :class:`DamagedPartWarning` naming them.
        """
        self._finish_compaction()
        sch = arrow_schema()
        parts, damaged = self._read_parts()
        warn_damaged(damaged)
        tables = list(parts.values())
        if not tables:
            return sch.empty_table().to_pandas()
        merged = pa.concat_tables([sch.empty_table(), *tables], promote_options="default")
        df = merged.to_pandas().sort_values(["trial_number", "attempt"], kind="stable")
        return df.drop_duplicates(["trial_number", "attempt"]).reset_index(drop=True)

    def compact(self, max_rows: int = 100_000) -> tuple[int, int]:
        """Merge part files into parts of up to ``max_rows`` rows; readers see the same rows.

        Crash-safe: the merged parts are staged under temp names and fsynced, then a
        ``compact.pending`` note (itself written atomically) names them and the parts they
        replace; moving them into place and deleting the old parts follow. A crash after the
        note is rolled forward by the next :meth:`read` or :meth:`compact`; rows in both an old
        and a new part meanwhile are read once. Damaged parts are first moved into
        ``<study>/_damaged/`` (never deleted; one :class:`DamagedPartWarning` names them).
        Returns (parts before, parts after), damaged parts counted before but not after.

        Raises:
            ValueError: if ``max_rows`` < 1.
        """
        if max_rows < 1:
            raise ValueError(f"max_rows must be a whole number >= 1, got {max_rows!r}")
        self._finish_compaction()
        before = len(self.files())
        parts, damaged = self._read_parts()
        self._move_aside(damaged)
        if len(parts) <= 1:
            return before, len(self.files())
        table = pa.concat_tables(list(parts.values()), promote_options="default")
        table = table.sort_by([("trial_number", "ascending"), ("attempt", "ascending")])
        staged = []
        for offset in range(0, table.num_rows, max_rows):
            tag = uuid.uuid4().hex[:8]
            tmp = self.parts / f".tmp-{tag}.partial"
            with open(tmp, "wb") as fh:
                pq.write_table(table.slice(offset, max_rows), fh)
                fh.flush()
                os.fsync(fh.fileno())
            staged.append([tmp.name, f"compact-{tag}.parquet"])
        note = {"staged": staged, "replaces": [f.name for f in parts]}
        _write_atomic(self.parts / PENDING, json.dumps(note).encode())
        self._finish_compaction()
        return before, len(self.files())

    def sweep(self, min_age_s: float = 60.0) -> int:
        """Delete leftover temp files (``.tmp-*.partial``: a writer killed mid-write) in ``trials/``;
        returns how many.

        A noted compaction is rolled forward first, so its staged parts are never swept. Files
        modified less than ``min_age_s`` ago are kept: another driver appending to the same
        study may be writing one right now (a part takes milliseconds).
        """
        self._finish_compaction()
        if not self.parts.is_dir():
            return 0
        cutoff = time.time() - min_age_s
        swept = 0
        for tmp in self.parts.glob(TEMP_GLOB):
            try:
                if tmp.stat().st_mtime <= cutoff:
                    tmp.unlink()
                    swept += 1
            except FileNotFoundError:  # finished (renamed) or swept by someone else meanwhile
                continue
        if swept:
            _fsync_dir(self.parts)
        return swept

    def _read_parts(self) -> tuple[dict[Path, pa.Table], dict[Path, str]]:
        """Every readable part's table, and the damaged parts with the reason each failed."""
        tables: dict[Path, pa.Table] = {}
        damaged: dict[Path, str] = {}
        for f in self.files():
            try:
                tables[f] = _read_part(f)
            except DAMAGE_ERRORS as err:
                damaged[f] = damage_reason(err)
        return tables, damaged

    def _move_aside(self, damaged: Mapping[Path, str]) -> None:
        """Move damaged parts into ``<study>/_damaged/`` (a name already there gets a suffix)."""
        if not damaged:
            return
        folder = self.root / DAMAGED
        folder.mkdir(exist_ok=True)
        for path in damaged:
            target = folder / path.name
            if target.exists():
                target = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
            os.replace(path, target)
        _fsync_dir(folder)
        _fsync_dir(self.parts)
        warn_damaged(damaged, action=f"moved into {folder}")

    def _finish_compaction(self) -> None:
        """Roll a noted compaction forward (after a crash: on the next call): move every staged
        part into place, then delete the parts they replace."""
        pending = next(
            (p for p in (self.parts / PENDING, self.parts / "compact.pending") if p.is_file()), None
        )
        if pending is None:
            return
        note = json.loads(pending.read_text())
        if isinstance(note, list):  # an older note: only the parts to delete, nothing staged
            note = {"staged": [], "replaces": note}
        for tmp, final in note["staged"]:
            if (self.parts / tmp).exists():
                os.replace(self.parts / tmp, self.parts / final)
        _fsync_dir(self.parts)
        for name in note["replaces"]:
            (self.parts / name).unlink(missing_ok=True)
        pending.unlink()
        _fsync_dir(self.parts)


def _read_part(path: Path) -> pa.Table:
    """One part file (``ParquetFile.read`` is ~1.6× faster than ``read_table`` on small parts)."""
    with pq.ParquetFile(path) as part:
        return part.read()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: temp file, fsync, ``os.replace``, fsync the folder."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}.partial")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: str | Path) -> pd.DataFrame:
    """All trial rows of a results folder as a DataFrame (the Python API: ``dse.load``)."""
    return ResultStore(path).read()
