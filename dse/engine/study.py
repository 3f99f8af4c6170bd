"""The driver: an Optuna multi-objective study run by ask/tell over an executor.

The driver is the only writer of Optuna storage and of the Parquet store. For each
finished trial it writes the Parquet row first and then tells Optuna, so after a crash
a trial left RUNNING either has its row (and is told from it) or is failed and its
parameters enqueued again. The budget counts trials with a recorded row.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from dse.engine.budget import Budget
from dse.engine.executor import Executor, failed_record
from dse.engine.journal import BatchedJournalStorage
from dse.engine.lease import HEARTBEAT_EVERY_S, PRECHECK_ATTR, DriverLease, finite, recover, tell_row
from dse.engine.precheck import PreCheck, infeasible_record, screen, targets
from dse.engine.provenance import package_versions, write_study_file
from dse.engine.rungs import Rungs
from dse.engine.samplers import make_sampler
from dse.engine.space import DomainKind, SearchSpace, optuna_label
from dse.engine.trial import TrialContext
from dse.engine.writer import RowWriter
from dse.results import folder
from dse.results.folder import JOURNAL_FILE
from dse.results.store import ResultStore
from dse.schema.point import PARAMETERS, DesignPoint
from dse.schema.record import Direction, TrialRecord

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

MAX_BATCH_S = 1.0
"""Longest a burst of asks holds the journal's lock: other writers wait for it, and Optuna's
lock counts as abandoned after 30 s (slow samplers, hundreds of workers asked at once)."""


class StudyMismatch(ValueError):
    """An existing study cannot be continued with this search space."""


def open_storage(out: Path, storage: str | None, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The journal file under ``out`` by default, else any Optuna storage URL.

    Drivers started together on an empty database race to create Optuna's tables; the loser
    gets a unique-violation error. Creation is idempotent, so it is retried with a short backoff.
    """
    if not storage:
        out.mkdir(parents=True, exist_ok=True)
        folder.migrate(out)
        return BatchedJournalStorage(out / JOURNAL_FILE)
    if "://" not in storage or storage.startswith(("redis", "journal")):
        return optuna.storages.get_storage(storage)
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(storage)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
    raise AssertionError("unreachable")


def open_study(
    space: SearchSpace, store: optuna.storages.BaseStorage, where: str, *, must_exist: bool = False
) -> optuna.Study:
    """Create the study in ``store`` (found at ``where``), or load it to continue; check that
    it matches the space."""
    names = optuna.study.get_all_study_names(store)
    if must_exist and space.name not in names:
        raise StudyMismatch(f"--resume: no study named {space.name!r} in {where}")
    directions = ["maximize" if o.direction is Direction.MAXIMIZE else "minimize" for o in space.objectives]
    study = optuna.create_study(
        storage=store,
        sampler=make_sampler(space.sampler, space.seed, dict(space.sampler_options)),
        study_name=space.name,
        directions=directions,
        load_if_exists=True,
    )
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise StudyMismatch(
            f"study {space.name!r} exists with directions {existing}, the space asks {directions}"
        )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.name for o in space.objectives])
        study.set_user_attr(
            "sampler", {"name": space.sampler, "seed": space.seed, **dict(space.sampler_options)}
        )
        study.set_user_attr("versions", package_versions())
        study.set_user_attr("space_file", space.source)
        study.set_user_attr("constraints", [f"{c.column} {c.op} {c.bound}" for c in space.constraints])
    elif study.metric_names != [o.name for o in space.objectives]:
        raise StudyMismatch(
            f"study {space.name!r} has objectives {study.metric_names}, the space asks "
            f"{[o.name for o in space.objectives]}"
        )
    return study


GRID_ENQUEUED = "grid:enqueued"


def enqueue_grid(study: optuna.Study, space: SearchSpace) -> int:
    """Enqueue every distinct design of a grid space once (:meth:`SearchSpace.grid_points`), under
    the storage's lock, when the study is new; returns how many. The driver then asks them in
    order; a grid over knobs some designs ignore runs each design once."""
    if study.user_attrs.get(GRID_ENQUEUED) or study.get_trials(deepcopy=False):
        return 0
    points = space.grid_points()
    for params in points:
        study.enqueue_trial(params, skip_if_exists=False)
    study.set_user_attr(GRID_ENQUEUED, len(points))
    return len(points)


