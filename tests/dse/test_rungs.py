"""The multi-fidelity driver loop in-process, with a stand-in trial (the real trial: test_fidelity.py).

The stand-in's accuracy rises with the epochs it is asked to train to and with the design's ADC
bits, so the rungs have something to rank; it records every (trial, rung, resume) it is given.
"""

from __future__ import annotations

import math
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pytest

from dse.engine.asha import RungLedger
from dse.engine.budget import EPOCHS
from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import LocalExecutor
from dse.engine.rungs import recorded
from dse.engine.space import load_space
from dse.engine.study import open_storage, run_study
from dse.engine.trial import TrialContext
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

SPACE = """
[study]
name = "rungs"
sampler = "random"
trials = {trials}
workers = {workers}
seed = 5
fidelity = "epochs"
min_epochs = 1
reduction_factor = 3
{extra}

[params]
device = "pcm"
adc_bits = {{ low = 2, high = 8 }}
tile_size = {{ low = 32, high = 64, step = 32 }}
hidden = [8]
epochs = 9

[objectives]
accuracy = "max"
energy_per_inference_pj = "min"
"""


def space_file(tmp_path: Path, trials: int = 12, workers: int = 2, extra: str = "") -> Path:
    path = tmp_path / "rungs.toml"
    path.write_text(SPACE.format(trials=trials, workers=workers, extra=extra))
    return path


class Crash(BaseException):
    """Stops the driver as a kill would, between two rung results."""


