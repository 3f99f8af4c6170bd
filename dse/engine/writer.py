"""Group commit of result rows on a background thread.

A one-row Parquet part costs a few milliseconds of CPU (its footer describes every
column) and two fsyncs, and every reader pays again per part. Rows that arrive while a
part is being written, or within ``min_interval_s`` of the last part's start, go together
into the next part. Trials that take seconds still get a part each, at once; a burst of
quick trials shares parts, at the cost of telling Optuna up to ``min_interval_s`` later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from dse.results.store import ResultStore
from dse.schema.record import TrialRecord

T = TypeVar("T")


class RowWriter(Generic[T]):
    """Writes records to a :class:`ResultStore`, one part per group, on one thread.

    Each record travels with a caller's tag (the driver's Optuna trial), handed back by
    :meth:`durable` once the record's part is on disk.
    """

    def __init__(
        self,
        store: ResultStore,
        min_interval_s: float = 0.05,
        before_write: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        """Seconds from a monotonic origin (injected by tests, so that intervals need no sleeping)."""
        self.before_write = before_write
        """Run on the writer thread before each part: the driver makes its journal durable."""
        self.min_interval_s = min_interval_s
        self.last_start = -math.inf
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dse-store")
        self.queued: list[tuple[TrialRecord, T]] = []
        self.flight: tuple[Future[object], list[tuple[TrialRecord, T]]] | None = None

    @property
    def pending(self) -> bool:
        """Whether some record is not yet durable."""
        return bool(self.queued) or self.flight is not None

    def add(self, rec: TrialRecord, tag: T) -> None:
        """Queue a record; it is written now if no write is in flight, else with the next group."""
        self.queued.append((rec, tag))
        self._start()

    def durable(self, block: bool = False) -> list[tuple[TrialRecord, T]]:
        """Records whose part is now on disk, in order. ``block`` waits until every one is.

        A write that failed raises here, so its records are never reported durable.
        """
        out: list[tuple[TrialRecord, T]] = []
        self._start(now=block)
        while self.flight is not None and (block or self.flight[0].done()):
            future, rows = self.flight
            self.flight = None
            future.result()
            out.extend(rows)
            self._start(now=block)
        return out

    def due_in(self) -> float | None:
        """Seconds until queued records may start their write (0 if one is in flight); None if
        nothing is pending. The driver polls :meth:`durable` after that long."""
        if self.flight is not None:
            return 0.0
        if not self.queued:
            return None
        return max(0.0, self.last_start + self.min_interval_s - self.clock())

    def close(self) -> None:
        """Write what is still queued, then stop the thread. Called when the driver stops, also
        on an error: rows written but not told are told from the store on resume."""
        try:
            self.durable(block=True)
        except Exception:  # the error that stopped the driver is the one to report
            pass
        finally:
            self.pool.shutdown(wait=True)

    def _start(self, now: bool = False) -> None:
        if self.flight is not None or not self.queued:
            return
        if now or self.clock() - self.last_start >= self.min_interval_s:
            self.last_start = self.clock()
            rows, self.queued = self.queued, []
            self.flight = (self.pool.submit(self._write, [r for r, _ in rows]), rows)

    def _write(self, records: list[TrialRecord]) -> None:
        if self.before_write is not None:
            self.before_write()
        self.store.append(records)
