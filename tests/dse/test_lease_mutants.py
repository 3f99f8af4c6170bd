"""The lease rules its mutation run found unchecked (issue 16), on a real in-memory Optuna study, a real
result store and an injected clock: the heartbeats a caller read decide, the ownerless grace's exact edge,
the PID probe's harmlessness, the warning a settled trial leaves, settled trials keeping their outcome, and
what :func:`recover` counts and touches."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState

from dse.engine import lease
from dse.engine.lease import DriverLease, recover, tell_infeasible, tell_row
from dse.engine.space import Constraint, SearchSpace
from dse.results.store import ResultStore
from dse.schema.record import Direction, Objective

NOW_S = 1_000_000.0
NOW = datetime(2026, 1, 1, 12, 0, 0)


class FixedNow(datetime):
    """``datetime`` as the lease module sees it, stopped at :data:`NOW` (naive, as Optuna stamps)."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return NOW if tz is None else NOW.replace(tzinfo=tz)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease, "time", SimpleNamespace(time=lambda: NOW_S))
    monkeypatch.setattr(lease, "datetime", FixedNow)


@pytest.fixture
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize", "minimize"])


OBJECTIVES = (
    Objective("accuracy", Direction.MAXIMIZE),
    Objective("energy_per_inference_pj", Direction.MINIMIZE),
)
SPACE = SearchSpace(
    name="s", domains=(), objectives=OBJECTIVES, constraints=(Constraint("area_mm2", "<=", 2.0),)
)
UNCONSTRAINED = SearchSpace(name="u", domains=(), objectives=OBJECTIVES, constraints=())
DIST = {"x": optuna.distributions.FloatDistribution(0, 1)}
FAILED = {"status": "failed", "accuracy": float("nan"), "energy_per_inference_pj": 1.0}


def owned(study: optuna.Study, owner: str | None) -> FrozenTrial:
    trial = study.ask(DIST)
    if owner is not None:
        trial.set_user_attr("driver", owner)
    return study.get_trials(deepcopy=False)[trial.number]


def started(at: datetime) -> FrozenTrial:
    """An ownerless RUNNING trial asked at ``at``."""
    return FrozenTrial(
        number=0, state=TrialState.RUNNING, value=None, datetime_start=at, datetime_complete=None,
        params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=0,
    )  # fmt: skip


# --- whose trial is stale ------------------------------------------------------------------------------


def test_the_heartbeats_the_caller_read_decide_not_a_second_read_of_the_study(
    study: optuna.Study, clock: None
) -> None:
    """``recover`` reads the heartbeats once and passes them in: the passed ones decide, both ways."""
    me = DriverLease(study)
    quiet, beating = owned(study, "elsewhere:1:abcdef"), owned(study, "elsewhere:2:abcdef")
    study.set_user_attr("driver:elsewhere:2:abcdef", NOW_S)  # only in the study, not in the caller's read
    fresh = {"driver:elsewhere:1:abcdef": NOW_S}  # only in the caller's read
    assert me.is_stale(quiet, fresh) is False and me.is_stale(beating, fresh) is True
    assert me.is_stale(quiet) is True and me.is_stale(beating) is False  # no read passed: the study's

    ownerless = started(NOW)  # asked just now
    assert me.is_stale(ownerless, fresh) is False  # a peer alive in the caller's read may stamp it
    assert me.is_stale(ownerless, {}) is True  # nobody alive in it: its driver died before the stamp


def test_an_ownerless_trial_is_a_fresh_ask_for_exactly_the_grace(study: optuna.Study, clock: None) -> None:
    me = DriverLease(study)
    peer = {"driver:elsewhere:1:abcdef": NOW_S}
    grace = timedelta(seconds=lease.OWNERLESS_GRACE_S)
    assert me.is_stale(started(NOW - grace), peer) is False  # exactly the grace old: still a fresh ask
    assert me.is_stale(started(NOW - grace - timedelta(microseconds=1)), peer) is True


# --- the PID probe -------------------------------------------------------------------------------------