def suggest(trial: optuna.Trial, space: SearchSpace) -> DesignPoint:
    """Ask Optuna for each searched parameter and merge the fixed ones into a point.

    The deciding knobs are asked first (:data:`DECIDING`: the device, the mode, then every knob
    an ``acts_if`` names); a knob that the design they make ignores (an apt knob in an hwa
    trial, ADC bits on SRAM, ``input_duty`` when the duty is measured) is then not asked at all,
    so the sampler never models it, and the point holds its default (its row stores null).
    """
    params: dict[str, Any] = dict(space.fixed_params())
    order = {name: i for i, name in enumerate(DECIDING)}
    for d in sorted(space.searched, key=lambda d: order.get(d.name, len(order))):
        if d.name not in ("device", "mode") and _ignored(d.name, params):
            continue
        if d.kind is DomainKind.CATEGORICAL:
            labels = [optuna_label(c) for c in d.choices]
            value = trial.suggest_categorical(d.name, labels)
            params[d.name] = d.choices[labels.index(value)]
        elif d.kind is DomainKind.INT:
            params[d.name] = trial.suggest_int(
                d.name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log
            )
        else:
            params[d.name] = trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.log)
    return DesignPoint.from_params(params).normalized()


DECIDING = ("device", "mode", *dict.fromkeys(p.acts_if[0] for p in PARAMETERS.values() if p.acts_if))
"""Knobs that decide which others act (device, mode, every ``acts_if`` condition): asked first."""


def _ignored(name: str, params: dict[str, Any]) -> bool:
    """Whether the design fixed so far (its deciding knobs) ignores ``name``."""
    probe = DesignPoint.from_params({k: params[k] for k in DECIDING if k in params})
    return probe.ignores(name)


@dataclass
class Progress:
    """Counts the driver reports as it goes."""

    total: int
    complete: int = 0
    failed: int = 0
    recovered: int = 0
    infeasible: int = 0
    """Designs the pre-check rejected before training (``dse.engine.precheck``)."""
    stopped: int = 0
    """Trials multi-fidelity search stopped below the last rung (``dse.engine.rungs``)."""


def run_study(
    space: SearchSpace,
    executor: Executor,
    out: Path,
    storage: str | None = None,
    *,
    resume: bool = False,
    workers: int = 2,
    on_progress: Callable[[Progress, TrialRecord | None], None] | None = None,
    cache_dir: Path | None = None,
) -> Progress:
    """Run the study until ``space.trials`` trials are recorded (or ``space.budget_epochs`` epochs
    committed), across every driver sharing it.

    Several drivers may run the same study on one storage (and one results folder): each
    asks only while the study's budget (:class:`dse.engine.budget.Budget`, exact across drivers) lasts.
    With a fidelity, each rung result is decided by :class:`dse.engine.rungs.Rungs`: a promoted
    trial is resubmitted at once, from its checkpoint.
    """
    opened = open_storage(out, storage)
    study = open_study(space, opened, storage or str(out / JOURNAL_FILE), must_exist=resume)
    batch: Callable[[], AbstractContextManager[None]] = nullcontext
    sync = None
    if isinstance(opened, BatchedJournalStorage):
        batch, sync = opened.batch, opened.sync
    write_study_file(space, out, storage)
    store = ResultStore(out)
    store.sweep()  # temp files of writers killed mid-write (older than a minute: not a live peer's)
    lease = DriverLease(study)
    progress = Progress(total=space.trials)
    rungs = Rungs(study, space, out) if space.fidelity else None
    cache = str(cache_dir) if cache_dir and not rungs else None  # rung trials train from checkpoints

    def context(number: int) -> TrialContext:
        return TrialContext(space.name, number, cache_dir=cache, repeats=space.repeats)

    start: list[tuple[DesignPoint, TrialContext]] = []
    live: dict[int, optuna.Trial] = {}

    def take_over() -> int:
        """Read other drivers' rung results, adopt dead drivers' fidelity trials (they resume), then
        settle the rest."""
        if rungs:
            rungs.catch_up(study)
        adopted = rungs.adopt(study, store, lease, lambda t: suggest(t, space), context) if rungs else []
        for trial, point, ctx in adopted:
            live[trial.number] = trial
            start.append((point, ctx))
        return len(adopted) + recover(study, space, store, lease)

    budget = Budget(study, space.trials, storage, space.budget_epochs)
    # Under the budget's lock: on PostgreSQL ``batch()`` locks nothing, and two drivers that both saw a
    # dead driver's trial RUNNING would both re-enqueue it (trained twice, one trial past the budget).
    with batch(), budget.turn():
        progress.recovered = take_over()
    done = store.read()
    for status in ("complete", "failed", "infeasible", "stopped"):
        setattr(progress, status, int((done["status"] == status).sum()))
    datasets = getattr(executor, "data", {})  # input shapes for the pre-check, where the executor has them
    precomputed: dict[int, str] = {}
    arrived: list[TrialRecord] = []
    if space.sampler == "grid":
        with batch(), budget.turn():
            enqueue_grid(study, space)
    if on_progress:
        on_progress(progress, None)
    # Rows are written on a writer thread in group commits (dse.engine.writer); Optuna is only touched
    # on this thread, and a trial is told only after its row is durable. Each burst of storage
    # calls is one journal write; the writer fsyncs the journal before each part, so a durable
    # row's trial is always in the durable journal.
    rows: RowWriter[optuna.Trial] = RowWriter(store, before_write=sync)
    try:
        while True:
            with batch():
                for rec, trial in rows.durable(block=not live):
                    _told(study, space, trial, rec, progress, on_progress)
                    if rungs:
                        rungs.forget(trial.number)
                with budget.turn():  # the storage's lock: the budget is exact across drivers
                    for rec in arrived:  # rung results: decided and recorded under the lock
                        trial = live[rec.trial_number]
                        step = rungs.arrived(_with_precomputed(rec, precomputed.get(rec.trial_number)), trial)
                        if isinstance(step, TrialContext):
                            budget.commit_epochs(rungs.epochs_of(step))
                            start.append((rec.point, step))
                        else:
                            precomputed.pop(rec.trial_number, None)
                            rows.add(step, live.pop(rec.trial_number))
                    arrived.clear()
                    deadline, asked = time.monotonic() + MAX_BATCH_S, 0
                    while (
                        len(live) < workers
                        and budget.may_ask()
                        and (not asked or time.monotonic() < deadline)
                    ):
                        asked += 1
                        trial = study.ask()
                        budget.asked(trial)
                        trial.set_user_attr("driver", lease.id)
                        try:
                            point = suggest(trial, space)
                        except (KeyError, TypeError, ValueError) as exc:
                            ctx = TrialContext(space.name, trial.number)
                            rows.add(failed_record(DesignPoint(), ctx, f"invalid point: {exc}"), trial)
                            continue
                        pre = screen(point, datasets, space)  # cheap objectives first
                        if pre is not None and pre.reason:
                            _reject(trial, point, pre, space, rows)
                            continue
                        if pre is not None:
                            precomputed[trial.number] = ",".join(pre.precomputed(targets(space)))
                        live[trial.number] = trial
                        ctx = rungs.start(context(trial.number)) if rungs else context(trial.number)
                        budget.commit_epochs(rungs.epochs_of(ctx) if rungs else point.epochs * space.repeats)
                        start.append((point, ctx))
            for point, ctx in start:
                executor.submit(point, ctx)
            start.clear()
            more = len(live) < workers and budget.may_ask()  # the batch hit its time limit
            if not live and not rows.pending and not more:
                break
            if live:  # wake up when queued rows are due, or poll while one is written
                due = rows.due_in()
                wait_s = 0.0 if more else HEARTBEAT_EVERY_S if due is None else max(due, 0.005)
                for rec in executor.wait(timeout=wait_s):
                    if rungs:
                        arrived.append(_checked(rec, space))
                        continue
                    rec = _with_precomputed(rec, precomputed.pop(rec.trial_number, None))
                    rows.add(_checked(rec, space), live.pop(rec.trial_number))
            if lease.beat():  # and take over the trials of drivers that died meanwhile
                with batch(), budget.turn():
                    progress.recovered += take_over()
    finally:
        executor.close()
        rows.close()
        budget.close()
    return progress


