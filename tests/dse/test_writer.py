"""Group commit of result rows on the writer thread, against a real Parquet store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dse.engine.writer import RowWriter
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord


def rec(n: int, **metrics: float) -> TrialRecord:
    now = datetime.now(UTC)
    return TrialRecord("s", n, "complete", DesignPoint(), {"accuracy": 0.5, **metrics}, None, 0, now, now)


def test_rows_arriving_during_a_write_share_the_next_part(tmp_path: Path) -> None:
    store, gate, writing = ResultStore(tmp_path), threading.Event(), threading.Event()

    def hold() -> None:
        writing.set()
        assert gate.wait(10)

    rows: RowWriter[str] = RowWriter(store, min_interval_s=0.0, before_write=hold)
    rows.add(rec(0), "t0")
    assert writing.wait(10)
    for n in (1, 2, 3):
        rows.add(rec(n), f"t{n}")  # the first part is still being written
    assert rows.durable() == [] and rows.due_in() == 0.0 and rows.pending
    gate.set()
    done = rows.durable(block=True)
    assert [(r.trial_number, tag) for r, tag in done] == [(0, "t0"), (1, "t1"), (2, "t2"), (3, "t3")]
    assert not rows.pending and rows.due_in() is None
    assert len(store.files()) == 2 and store.rows_on_disk() == 4
    rows.close()


def test_a_row_soon_after_a_part_waits_for_the_interval_unless_the_driver_blocks(tmp_path: Path) -> None:
    store, now = ResultStore(tmp_path), [1000.0]
    rows: RowWriter[int] = RowWriter(store, min_interval_s=30.0, clock=lambda: now[0])
    rows.add(rec(0), 0)  # the first part starts at t = 1000 s
    assert [r.trial_number for r, _ in rows.durable(block=True)] == [0]
    now[0] = 1000.25
    rows.add(rec(1), 1)
    rows.add(rec(2), 2)
    assert rows.durable() == [] and rows.due_in() == 29.75
    now[0] = 1029.5
    assert rows.durable() == [] and rows.due_in() == 0.5
    assert [r.trial_number for r, _ in rows.durable(block=True)] == [1, 2]  # the driver blocks: now
    assert len(store.files()) == 2 and rows.due_in() is None
    rows.add(rec(3), 3)
    now[0] = 1029.5 + 30.0  # a whole interval after the last part's start: written without blocking
    rows.add(rec(4), 4)
    assert rows.due_in() == 0.0  # in flight
    assert [r.trial_number for r, _ in rows.durable(block=True)] == [3, 4]
    rows.close()


def test_a_failed_write_raises_and_its_rows_are_never_reported_durable(tmp_path: Path) -> None:
    rows: RowWriter[int] = RowWriter(ResultStore(tmp_path), min_interval_s=0.0)
    rows.add(rec(0, not_a_column=1.0), 0)
    with pytest.raises(KeyError, match="outside the schema"):
        rows.durable(block=True)
    assert ResultStore(tmp_path).rows_on_disk() == 0
    rows.close()


def test_the_hook_runs_before_each_part_is_written(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    seen: list[int] = []
    rows: RowWriter[int] = RowWriter(
        store, min_interval_s=0.0, before_write=lambda: seen.append(store.rows_on_disk())
    )
    for n in range(3):
        rows.add(rec(n), n)
        rows.durable(block=True)
    assert seen == [0, 1, 2]
    rows.close()


def test_close_writes_what_is_still_queued(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    rows: RowWriter[int] = RowWriter(store, min_interval_s=30.0)
    rows.add(rec(0), 0)
    rows.add(rec(1), 1)  # held back by the interval
    rows.close()  # the driver stopped (say, on Ctrl-C): recovery tells trial 1 from its row
    assert store.rows_on_disk() == 2