def test_probing_a_live_drivers_pid_sends_it_no_signal() -> None:
    """``kill(pid, 0)`` only asks whether the process exists; any other signal would hit a live driver.
    The child restores SIGHUP's default (a test run under nohup would ignore it) and exits 0 at EOF."""
    child = subprocess.Popen(
        ["cat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    try:
        assert lease._pid_alive(child.pid) is True
    finally:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=60) == 0  # not -SIGHUP or any other signal


def test_a_process_of_another_user_counts_as_alive() -> None:
    """``kill(1, 0)`` by an unprivileged user fails with EPERM: the process exists, so its driver lives.
    Run as root, the probe runs in a forked child that drops to ``nobody`` first (the parent probes too, its
    own PID, so that mutmut, which records only in-process calls, maps this test to ``_pid_alive``)."""
    assert lease._pid_alive(os.getpid()) is True
    if os.geteuid() != 0:
        assert lease._pid_alive(1) is True
        return
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = 0 if lease._pid_alive(1) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# --- settled trials ------------------------------------------------------------------------------------


def test_a_settled_trial_leaves_one_warning_naming_it(
    study: optuna.Study, caplog: pytest.LogCaptureFixture
) -> None:
    complete = {"status": "complete", "accuracy": 0.9, "energy_per_inference_pj": 1.0, "area_mm2": 1.0}
    infeasible = {"status": "infeasible", "area_mm2": 5.0}
    one, two = study.ask(), study.ask()
    for trial in (one, two):
        study.tell(trial.number, state=TrialState.FAIL)  # another driver took it over
    with caplog.at_level(logging.WARNING, logger=lease.__name__):
        assert tell_row(study, one, SPACE, complete) is True
        tell_infeasible(study, two, SPACE, infeasible)
    tail = "was settled by another driver; its row stays in the store"
    assert caplog.messages == [f"trial {one.number} {tail}", f"trial {two.number} {tail}"]


def test_a_settled_trial_told_a_failed_row_keeps_its_values(study: optuna.Study) -> None:
    trial = study.ask()
    study.tell(trial, [0.9, 1.0])  # another driver told it from its row
    assert tell_row(study, trial, SPACE, FAILED) is False
    assert tell_row(study, trial.number, SPACE, FAILED) is False
    told = study.trials[trial.number]
    assert told.state is TrialState.COMPLETE and told.values == [0.9, 1.0]


def test_a_settled_trial_told_infeasible_in_a_space_without_constraints_keeps_its_values(
    study: optuna.Study,
) -> None:
    trial = study.ask()
    study.tell(trial, [0.9, 1.0])
    tell_infeasible(study, trial, UNCONSTRAINED, {"status": "infeasible", "energy_per_inference_pj": 7.0})
    told = study.trials[trial.number]
    assert told.state is TrialState.COMPLETE and told.values == [0.9, 1.0]


def test_a_failed_row_is_told_fail_without_optunas_cast_warning(study: optuna.Study, tmp_path: Path) -> None:
    """FAIL is told as a state: Optuna warns "could not be cast to float" only when asked to infer it."""
    trial = study.ask()
    dead = owned(study, "elsewhere:9:abcdef")  # never beat: dead, and no row
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tell_row(study, trial, SPACE, FAILED) is False
        assert recover(study, SPACE, ResultStore(tmp_path / "out"), DriverLease(study)) == 1
    assert study.trials[trial.number].state is TrialState.FAIL
    assert study.trials[dead.number].state is TrialState.FAIL


# --- recover ------------------------------------------------------------------------------------------


def test_recover_counts_and_touches_only_running_trials_of_dead_drivers(
    study: optuna.Study, tmp_path: Path
) -> None:
    dead = "elsewhere:9:abcdef"  # never beat
    done, failed = owned(study, dead), owned(study, dead)
    study.tell(done.number, [0.9, 1.0])
    study.tell(failed.number, state=TrialState.FAIL)
    me = DriverLease(study)
    live = owned(study, DriverLease(study).id)
    assert recover(study, SPACE, ResultStore(tmp_path / "out"), me) == 0
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING]  # nothing re-enqueued
    assert study.trials[live.number].state is TrialState.RUNNING


class PeerRecoversDuringRead(ResultStore):
    """The real store; while this driver reads it, a peer driver recovers the same dead trial first."""

    def __init__(self, root: Path, study: optuna.Study) -> None:
        super().__init__(root)
        self.study, self.peer = study, DriverLease(study)

    def read(self) -> pd.DataFrame:
        assert recover(self.study, SPACE, ResultStore(self.root), self.peer) == 1
        return super().read()


def test_a_dead_trial_a_peer_settled_meanwhile_keeps_its_outcome(study: optuna.Study, tmp_path: Path) -> None:
    dead = owned(study, "elsewhere:9:abcdef")
    me = DriverLease(study)
    assert recover(study, SPACE, PeerRecoversDuringRead(tmp_path / "out", study), me) == 1
    assert study.trials[dead.number].state is TrialState.FAIL
    # the peer's re-enqueued copy; recover alone would add a second, which is why run_study calls it under
    # the budget lock (test_postgres.py::test_drivers_starting_together_recover_a_dead_trial_once_...)
    copy = study.trials[dead.number + 1]
    assert copy.state is TrialState.WAITING and copy.system_attrs["fixed_params"] == dead.params
