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


def test_drivers_starting_together_recover_a_dead_trial_once_under_the_budget_lock(
    pg_url: str, tiny_space, tmp_path: Path
) -> None:
    """A dead driver's RUNNING trial is settled under the study's budget lock: two drivers started while
    the test holds that lock both wait in PostgreSQL before touching it (on PostgreSQL ``batch()`` locks
    nothing, so without the lock both could fail it and re-enqueue its design); once released, the design
    is re-enqueued exactly once and the study ends at its exact budget."""
    import socket
    import threading
    import time
    from datetime import UTC, datetime

    import sqlalchemy
    from optuna.trial import TrialState

    from dse.engine.budget import REQUEUED, TAKEN, AdvisoryLock, Budget, budget_used
    from dse.engine.data import load_dataset
    from dse.engine.executor import LocalExecutor
    from dse.engine.space import load_space
    from dse.engine.study import open_storage, open_study, run_study, suggest
    from dse.schema.record import TrialRecord
    from tests.dse.test_lease import dead_pid

    def instant(point, data, ctx) -> TrialRecord:  # type: ignore[no-untyped-def]
        now = datetime.now(UTC)
        metrics = {"accuracy": 0.5 + point.adc_bits / 100, "energy_per_inference_pj": float(point.tile_size)}
        return TrialRecord(ctx.study, ctx.trial_number, "complete", point, metrics, None, 0, now, now)

    space, out = load_space(tiny_space(name="pg_recover", trials=4)), tmp_path / "out"
    study = open_study(space, open_storage(out, pg_url), pg_url)
    dead_driver = f"{socket.gethostname()}:{dead_pid()}:abcdef"  # its process is gone; its heartbeat is not
    study.set_user_attr(f"driver:{dead_driver}", time.time())
    budget = Budget(study, space.trials, pg_url)
    with budget.turn():  # asked as a driver asks: it takes one unit of the budget
        trial = study.ask()
        budget.asked(trial)
    budget.close()
    trial.set_user_attr("driver", dead_driver)
    suggest(trial, space)  # the dead driver's design, as its driver asked it
    dead = study.trials[trial.number]

    held = AdvisoryLock(pg_url, space.name)  # the lock each driver's budget takes
    unsigned = held.key & (2**64 - 1)  # PostgreSQL shows a bigint key as classid (high) and objid (low)
    queued = sqlalchemy.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid::bigint = :hi AND objid::bigint = :lo"
    )
    watcher = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
    errors: list[BaseException] = []

    def driver() -> None:
        try:
            run_study(space, LocalExecutor(load_dataset("digits"), trial_fn=instant), out, pg_url, workers=2)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    drivers = [threading.Thread(target=driver) for _ in range(2)]
    try:
        with held.held():
            for thread in drivers:
                thread.start()
            deadline = time.monotonic() + 120
            with watcher.connect() as conn:
                while conn.execute(queued, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).scalar() != 2:
                    assert not errors, errors
                    assert time.monotonic() < deadline, "the drivers never waited for the budget lock"
                    time.sleep(0.02)
            trials = study.get_trials(deepcopy=False)
            assert [t.state for t in trials] == [TrialState.RUNNING]  # not failed, nothing re-enqueued yet
    finally:  # release the lock, and let the drivers finish before the server stops
        held.close()
        watcher.dispose()
        for thread in (t for t in drivers if t.ident is not None):  # started
            thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in drivers), "a driver never finished"
    assert not errors, errors
    trials = study.get_trials(deepcopy=False)
    copies = [t for t in trials if t.user_attrs.get(REQUEUED) == dead.number]
    assert len(copies) == 1 and copies[0].params == dead.params and copies[0].state is TrialState.COMPLETE
    assert trials[dead.number].state is TrialState.FAIL
    assert len(trials) == space.trials + 1  # the budget's trials and the dead driver's failure
    assert budget_used(study) == space.trials and study.user_attrs[TAKEN] == space.trials
    df = ResultStore(out).read()
    assert sorted(df["trial_number"]) == sorted(t.number for t in trials if t.number != dead.number)
