"""Optuna's journal file, written in bursts: one lock and one write per burst of calls.

Optuna's ``JournalFileBackend`` takes the file lock, writes and fsyncs once per storage
call, and a trial makes about ten (ask, each ``suggest``, the driver stamp, tell). The
driver makes those calls in bursts, so :meth:`JournalLog.batch` holds the lock for a
burst, keeps the new log lines in memory (reads see them, in order, after the file's),
and writes them with one ``write`` when the burst ends. A burst is not fsynced: the
driver calls :meth:`JournalLog.sync` (on its writer thread) before it makes any result
row durable, which is the order recovery needs (a durable row's trial is always in the
durable journal). Appends outside a burst are written and fsynced at once.

The file format and the lock (Optuna's symlink lock on ``<file>.lock``) are Optuna's
own, so ``JournalFileBackend`` readers and writers (``optuna-dashboard``, other
drivers) share the file safely. A burst never spans a blocking wait, so other writers
wait at most for one burst. A writer killed mid-line leaves a torn last line (no newline);
readers ignore it and the next writer, holding the lock, cuts it off before appending.

Every complete line must be a journal record (a JSON object with a known ``op_code`` and a
``worker_id``). Any other complete line (garbage appended in the middle or at the end) raises
:class:`JournalCorrupt`, naming the file and the line, when the log is read: Optuna would
otherwise fail later with a JSONDecodeError or "Should not reach", or skip it silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend, JournalFileSymlinkLock

from dse.results.folder import JournalCorrupt, corrupt, parse_record

__all__ = ["BatchedJournalStorage", "JournalCorrupt", "JournalLog"]

"""The operation codes Optuna's journal replay knows."""


class JournalLog(BaseJournalBackend):
    """A journal file backend whose appends inside :meth:`batch` are group-committed.

    Appends outside a batch are written and fsynced at once, as Optuna's backend does.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch(exist_ok=True)
        self.lock = JournalFileSymlinkLock(str(path))
        self._offsets = [0]
        """Byte offset of each complete line read so far; the last entry is the end of the last one."""
        self._pending: list[tuple[bytes, dict[str, Any]]] | None = None

    @property
    def lines(self) -> int:
        """Complete lines indexed so far (in the file, not counting a batch's pending ones)."""
        return len(self._offsets) - 1

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        if self._pending is None or log_number_from < self.lines:  # in a batch the file cannot grow
            yield from self._read_file(log_number_from)
        if self._pending is not None:
            for _, log in self._pending[max(log_number_from - self.lines, 0) :]:
                yield log

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        encoded = [(json.dumps(log, separators=(",", ":")) + "\n").encode() for log in logs]
        if self._pending is not None:
            self._pending.extend((line, json.loads(line)) for line in encoded)
            return
        with self._locked():
            self._write(encoded)
            self.sync()

    def sync(self) -> None:
        """Make every line written so far durable (safe from any thread)."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock and keep appends in memory until the block ends, then commit them."""
        if self._pending is not None:
            yield
            return
        with self._locked():
            for _ in self._read_file(self.lines):  # index the file to its end: it cannot grow now
                pass
            self._pending = []
            try:
                yield
            finally:
                pending, self._pending = self._pending, None
                if pending:  # already replayed by the storage, so written even if the block raised
                    self._write([line for line, _ in pending])

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock.acquire()
        try:
            self._cut_torn_tail()
            yield
        finally:
            self.lock.release()

    def _cut_torn_tail(self) -> None:
        """Under the lock no one is writing, so a last line without its newline is a dead writer's."""
        with open(self.path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            for _ in self._read_file(self.lines):  # index every complete line
                pass
            fh.truncate(self._offsets[-1])
            os.fsync(fh.fileno())

    def _write(self, lines: list[bytes]) -> None:
        with open(self.path, "ab") as fh:
            fh.write(b"".join(lines))

    def _read_file(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """Complete lines from ``log_number_from`` on, indexing new ones as they are read.

        A line is indexed only once it parses, so a damaged line stays unread (and is reported
        again) rather than being skipped by the next read.

        Raises:
            JournalCorrupt: at the first complete line that is not a journal record.
        """
        start = min(log_number_from, self.lines)
        with open(self.path, "rb") as fh:
            fh.seek(self._offsets[start])
            data = fh.read()
        pos = 0
        number = start
        while (end := data.find(b"\n", pos)) >= 0:
            if number == self.lines or number >= log_number_from:
                try:
                    log = parse_record(data[pos:end])
                except ValueError as err:
                    raise corrupt(self.path, number + 1, err) from None
                if number == self.lines:
                    self._offsets.append(self._offsets[number] + end + 1 - pos)
                if number >= log_number_from:
                    yield log
            pos, number = end + 1, number + 1


class BatchedJournalStorage(JournalStorage):
    """Optuna's ``JournalStorage`` on a :class:`JournalLog`, with its :meth:`JournalLog.batch`."""

    def __init__(self, path: Path) -> None:
        self.log = JournalLog(path)
        super().__init__(self.log)

    def batch(self) -> AbstractContextManager[None]:
        """Group-commit the storage calls made inside the block."""
        return self.log.batch()

    def sync(self) -> None:
        """Make every committed batch durable."""
        self.log.sync()
