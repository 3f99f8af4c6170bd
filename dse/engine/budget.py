"""The study's trial budget, exact across every driver that shares the storage.

A driver asks trials in bursts (:meth:`Budget.turn`), each under the storage's own lock: the
journal file's lock, which the driver's burst already holds, or on PostgreSQL a session
advisory lock keyed by the study. The units of budget taken are a counter in the study's user
attributes (``budget:taken``), read at the start of each burst and written with each ask while
the lock is held, so two drivers never take the same last unit, and an ask costs one small
write however large the study is. Trials re-enqueued after a dead driver's (``requeued_from``)
take no new unit: their first ask took it. Other databases (MySQL, SQLite) have no lock here;
there the budget may overshoot by the number of drivers asking at the same moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

TAKEN = "budget:taken"
"""Study user attribute: units of budget taken so far, across every driver."""
EPOCHS = "budget:epochs"
"""Study user attribute: training epochs committed so far (times repeats), across every driver:
a new trial commits its first rung (its epochs without a fidelity), a promotion the epochs to the
next rung. Spent epochs were all committed first, so this is spent + committed."""
REQUEUED = "requeued_from"
"""Trial user attribute of a re-enqueued trial: the number of the trial it replaces."""


def budget_usage(trials: list[FrozenTrial]) -> tuple[int, int]:
    """(trials counted against the budget, trials waiting to be asked), from the trials alone:
    every trial but the failures of dead drivers whose parameters were re-enqueued."""
    requeued = {t.user_attrs.get(REQUEUED) for t in trials}
    used = sum(1 for t in trials if not (t.state is TrialState.FAIL and t.number in requeued))
    return used, sum(1 for t in trials if t.state is TrialState.WAITING)


def budget_used(study: optuna.Study) -> int:
    """Trials that count against the budget (see :func:`budget_usage`)."""
    return budget_usage(study.get_trials(deepcopy=False))[0]


class Budget:
    """Whether this driver may ask another trial, decided under the storage's lock."""

    def __init__(
        self, study: optuna.Study, target: int, storage_url: str | None = None, epochs: int | None = None
    ) -> None:
        self.study, self.target = study, target
        self.epochs_target = epochs
        """``[study] budget_epochs``: no new trial once this many epochs are committed (None: no limit)."""
        self.taken = self.waiting = self.epochs = 0
        self.lock = AdvisoryLock(storage_url, study.study_name) if _is_postgres(storage_url) else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the storage lock for one burst of asks (or of recovering dead drivers' trials, so two
        drivers never re-enqueue one trial twice) and read the shared count.

        On the journal file the caller already holds the lock (``BatchedJournalStorage.batch``);
        on PostgreSQL this takes the study's advisory lock for the burst.
        """
        if self.lock is None:
            self._read()
            yield
            return
        with self.lock.held():
            self._read()
            yield

    def may_ask(self) -> bool:
        """Budget left (trials, and epochs if limited), or a re-enqueued trial waiting to be run
        (other waiting trials, a grid's, take budget like sampled ones)."""
        epochs_left = self.epochs_target is None or self.epochs < self.epochs_target
        return (self.taken < self.target and epochs_left) or self.waiting > 0

    def commit_epochs(self, epochs: int) -> None:
        """Count training epochs just committed (inside :meth:`turn`, so exact across drivers)."""
        if epochs:
            self.epochs += epochs
            self.study.set_user_attr(EPOCHS, self.epochs)

    def asked(self, trial: optuna.Trial) -> None:
        """Count a trial just asked (inside :meth:`turn`). Optuna pops waiting trials first."""
        if REQUEUED in trial.user_attrs:
            self.waiting = max(0, self.waiting - 1)
            return
        self.taken += 1
        self.study.set_user_attr(TAKEN, self.taken)

    def _read(self) -> None:
        taken = self.study.user_attrs.get(TAKEN)
        if not isinstance(taken, int):  # a study begun before the counter: count its trials once
            taken = budget_usage(self.study.get_trials(deepcopy=False))[0]
            self.study.set_user_attr(TAKEN, taken)
        self.taken = taken
        epochs = self.study.user_attrs.get(EPOCHS, 0)
        self.epochs = epochs if isinstance(epochs, int) else 0
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        self.waiting = sum(1 for t in waiting if REQUEUED in t.user_attrs)

    def close(self) -> None:
        if self.lock is not None:
            self.lock.close()


def _is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


class AdvisoryLock:
    """A PostgreSQL session advisory lock on one dedicated connection, keyed by the study name."""

    def __init__(self, url: str | None, name: str) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(str(url), poolclass=sqlalchemy.pool.NullPool)
        self.conn: Any = self.engine.connect()
        self.key = int.from_bytes(
            hashlib.sha256(f"dse-budget:{name}".encode()).digest()[:8], "big", signed=True
        )

    @contextmanager
    def held(self) -> Iterator[None]:
        from sqlalchemy import text

        self.conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        try:
            yield
        finally:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()
