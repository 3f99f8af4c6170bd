"""The lease rules at their edges, on a real in-memory Optuna study with an injected clock: when a heartbeat
is written, exactly when a silent driver counts as dead, and how recorded rows are told to Optuna."""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from dse.engine import lease
from dse.engine.lease import PRECHECK_ATTR, DriverLease, finite, tell_infeasible, tell_row
from dse.engine.space import Constraint, SearchSpace
from dse.schema.record import Direction, Objective


class Clock:
    """``time.time`` as the lease module sees it, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(1_000_000.0)
    monkeypatch.setattr(lease, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize", "minimize"])


SPACE = SearchSpace(
    name="s",
    domains=(),
    objectives=(
        Objective("accuracy", Direction.MAXIMIZE),
        Objective("energy_per_inference_pj", Direction.MINIMIZE),
    ),
    constraints=(Constraint("area_mm2", "<=", 2.0), Constraint("tops_per_w", ">=", 10.0)),
)


# --- heartbeats ----------------------------------------------------------------------------------------


def test_a_driver_id_names_its_host_and_process(study: optuna.Study) -> None:
    host, pid, tag = DriverLease(study).id.split(":")
    assert host == socket.gethostname() and pid == str(os.getpid()) and len(tag) == 6
    assert DriverLease(study).id != DriverLease(study).id  # two drivers in one process differ


def test_the_heartbeat_is_written_at_once_then_at_most_every_interval(
    study: optuna.Study, clock: Clock
) -> None:
    me = DriverLease(study)
    key = f"driver:{me.id}"
    assert study.user_attrs[key] == 1_000_000.0 and me.last == 1_000_000.0
    clock.now += lease.HEARTBEAT_EVERY_S - 0.5
    assert me.beat() is False and study.user_attrs[key] == 1_000_000.0
    clock.now += 0.5  # exactly one interval after the last beat
    assert me.beat() is True and study.user_attrs[key] == clock.now and me.last == clock.now
    clock.now += 1.0
    assert me.beat(force=True) is True and study.user_attrs[key] == clock.now


def test_a_silent_driver_is_alive_for_exactly_the_lease_timeout(study: optuna.Study, clock: Clock) -> None:
    me = DriverLease(study)
    study.set_user_attr("driver:elsewhere:13:abcdef", clock.now)
    clock.now += lease.LEASE_TIMEOUT_S
    assert me.is_alive("elsewhere:13:abcdef") and me.live_peers()
    clock.now += 0.001
    assert not me.is_alive("elsewhere:13:abcdef") and not me.live_peers()
    attrs = {"driver:elsewhere:13:abcdef": clock.now}  # a fresh read the caller passes in wins
    assert me.is_alive("elsewhere:13:abcdef", attrs) and me.live_peers(attrs)


def test_ids_of_any_shape_and_heartbeats_that_are_not_times(study: optuna.Study, clock: Clock) -> None:
    me = DriverLease(study)
    attrs = {"driver:nohost": clock.now, f"driver:{socket.gethostname()}:notapid:x": clock.now}
    assert me.is_alive("nohost", attrs)  # no pid to check: the heartbeat decides
    assert me.is_alive(f"{socket.gethostname()}:notapid:x", attrs)
    assert me.is_alive(
        f"{socket.gethostname()}:{os.getpid()}:other",
        {f"driver:{socket.gethostname()}:{os.getpid()}:other": clock.now},
    )
    assert not me.is_alive("nobeat", attrs)
    assert not me.is_alive("text", {"driver:text": "yesterday"})
    assert me.is_alive("int", {"driver:int": int(clock.now)})


def test_own_and_ownerless_trials(study: optuna.Study, clock: Clock) -> None:
    me = DriverLease(study)
    mine = study.ask()
    mine.set_user_attr("driver", me.id)
    frozen = study.get_trials(deepcopy=False)[mine.number]
    assert not me.is_stale(frozen, {})  # never its own, whatever the heartbeats say
    study.ask()
    ownerless = study.get_trials(deepcopy=False)[-1]
    assert me.is_stale(ownerless)  # no other driver alive: its driver died between ask and stamp
    study.set_user_attr("driver:elsewhere:1:abcdef", clock.now)
    assert not me.is_stale(ownerless)  # a live peer may be about to stamp it
    undated = optuna.trial.FrozenTrial(  # a RUNNING trial whose start was never recorded
        number=9, state=TrialState.RUNNING, value=None, datetime_start=None, datetime_complete=None,
        params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=9,
    )  # fmt: skip
    assert me.is_stale(undated)  # even with a live peer: it is no fresh ask


# --- telling rows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (0.5, True), (-2.0, True), (True, False), (False, False), (math.nan, False),
     (math.inf, False), (-math.inf, False), (None, False), ("1.0", False)],
)  # fmt: skip
def test_finite_means_a_real_finite_number(value: object, ok: bool) -> None:
    assert finite(value) is ok


def test_a_complete_row_is_told_with_its_values_and_constraint_violations(study: optuna.Study) -> None:
    trial = study.ask()
    row = {
        "status": "complete",
        "accuracy": 0.9,
        "energy_per_inference_pj": 3,
        "area_mm2": 2.5,
        "tops_per_w": 12.0,
    }
    assert tell_row(study, trial, SPACE, row) is True
    told = study.trials[trial.number]
    assert told.state is TrialState.COMPLETE and told.values == [0.9, 3.0]
    assert (
        told.system_attrs["constraints:area_mm2"] == 0.5
        and told.system_attrs["constraints:tops_per_w"] == -2.0
    )


@pytest.mark.parametrize(
    "row",
    [
        {"status": "complete", "accuracy": math.nan, "energy_per_inference_pj": 3.0},
        {"status": "complete", "accuracy": 0.9},
        {"status": "failed", "accuracy": 0.9, "energy_per_inference_pj": 3.0},
        {"status": "stopped", "accuracy": math.nan, "energy_per_inference_pj": 3.0},
    ],
)
def test_a_row_without_every_objective_or_not_complete_is_told_failed(study: optuna.Study, row: dict) -> None:
    trial = study.ask()
    assert tell_row(study, trial, SPACE, row) is False
    assert study.trials[trial.number].state is TrialState.FAIL
    assert "constraints:area_mm2" not in study.trials[trial.number].system_attrs


def test_a_stopped_row_is_told_complete_at_its_last_rungs_values(study: optuna.Study) -> None:
    """Multi-fidelity: a trial stopped at a rung teaches the sampler its low-fidelity values."""
    trial = study.ask()
    row = {"status": "stopped", "accuracy": 0.6, "energy_per_inference_pj": 3.0, "epochs_done": 1}
    row |= {"area_mm2": 1.0, "tops_per_w": 20.0}
    assert tell_row(study, trial, SPACE, row) is True
    told = study.trials[trial.number]
    assert told.state is TrialState.COMPLETE and told.values == [0.6, 3.0]
    assert "epochs_done" not in told.user_attrs  # SPACE has no fidelity
    fidelity = dataclasses.replace(SPACE, fidelity="epochs")
    trial = study.ask()
    assert tell_row(study, trial, fidelity, row) is True
    assert study.trials[trial.number].user_attrs["epochs_done"] == 1


def test_a_recovered_trial_is_told_by_number(study: optuna.Study) -> None:
    number = study.ask().number
    row = {"status": "complete", "accuracy": 0.5, "energy_per_inference_pj": 1.0, "area_mm2": 1.0}
    assert tell_row(study, number, SPACE, row) is True
    assert study.trials[number].values == [0.5, 1.0] and study.trials[number].system_attrs == {}


def test_an_infeasible_row_is_told_complete_with_the_worst_values_and_its_violations(
    study: optuna.Study,
) -> None:
    """area_mm2: stamped by the pre-check (3.0, not the row's 1.0); tops_per_w: from the row (10 − 4 = 6);
    the objectives: energy known before training, accuracy the worst (−inf, maximised)."""
    trial = study.ask()
    trial.set_user_attr(PRECHECK_ATTR, {"area_mm2": 3.0})
    row = {"status": "infeasible", "area_mm2": 1.0, "tops_per_w": 4.0, "energy_per_inference_pj": 7.0}
    assert tell_row(study, trial, SPACE, row) is False
    told = study.trials[trial.number]
    assert told.state is TrialState.COMPLETE and told.values == [-math.inf, 7.0]
    assert (
        told.system_attrs["constraints:area_mm2"] == 3.0
        and told.system_attrs["constraints:tops_per_w"] == 6.0
    )


def test_an_infeasible_row_without_values_counts_unknown_constraints_as_met(study: optuna.Study) -> None:
    trial = study.ask()
    tell_infeasible(study, trial, SPACE, {"status": "infeasible", "accuracy": math.nan})
    told = study.trials[trial.number]
    assert told.values == [-math.inf, math.inf]
    assert (
        told.system_attrs["constraints:area_mm2"] == 0.0
        and told.system_attrs["constraints:tops_per_w"] == 0.0
    )


def test_telling_a_settled_infeasible_trial_keeps_its_outcome(study: optuna.Study) -> None:
    trial = study.ask()
    study.tell(trial.number, state=TrialState.FAIL)  # another driver took it over
    tell_infeasible(study, trial, SPACE, {"status": "infeasible", "area_mm2": 5.0})
    assert study.trials[trial.number].state is TrialState.FAIL


@pytest.mark.parametrize("tz", [None, UTC, timezone(timedelta(hours=-5))])
def test_the_age_of_a_start_time_with_or_without_a_time_zone(tz: tzinfo | None) -> None:
    """Optuna stamps naive local times; an aware one (another storage) must not raise or shift by hours."""
    start = datetime.now(tz) - timedelta(hours=1)
    assert 3600 <= lease._age_s(start) < 3600 + 600  # the margin only absorbs a slow machine
