"""Driver leases on a real journal storage: whose RUNNING trials may be taken over, and when."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse.engine import lease
from dse.engine.budget import Budget, budget_used
from dse.engine.data import load_dataset
from dse.engine.executor import RayExecutor, Resources
from dse.engine.lease import DriverLease, recover, tell_row
from dse.engine.space import SearchSpace, load_space
from dse.engine.study import open_storage, open_study
from dse.engine.trial import TrialContext
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord


@pytest.fixture
def space(tiny_space) -> SearchSpace:
    return load_space(tiny_space())


@pytest.fixture
def study(space: SearchSpace, tmp_path: Path) -> optuna.Study:
    return open_study(space, open_storage(tmp_path / "out", None), "test", must_exist=False)


def dead_pid() -> int:
    """A PID no process on this host can have: one above the kernel's ``pid_max`` (a PID of a process
    that has exited could be handed to a new process before the lease checks it)."""
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid


def running(study: optuna.Study, owner: str | None) -> optuna.trial.FrozenTrial:
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if owner is not None:
        trial.set_user_attr("driver", owner)
    return study.get_trials(deepcopy=False)[trial.number]


def test_who_may_take_over_a_running_trial(study: optuna.Study, monkeypatch: pytest.MonkeyPatch) -> None:
    me, peer = DriverLease(study), DriverLease(study)  # a second live driver in this very process
    host = socket.gethostname()
    assert not me.is_stale(running(study, me.id))
    assert not me.is_stale(running(study, peer.id))
    assert me.is_stale(running(study, f"{host}:{dead_pid()}:abcdef"))
    assert me.is_stale(running(study, "elsewhere:12:abcdef"))  # never beat
    study.set_user_attr("driver:elsewhere:13:abcdef", time.time())
    assert not me.is_stale(running(study, "elsewhere:13:abcdef"))
    study.set_user_attr("driver:elsewhere:14:abcdef", time.time() - lease.LEASE_TIMEOUT_S - 1)
    assert me.is_stale(running(study, "elsewhere:14:abcdef"))

    # Asked a moment ago by a live peer that has not stamped it yet: the race CI caught.
    ownerless = running(study, None)
    assert not me.is_stale(ownerless)
    monkeypatch.setattr(lease, "OWNERLESS_GRACE_S", -1.0)
    assert me.is_stale(ownerless)


def test_ownerless_trials_are_taken_over_at_once_when_no_other_driver_is_alive(study: optuna.Study) -> None:
    study.set_user_attr(f"driver:{socket.gethostname()}:{dead_pid()}:abcdef", time.time())
    ownerless = running(study, None)  # its driver was killed between ask and stamp
    me = DriverLease(study)
    assert not me.live_peers() and me.is_stale(ownerless)
    peer = DriverLease(study)
    assert me.live_peers() and not me.is_stale(ownerless)
    assert peer.live_peers()


def test_recover_leaves_live_drivers_trials_and_settles_dead_ones(
    study: optuna.Study, space: SearchSpace, tmp_path: Path
) -> None:
    me, peer = DriverLease(study), DriverLease(study)
    live = running(study, peer.id)
    young = running(study, None)
    dead = running(study, f"{socket.gethostname()}:{dead_pid()}:abcdef")
    assert recover(study, space, ResultStore(tmp_path / "out"), me) == 1
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[live.number] is TrialState.RUNNING and states[young.number] is TrialState.RUNNING
    assert states[dead.number] is TrialState.FAIL
    requeued = [t for t in study.get_trials(deepcopy=False) if t.state is TrialState.WAITING]
    assert [t.user_attrs["requeued_from"] for t in requeued] == [dead.number]
    assert budget_used(study) == 3  # live, young and the re-enqueued copy; not the dead one's failure
    assert study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}).params == dead.params


def test_telling_a_trial_another_driver_settled_keeps_its_outcome(
    study: optuna.Study, space: SearchSpace
) -> None:
    trial = study.ask()
    study.tell(trial.number, state=TrialState.FAIL)  # another driver took it over
    row = {"status": "complete", "accuracy": 0.9, "energy_per_inference_pj": 1.0}
    assert tell_row(study, trial, space, row)
    assert study.trials[trial.number].state is TrialState.FAIL


def test_ray_wait_returns_empty_after_its_timeout_so_the_driver_can_beat() -> None:
    def sleepy(point: DesignPoint, data: object, ctx: TrialContext) -> TrialRecord:
        time.sleep(2.0)  # a closure, so Ray ships it by value
        raise RuntimeError("slept")

    executor = RayExecutor(load_dataset("digits"), Resources(workers=1), trial_fn=sleepy)
    try:
        executor.submit(DesignPoint(), TrialContext("t", 0))
        assert executor.wait(timeout=0.2) == []
        assert executor.in_flight == 1
        (rec,) = executor.wait()
        assert rec.trial_number == 0 and rec.status == "failed" and "slept" in (rec.error or "")
    finally:
        executor.close()


def test_the_budget_runs_re_enqueued_trials_even_when_it_is_used_up(study: optuna.Study) -> None:
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(3):
        study.tell(study.ask(dist), [1.0, 1.0])
    dead = study.ask(dist)  # a dead driver's trial: failed and re-enqueued by recover()
    study.tell(dead, state=TrialState.FAIL)
    study.enqueue_trial({"x": 0.5}, user_attrs={"requeued_from": dead.number})
    budget = Budget(study, target=4)
    with budget.turn():  # a study begun before the counter: its trials are counted once
        assert budget_used(study) == 4 and budget.taken == 4 and budget.may_ask()
        budget.asked(study.ask(dist))  # the re-enqueued trial takes no new unit
        assert not budget.may_ask()
    assert study.user_attrs["budget:taken"] == 4


def test_the_budget_counter_is_shared_by_drivers(study: optuna.Study) -> None:
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    one, two = Budget(study, target=3), Budget(study, target=3)
    with one.turn():
        for _ in range(2):
            one.asked(study.ask(dist))
    with two.turn():  # sees the first driver's two units
        assert two.taken == 2 and two.may_ask()
        two.asked(study.ask(dist))
        assert not two.may_ask()
    with one.turn():
        assert one.taken == 3 and not one.may_ask()
