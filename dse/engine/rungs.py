"""The driver's side of multi-fidelity search (``[study] fidelity = "epochs"``, MO-ASHA [MOASHA]).

A trial first trains to the first rung. Each time it reaches a rung, :meth:`Rungs.arrived` reports
its objective vector to the :class:`dse.engine.asha.RungLedger`, which decides at once (no worker
waits for a rung to fill): the trial is resubmitted to train on from its checkpoint to the next
rung, or it ends there, as a ``stopped`` row below the last rung and a ``complete`` one at it.

Every rung result is recorded in the trial's user attributes (``rung:<epochs>``: its arrival number,
objective vector and decision) in the same journal burst as the decision, before the trial
continues. A restarted driver rebuilds the ledger by replaying them in arrival order, and
:meth:`Rungs.adopt` takes over the RUNNING trials of a dead driver: each keeps its number and
resumes from its checkpoint at the rung its last recorded decision named (fidelity trials are
never failed and re-enqueued, which would throw their checkpoints away). Drivers sharing a study
read each other's rung results at every heartbeat (:meth:`Rungs.catch_up`), so their ledgers agree
within :data:`dse.engine.lease.HEARTBEAT_EVERY_S`.

Checkpoints live in the results folder (``_checkpoints/``, beside ``_cache/``), so on a cluster
the folder must be shared as the weights cache is; a worker that cannot find one retrains from
scratch with a warning, which costs time but never a wrong row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.engine.asha import RungLedger
from dse.engine.lease import DriverLease
from dse.engine.space import SearchSpace
from dse.engine.trial import TrialContext
from dse.results.folder import CHECKPOINT_DIR
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

log = logging.getLogger(__name__)

RUNG_ATTR = "rung:"
"""Prefix of a trial user attribute ``rung:<epochs>``: ``{"seq": arrival number, "values": the
objective vector (null where not finite), "next": the rung it continues to, or null}``."""


@dataclass(frozen=True)
class RungResult:
    """One recorded rung result of one trial."""

    seq: int
    trial: int
    epochs: int
    values: tuple[float, ...]
    next: int | None


def recorded(trials: Iterable[FrozenTrial]) -> list[RungResult]:
    """Every rung result recorded on ``trials``, in arrival order."""
    out = []
    for t in trials:
        for key, value in t.user_attrs.items():
            if key.startswith(RUNG_ATTR) and isinstance(value, dict):
                vec = tuple(math.nan if v is None else float(v) for v in value.get("values", ()))
                nxt = value.get("next")
                out.append(RungResult(int(value["seq"]), t.number, int(key[len(RUNG_ATTR) :]), vec, nxt))
    return sorted(out, key=lambda r: (r.seq, r.trial))


def checkpoint_path(out: Path, trial_number: int) -> Path:
    """The checkpoint file of a trial (its first repeat's; see :func:`repeat_checkpoint`)."""
    return out / CHECKPOINT_DIR / f"{trial_number}.pt"


def repeat_checkpoint(path: str, repeat: int) -> Path:
    """The checkpoint of repeat ``repeat`` of a trial whose checkpoint is ``path``."""
    p = Path(path)
    return p if repeat == 0 else p.with_name(f"{p.stem}.r{repeat}{p.suffix}")


class Rungs:
    """Rung decisions for one driver. Not thread-safe; the driver's thread alone calls it."""

    def __init__(self, study: optuna.Study, space: SearchSpace, out: Path) -> None:
        self.space, self.out = space, out
        self.rungs = space.rungs
        self.ledger = RungLedger(
            self.rungs, tuple(o.direction.maximise for o in space.objectives), space.reduction_factor
        )
        self.known: set[tuple[int, int]] = set()
        """(trial, rung) results the ledger holds."""
        self.seq = 0
        self.catch_up(study)  # the ledger as it was: every recorded result, in arrival order
        self.contexts: dict[int, TrialContext] = {}
        """Live trial → the context of the rung it trains to now."""
        self.warnings: dict[int, list[str]] = {}
        self.began: dict[int, tuple[Any, float]] = {}
        """Live trial → (start of its first rung task, wall seconds of its rung tasks so far)."""

    def catch_up(self, study: optuna.Study) -> int:
        """Report the rung results recorded in the study that the ledger does not hold yet (all of
        them after a restart; other drivers' since the last call), in arrival order; returns how many."""
        new = [r for r in recorded(study.get_trials(deepcopy=False)) if (r.trial, r.epochs) not in self.known]
        for r in new:
            self.ledger.report(r.trial, r.epochs, r.values)
            self.known.add((r.trial, r.epochs))
            self.seq = max(self.seq, r.seq + 1)
        return len(new)

    def start(self, ctx: TrialContext) -> TrialContext:
        """The context of a new trial: train to the first rung, checkpoint in the results folder."""
        path = str(checkpoint_path(self.out, ctx.trial_number))
        ctx = replace(ctx, rung_epochs=self.rungs[0], checkpoint=path, resume=False)
        self.contexts[ctx.trial_number] = ctx
        return ctx

    def epochs_of(self, ctx: TrialContext) -> int:
        """Epochs ``ctx`` commits to train (times the repeats) from the rung before it."""
        k = self.rungs.index(ctx.rung_epochs or self.rungs[-1])
        return (self.rungs[k] - (self.rungs[k - 1] if k else 0)) * ctx.repeats

    def arrived(self, rec: TrialRecord, trial: optuna.Trial) -> TrialRecord | TrialContext:
        """A rung result: the record to write when the trial ends here (``stopped``, ``complete``,
        or ``failed``), else the context to resubmit it with (the next rung, from its checkpoint)."""
        n = rec.trial_number
        ctx = self.contexts[n]
        start, wall = self.began.get(n, (rec.datetime_start, 0.0))
        self.began[n] = (start, wall + (rec.wall_seconds or 0.0))
        warning = rec.metrics.get("warning")
        if warning:
            log.warning("trial %d: %s", n, warning)
            self.warnings.setdefault(n, []).append(str(warning))
        if rec.status != "complete":
            return self._final(rec, rec.status)
        epochs = int(ctx.rung_epochs or self.rungs[-1])
        vec = [_number(rec.metrics.get(o.name)) for o in self.space.objectives]
        nxt = self.ledger.report(n, epochs, vec)
        stored = [v if math.isfinite(v) else None for v in vec]
        trial.set_user_attr(f"{RUNG_ATTR}{epochs}", {"seq": self.seq, "values": stored, "next": nxt})
        self.known.add((n, epochs))
        self.seq += 1
        if nxt is None:
            return self._final(rec, "complete" if epochs == self.rungs[-1] else "stopped")
        self.contexts[n] = replace(ctx, rung_epochs=nxt, resume=True)
        return self.contexts[n]

    def _final(self, rec: TrialRecord, status: str) -> TrialRecord:
        """The trial's row: its last rung's record, timed from its first rung task (wall seconds
        summed over its tasks since this driver ran it), with every rung's warnings."""
        self.contexts.pop(rec.trial_number, None)
        notes = self.warnings.pop(rec.trial_number, [])
        start, wall = self.began.pop(rec.trial_number, (rec.datetime_start, rec.wall_seconds))
        metrics: dict[str, Any] = dict(rec.metrics)
        if notes:
            metrics["warning"] = "; ".join(dict.fromkeys(notes))
        return replace(rec, status=status, metrics=metrics, datetime_start=start, wall_seconds=wall)

    def forget(self, trial_number: int) -> None:
        """Delete a trial's checkpoints once its row is durable: every repeat's, and the temp files
        of saves a killed worker left (``.<name>.<random>.tmp``)."""
        folder = checkpoint_path(self.out, trial_number).parent
        for pattern in (f"{trial_number}.*", f".{trial_number}.*"):
            for path in folder.glob(pattern):
                path.unlink(missing_ok=True)

    def adopt(
        self,
        study: optuna.Study,
        store: ResultStore,
        lease: DriverLease,
        point_of: Callable[[optuna.Trial], DesignPoint],
        context: Callable[[int], TrialContext],
    ) -> list[tuple[optuna.Trial, DesignPoint, TrialContext]]:
        """Take over the RUNNING trials of dead drivers that have no row yet: stamp them as this
        driver's and return each with the context that resumes it (the rung its last recorded
        decision named, from its checkpoint). Trials with a row are left to ``lease.recover``."""
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        others = [t for t in running if t.user_attrs.get("driver") != lease.id]
        attrs = study.user_attrs if others else {}
        stale = [t for t in others if lease.is_stale(t, attrs)]
        if not stale:
            return []
        rows = set(store.read()["trial_number"].astype(int))
        out = []
        for t in stale:
            if t.number in rows:
                continue
            trial = optuna.Trial(study, t._trial_id)
            trial.set_user_attr("driver", lease.id)
            results = recorded([t])
            last = results[-1] if results else None
            path = checkpoint_path(self.out, t.number)
            ctx = self.start(context(t.number))
            if last is not None:  # retrain nothing: re-read the last rung when its row was lost
                ctx = replace(ctx, rung_epochs=last.next or last.epochs, resume=True)
            elif path.exists():
                ctx = replace(ctx, resume=True)
            self.contexts[t.number] = ctx
            out.append((trial, point_of(trial), ctx))
            log.warning("trial %d of a dead driver resumes at %d epochs", t.number, ctx.rung_epochs)
        return out


def _number(value: Any) -> float:
    """A finite float, or NaN (missing, not a number, or not finite)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan
