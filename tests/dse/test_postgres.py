"""Optuna storage on a real PostgreSQL server: one driver, then two drivers sharing a study."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from dse.results.store import ResultStore
from tests.drivers import dse_driver
from tests.postgres import NoPostgres, postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except NoPostgres as exc:
        print(f"\nPostgreSQL tests skipped: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")


def dse_run(space: Path, out: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return dse_driver(space, out, "--storage", url, *extra)


def test_a_study_on_postgres(pg_url: str, tiny_space, tmp_path: Path) -> None:
    proc = dse_run(tiny_space(name="pg_one", trials=3), tmp_path / "out", pg_url)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    study = optuna.load_study(study_name="pg_one", storage=pg_url)
    assert len(study.trials) == 3 and study.metric_names == ["accuracy", "energy_per_inference_pj"]
    assert sorted(ResultStore(tmp_path / "out").read()["trial_number"]) == [0, 1, 2]


@pytest.mark.parametrize("drivers", [2, 3])
def test_drivers_share_an_exact_budget(pg_url: str, tiny_space, tmp_path: Path, drivers: int) -> None:
    name = f"pg_exact_{drivers}"
    space, out = tiny_space(name=name, trials=6), tmp_path / "shared"
    procs = [dse_run(space, out, pg_url, "--no-cache") for _ in range(drivers)]
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name=name, storage=pg_url)
    assert len(study.trials) == 6
    assert sum(t.state.is_finished() for t in study.trials) == 6
    assert study.user_attrs["budget:taken"] == 6
    df = ResultStore(out).read()
    assert sorted(df["trial_number"]) == list(range(6))


def test_the_budget_lock_makes_a_second_driver_wait_for_the_first(pg_url: str) -> None:
    """Two drivers' budget turns on one study: the second blocks in PostgreSQL until the first
    releases (seen as an ungranted advisory lock in pg_locks); another study's lock does not wait."""
    import threading
    import time

    import sqlalchemy

    from dse.engine.budget import AdvisoryLock

    first, second, other = (AdvisoryLock(pg_url, s) for s in ("locked", "locked", "another"))
    order: list[str] = []
    waiting = sqlalchemy.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    watcher = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)

    def take_second() -> None:
        with second.held():
            order.append("second")

    try:
        with first.held():
            order.append("first")
            with other.held():  # a different study's key: granted at once
                order.append("other")
            thread = threading.Thread(target=take_second)
            thread.start()
            deadline = time.monotonic() + 30
            with watcher.connect() as conn:
                while conn.execute(waiting).scalar() != 1:  # the second driver is queued in PostgreSQL
                    assert time.monotonic() < deadline, "the second holder never waited"
                    time.sleep(0.02)
            order.append("first releases")
        thread.join(timeout=30)
        assert order == ["first", "other", "first releases", "second"]
    finally:
        for lock in (first, second, other):
            lock.close()
        watcher.dispose()


def test_a_budget_on_postgres_holds_its_studys_lock_for_a_turn_only(pg_url: str) -> None:
    """In process (so ``make mutants`` sees it): a PostgreSQL budget takes the lock another driver of the
    same study would take, holds it for the turn, counts in the study and lets go on leaving the turn."""
    import sqlalchemy

    from dse.engine.budget import TAKEN, AdvisoryLock, Budget

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="budget_turn", storage=pg_url, directions=["maximize"])
    budget = Budget(study, target=2, storage_url=pg_url)
    peer = AdvisoryLock(pg_url, "budget_turn")  # the lock a second driver of this study takes
    probe = sqlalchemy.text("SELECT pg_try_advisory_lock(:k)")
    watcher = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with watcher.connect() as conn:
            with budget.turn():
                assert conn.execute(probe, {"k": peer.key}).scalar() is False  # held by the budget
                while budget.may_ask():
                    budget.asked(study.ask())
            assert conn.execute(probe, {"k": peer.key}).scalar() is True  # released
        assert budget.taken == 2 and study.user_attrs[TAKEN] == 2 and len(study.trials) == 2
    finally:
        budget.close()
        peer.close()
        watcher.dispose()
    assert budget.lock is not None and budget.lock.conn.closed