class StandIn:
    """A trial that needs no training: accuracy (ADC bits / 10)·(1 − 2^−epochs)."""

    def __init__(self, crash_at: tuple[int, int] | None = None) -> None:
        self.log: list[tuple[int, int | None, bool]] = []
        self.crash_at = crash_at
        self.starts: dict[int, datetime] = {}

    def __call__(self, point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
        if (ctx.trial_number, ctx.rung_epochs) == self.crash_at:
            self.crash_at = None
            raise Crash
        self.log.append((ctx.trial_number, ctx.rung_epochs, ctx.resume))
        epochs = int(ctx.rung_epochs or 0)
        metrics = {
            "accuracy": point.adc_bits / 10 * (1 - 2.0**-epochs),
            "energy_per_inference_pj": float(point.tile_size),
            "epochs_done": epochs,
            "resumed_from_epochs": 0,
        }
        now = datetime.now(UTC)
        self.starts.setdefault(ctx.trial_number, now)
        wall = float(epochs - {1: 0, 3: 1, 9: 3}[epochs])  # a stand-in: one second per epoch trained
        return TrialRecord(
            ctx.study, ctx.trial_number, "complete", point, metrics, None, 0, now, now, None, wall
        )


def run(path: Path, out: Path, trial: StandIn, resume: bool = False):
    space = load_space(path)
    return run_study(
        space,
        LocalExecutor(load_dataset("digits"), trial_fn=trial),
        out,
        resume=resume,
        workers=space.workers,
    )


def test_rung_results_end_as_stopped_and_complete_rows_told_complete(tmp_path: Path) -> None:
    out, trial = tmp_path / "out", StandIn()
    progress = run(space_file(tmp_path), out, trial)
    df = ResultStore(out).read().set_index("trial_number")
    assert sorted(df.index) == list(range(12))
    assert set(df["status"]) == {"stopped", "complete"}
    assert (
        progress.stopped == (df["status"] == "stopped").sum() and progress.complete + progress.stopped == 12
    )
    assert set(df.loc[df["status"] == "complete", "epochs_done"]) == {9}
    assert set(df.loc[df["status"] == "stopped", "epochs_done"]) <= {1, 3}
    for n, row in df.iterrows():  # each trial trained rung by rung, resuming after the first
        asked = [(e, resume) for t, e, resume in trial.log if t == n]
        rungs = [1, 3, 9][: [1, 3, 9].index(row["epochs_done"]) + 1]
        assert asked == [(e, e != 1) for e in rungs], (n, asked)
    assert (df["wall_seconds"] == df["epochs_done"]).all()  # summed over the trial's rung tasks
    assert all(df.loc[n, "datetime_start"] == trial.starts[n] for n in df.index)  # its first task's start
    study = optuna.load_study(study_name="rungs", storage=open_storage(out, None))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 12
    for t in study.trials:  # stopped trials are told their last rung's values
        assert t.values == [df.loc[t.number, "accuracy"], df.loc[t.number, "energy_per_inference_pj"]]
        assert t.user_attrs["epochs_done"] == df.loc[t.number, "epochs_done"]
    # the recorded rung results, replayed in their arrival order, give back every recorded decision
    ledger = RungLedger((1, 3, 9), (True, False), 3)
    results = recorded(study.trials)
    assert [r.seq for r in results] == list(range(len(results)))
    for r in results:
        assert ledger.report(r.trial, r.epochs, r.values) == r.next
    assert len(results) == len(trial.log)


def test_the_epoch_budget_stops_new_trials_once_committed_epochs_reach_it(tmp_path: Path) -> None:
    out, trial = tmp_path / "out", StandIn()
    run(space_file(tmp_path, trials=100, workers=1, extra="budget_epochs = 20"), out, trial)
    trained, done = 0, {}  # trial → epochs trained so far
    for n, epochs, _ in trial.log:  # one worker: the log is the commit order
        if n not in done:
            assert trained < 20, "a trial was asked after the epoch budget was spent"
        trained += epochs - done.get(n, 0)
        done[n] = epochs
    seen = set(done)
    assert trained >= 20  # else it would have asked another (100 trials are not the limit)
    study = optuna.load_study(study_name="rungs", storage=open_storage(out, None))
    assert study.user_attrs[EPOCHS] == trained
    assert len(ResultStore(out).read()) == len(seen) < 100


def test_a_dead_drivers_trial_is_adopted_and_resumes_at_its_next_rung(tmp_path: Path) -> None:
    path, out = space_file(tmp_path, trials=6, workers=1), tmp_path / "out"
    first = StandIn(crash_at=(0, 3))  # trial 0 was promoted at rung 1; the driver dies training rung 3
    with pytest.raises(Crash):
        run(path, out, first)
    assert first.log == [(0, 1, False)]
    study = optuna.load_study(study_name="rungs", storage=open_storage(out, None))
    assert study.trials[0].state.name == "RUNNING" and study.trials[0].user_attrs["rung:1"]["next"] == 3
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = f"{socket.gethostname()}:{pid_max + 1}:dead00"  # a pid no process can have
    study._storage.set_trial_user_attr(study.trials[0]._trial_id, "driver", dead)
    assert os.getpid() <= pid_max

    again = StandIn()
    progress = run(path, out, again, resume=True)
    assert progress.recovered == 1
    assert again.log[0] == (0, 3, True)  # adopted: the same trial, at its next rung, from its checkpoint
    df = ResultStore(out).read()
    assert sorted(df["trial_number"]) == list(range(6))  # none lost, none twice
    study = optuna.load_study(study_name="rungs", storage=open_storage(out, None))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    assert math.isfinite(df.set_index("trial_number").loc[0, "accuracy"])


def test_a_second_driver_reads_the_first_drivers_rung_results_when_it_catches_up(tmp_path: Path) -> None:
    from dse.engine.rungs import Rungs
    from dse.engine.study import open_study

    out = tmp_path / "out"
    space = load_space(space_file(tmp_path))
    study = open_study(space, open_storage(out, None), str(out), must_exist=False)
    a, b = Rungs(study, space, out), Rungs(study, space, out)
    trial = study.ask()
    ctx = a.start(TrialContext("rungs", trial.number))
    now = datetime.now(UTC)
    metrics = {"accuracy": 0.9, "energy_per_inference_pj": 10.0, "epochs_done": 1}
    step = a.arrived(
        TrialRecord("rungs", trial.number, "complete", DesignPoint(), metrics, None, 0, now, now), trial
    )
    assert isinstance(step, TrialContext) and (step.rung_epochs, step.resume) == (3, True)  # first: continues
    assert ctx.checkpoint == str(out / "_checkpoints" / f"{trial.number}.pt")
    assert b.ledger.seen == {}
    assert b.catch_up(study) == 1 and b.ledger.seen == a.ledger.seen == {1: [(trial.number, (0.9, 10.0))]}
    assert b.catch_up(study) == 0 and b.seq == a.seq == 1


def test_forget_removes_every_checkpoint_of_the_trial_and_no_other(tmp_path: Path) -> None:
    from dse.engine.rungs import Rungs
    from dse.engine.study import open_study

    out = tmp_path / "out"
    space = load_space(space_file(tmp_path))
    rungs = Rungs(open_study(space, open_storage(out, None), str(out), must_exist=False), space, out)
    folder = out / "_checkpoints"
    folder.mkdir()
    names = ["1.pt", "1.r1.pt", ".1.pt.abc123.tmp", "10.pt", "11.r1.pt", ".10.pt.x.tmp", "2.pt"]
    for name in names:
        (folder / name).write_bytes(b"x")
    rungs.forget(1)
    assert sorted(p.name for p in folder.iterdir()) == [".10.pt.x.tmp", "10.pt", "11.r1.pt", "2.pt"]
