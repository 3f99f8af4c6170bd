"""Driver leases: which driver owns which RUNNING trial, and taking over a dead driver's trials.

Several drivers may share one study. Each driver keeps a heartbeat in the study's user
attributes and stamps every trial it asks with its id. A RUNNING trial is taken over
(told from its Parquet row, or failed and its parameters enqueued again) only when its
owner is dead: a process that no longer exists on this host, or a heartbeat older than
:data:`LEASE_TIMEOUT_S`. A trial with no owner yet (asked a moment ago, stamped a
moment later) is left alone for :data:`OWNERLESS_GRACE_S` while another driver is alive.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.engine.budget import REQUEUED
from dse.engine.space import SearchSpace
from dse.results.store import ResultStore

log = logging.getLogger(__name__)

LEASE_TIMEOUT_S = 120.0
"""A driver silent this long is presumed dead; its RUNNING trials are taken over."""
HEARTBEAT_EVERY_S = 10.0
OWNERLESS_GRACE_S = 60.0
"""A RUNNING trial without an owner is another driver's between ``ask`` and its stamp
until it is this old; after that its driver died in between."""
PRECHECK_ATTR = "precheck:violations"
"""Trial user attribute of a trial the pre-check found infeasible (``dse.engine.precheck``):
``{constraint column: violation}``, set before its row is written, so whichever driver tells
Optuna (this one, or one recovering it) tells the same violations."""


class DriverLease:
    """Identifies this driver and keeps its heartbeat in the study."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.last = 0.0
        self.beat(force=True)

    def beat(self, force: bool = False) -> bool:
        """Record that this driver is alive, at most every HEARTBEAT_EVERY_S. True if recorded."""
        now = time.time()
        if not force and now - self.last < HEARTBEAT_EVERY_S:
            return False
        self.study.set_user_attr(f"driver:{self.id}", now)
        self.last = now
        return True

    def is_stale(self, trial: FrozenTrial, attrs: dict[str, Any] | None = None) -> bool:
        """Whether this RUNNING trial's driver is dead, so this driver may take it over.

        ``attrs``: the study's user attributes (the heartbeats), read once by the caller that
        checks many trials; read here otherwise."""
        owner = trial.user_attrs.get("driver")
        if owner == self.id:
            return False
        attrs = self.study.user_attrs if attrs is None else attrs
        if owner is None:  # its driver died between ask and stamp, or is a live peer in between
            started = trial.datetime_start
            return started is None or _age_s(started) > OWNERLESS_GRACE_S or not self.live_peers(attrs)
        return not self.is_alive(str(owner), attrs)

    def is_alive(self, driver: str, attrs: dict[str, Any] | None = None) -> bool:
        """A driver on this host whose process exists, or anywhere with a recent heartbeat."""
        host, pid, _ = [*driver.split(":"), "", "", ""][:3]
        if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
            return False
        beat = (self.study.user_attrs if attrs is None else attrs).get(f"driver:{driver}")
        return isinstance(beat, int | float) and time.time() - beat <= LEASE_TIMEOUT_S

    def live_peers(self, attrs: dict[str, Any] | None = None) -> bool:
        """Whether another driver of this study is alive."""
        attrs = self.study.user_attrs if attrs is None else attrs
        peers = [k.removeprefix("driver:") for k in attrs if k.startswith("driver:")]
        return any(self.is_alive(p, attrs) for p in peers if p != self.id)


def _age_s(start: datetime) -> float:
    now = datetime.now(start.tzinfo) if start.tzinfo else datetime.now()
    return (now - start).total_seconds()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finite(value: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def tell_row(study: optuna.Study, trial: optuna.Trial | int, space: SearchSpace, row: dict[str, Any]) -> bool:
    """Tell Optuna a recorded outcome. Returns True if the trial completed.

    A ``stopped`` row (multi-fidelity search stopped it at a rung) is told COMPLETE with its last
    rung's values, its ``epochs_done`` in the trial's user attributes: the sampler learns from its
    low-fidelity, pessimistic accuracy (``benchmarks/multifidelity.py``: it beats telling FAIL for
    TPE and NSGA-II), and Optuna's multi-objective samplers accept no intermediate values.

    A trial another driver has already settled (it took this driver's trials over after a
    long silence) keeps that outcome rather than stopping the study. An infeasible row is told
    as :func:`tell_infeasible` says.
    """
    if row.get("status") == "infeasible" and isinstance(trial, optuna.Trial):
        tell_infeasible(study, trial, space, row)
        return False
    complete, values = False, [row.get(o.name) for o in space.objectives]
    if row.get("status") in ("complete", "stopped"):  # stopped: told COMPLETE at its last rung's values
        complete = all(finite(v) for v in values)
    try:
        if complete and isinstance(trial, optuna.Trial):
            if space.fidelity and finite(_float(row.get("epochs_done"))):
                trial.set_user_attr("epochs_done", int(row["epochs_done"]))
            for c in space.constraints:
                trial.set_constraint(c.column, c.violation(float(row[c.column])))
    except optuna.exceptions.UpdateFinishedTrialError:
        log.warning("trial %d was settled by another driver; its row stays in the store", trial.number)
        return complete
    if complete:
        study.tell(trial, [float(v) for v in values], skip_if_finished=True)
    else:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    return complete


def tell_infeasible(
    study: optuna.Study, trial: optuna.Trial, space: SearchSpace, row: dict[str, Any]
) -> None:
    """Tell a design the pre-check rejected, so constrained samplers learn where not to go.

    It is told COMPLETE with its constraint violations (those the pre-check found, from the
    trial's :data:`PRECHECK_ATTR`; a constraint it could not decide counts as met, 0) and, for
    objectives that need training, the worst value (−inf maximised, +inf minimised). Optuna's
    constrained samplers rank an infeasible trial by its violations alone (NSGA-II's
    constrained domination, TPE's feasibility-first split) and ``best_trials`` never holds it,
    so the placeholder values shape nothing but its place among infeasible trials.
    """
    found = trial.user_attrs.get(PRECHECK_ATTR) or {}
    try:
        for c in space.constraints:
            value = row.get(c.column)
            known = c.violation(float(value)) if finite(value) else 0.0
            trial.set_constraint(c.column, float(found.get(c.column, known)))
    except optuna.exceptions.UpdateFinishedTrialError:
        log.warning("trial %d was settled by another driver; its row stays in the store", trial.number)
        return
    worst = [
        float(row[o.name]) if finite(row.get(o.name)) else -math.inf if o.direction.maximise else math.inf
        for o in space.objectives
    ]
    study.tell(trial, worst, skip_if_finished=True)


def recover(study: optuna.Study, space: SearchSpace, store: ResultStore, lease: DriverLease) -> int:
    """Settle RUNNING trials of dead drivers: tell from their row, or fail and re-enqueue."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    others = [t for t in running if t.user_attrs.get("driver") != lease.id]
    attrs = study.user_attrs if others else {}
    stale = [t for t in others if lease.is_stale(t, attrs)]
    if not stale:
        return 0
    rows = {int(r["trial_number"]): r for r in store.read().to_dict("records")}
    for t in stale:
        if t.number in rows:
            tell_row(study, optuna.Trial(study, t._trial_id), space, rows[t.number])
        else:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            study.enqueue_trial(t.params, user_attrs={REQUEUED: t.number})
    return len(stale)