def _checked(rec: TrialRecord, space: SearchSpace) -> TrialRecord:
    """A complete record whose objectives are missing or not finite becomes a failed one."""
    if rec.status == "complete":
        bad = [o.name for o in space.objectives if not finite(rec.metrics.get(o.name))]
        if bad:
            return replace(rec, status="failed", error=f"objective(s) {bad} are missing or not finite")
    return rec


def _reject(
    trial: optuna.Trial, point: DesignPoint, pre: PreCheck, space: SearchSpace, rows: RowWriter[optuna.Trial]
) -> None:
    """Record a design the pre-check found infeasible, without training it. Its violations go to
    the trial's attributes first, in the same journal burst, so a recovering driver tells them too."""
    trial.set_user_attr(PRECHECK_ATTR, {k: float(v) for k, v in pre.violations.items()})
    rows.add(infeasible_record(point, TrialContext(space.name, trial.number), pre, space), trial)


def _with_precomputed(rec: TrialRecord, names: str | None) -> TrialRecord:
    """The record with the ``precomputed`` column: what the driver computed before training."""
    return rec if names is None else replace(rec, metrics={**rec.metrics, "precomputed": names})


def _told(
    study: optuna.Study,
    space: SearchSpace,
    trial: optuna.Trial,
    rec: TrialRecord,
    progress: Progress,
    on_progress: Callable[[Progress, TrialRecord | None], None] | None,
) -> None:
    if tell_row(study, trial, space, rec.to_row()):
        progress.stopped += rec.status == "stopped"
        progress.complete += rec.status != "stopped"
    elif rec.status == "infeasible":
        progress.infeasible += 1
    else:
        progress.failed += 1
    if on_progress:
        on_progress(progress, rec)
