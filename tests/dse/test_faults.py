"""Faults with real processes: killed workers, raised errors, a killed driver, a lost node.

Each test runs the real study loop over real Ray, a real journal file and real Parquet.
Trial bodies are closures (pickled by value into the workers) that misbehave on purpose.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
import ray

from dse.engine.budget import budget_used
from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import RayExecutor, Resources
from dse.engine.space import SearchSpace, load_space
from dse.engine.study import open_storage, run_study
from dse.engine.trial import TrialContext
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord
from tests.drivers import gated_driver

TrialFn = Callable[[DesignPoint, Dataset, TrialContext], TrialRecord]
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import test modules


def quick_record(point: DesignPoint, ctx: TrialContext) -> TrialRecord:
    now = datetime.now(UTC)
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status="complete",
        point=point,
        metrics={"accuracy": point.adc_bits / 10, "energy_per_inference_pj": float(point.tile_size)},
        datetime_start=now,
        datetime_complete=now,
        worker_node=ctx.worker_node,
        wall_seconds=0.0,
        attempt=ctx.attempt,
    )


def attempts_in(folder: Path, number: int) -> int:
    return len(list(folder.glob(f"attempt-{number}-*")))


def behaving(folder: Path, mode: str) -> TrialFn:
    """A trial body that logs each attempt to ``folder`` and, on trial 1's first attempt, misbehaves."""

    def trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
        import os as _os
        import signal as _signal
        import uuid as _uuid

        first = not list(folder.glob(f"attempt-{ctx.trial_number}-*"))
        (folder / f"attempt-{ctx.trial_number}-{_uuid.uuid4().hex[:6]}").touch()
        if ctx.trial_number == 1 and (first or mode == "raise"):
            if mode == "sigkill":
                _os.kill(_os.getpid(), _signal.SIGKILL)
            if mode == "transient":
                raise ConnectionError("storage blip")
            if mode == "raise":
                raise ValueError("invalid combination")
        return quick_record(point, ctx)

    return trial


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=128 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture
def space(tiny_space) -> SearchSpace:
    return dataclasses.replace(load_space(tiny_space(trials=4)), trials=4)


def run(space: SearchSpace, out: Path, trial_fn: TrialFn, max_retries: int = 2) -> ResultStore:
    executor = RayExecutor(
        load_dataset("digits"), Resources(workers=2, max_retries=max_retries), trial_fn=trial_fn
    )
    run_study(space, executor, out, workers=2)
    return ResultStore(out)


def test_sigkilled_worker_is_retried_and_recorded_once(
    local_ray: None, space: SearchSpace, tmp_path: Path
) -> None:
    store = run(space, tmp_path / "out", behaving(tmp_path, "sigkill"))
    df = store.read()
    assert sorted(df["trial_number"]) == [0, 1, 2, 3]
    assert (df["status"] == "complete").all()
    assert attempts_in(tmp_path, 1) == 2  # killed once, retried once
    assert store.rows_on_disk() == 4  # one row per trial on disk, not just after read's dedup
    assert dict(zip(df["trial_number"], df["attempt"], strict=True)) == {
        0: 0,
        1: 1,
        2: 0,
        3: 0,
    }  # the retry shows


def test_transient_errors_are_retried(local_ray: None, space: SearchSpace, tmp_path: Path) -> None:
    df = run(space, tmp_path / "out", behaving(tmp_path, "transient")).read()
    assert (df["status"] == "complete").all() and len(df) == 4
    assert attempts_in(tmp_path, 1) == 2
    assert dict(zip(df["trial_number"], df["attempt"], strict=True)) == {0: 0, 1: 1, 2: 0, 3: 0}


def test_application_errors_fail_the_trial_once_and_the_study_goes_on(
    local_ray: None, space: SearchSpace, tmp_path: Path
) -> None:
    from dse.engine.trial import run_trial

    def trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
        (tmp_path / f"attempt-{ctx.trial_number}-x{time.monotonic_ns()}").touch()
        if ctx.trial_number == 1:
            return run_trial(
                dataclasses.replace(point, network=dataclasses.replace(point.network, model="no_such_net")),
                data,
                ctx,
            )  # fails inside the trial
        return quick_record(point, ctx)

    df = run(space, tmp_path / "out", trial).read().set_index("trial_number")
    assert df.loc[1, "status"] == "failed" and "no_such_net" in df.loc[1, "error"]
    assert (df.drop(index=1)["status"] == "complete").all() and len(df) == 4
    assert attempts_in(tmp_path, 1) == 1  # not retried
    study = optuna.load_study(study_name="tiny", storage=open_storage(tmp_path / "out", None))
    assert [t.state.name for t in study.trials].count("FAIL") == 1


def test_killed_driver_resumes_without_losing_or_duplicating_rows(tiny_space, tmp_path: Path) -> None:
    """The driver is killed while it runs trial 2, which it reaches only after trials 0 and 1, and which
    blocks on a FIFO until the kill: no timing decides whether it is still alive."""
    space_file, out = tiny_space(trials=8), tmp_path / "out"
    started, gate = tmp_path / "started", tmp_path / "gate"
    os.mkfifo(started)
    os.mkfifo(gate)
    script = gated_driver("ctx.trial_number == 2", space_file, out, started, gate)
    driver = subprocess.Popen(script, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    meet = threading.Thread(target=lambda: open(started).close(), daemon=True)
    meet.start()  # opening blocks until the driver's trial 2 opens the other end: a rendezvous
    meet.join(300)
    assert not meet.is_alive(), f"the driver never reached trial 2: {driver.poll()=}"
    store = ResultStore(out)
    deadline = time.monotonic() + 60  # trial 0's part is already handed to the writer thread
    while store.rows_on_disk() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
    driver.kill()
    driver.wait()
    cmd = [sys.executable, "-m", "dse", "run", str(space_file), "--out", str(out), "--no-cache"]
    assert 1 <= store.rows_on_disk() <= 2
    killed_rows = {p.name for p in store.files()}

    proc = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    df = store.read()
    assert len(df) == 8 and df["trial_number"].is_unique
    assert killed_rows <= {p.name for p in store.files()}  # nothing written before the kill was rewritten
    assert sum(pq.read_table(p).num_rows for p in store.files()) == 8  # every part readable, no row twice
    study = optuna.load_study(study_name="tiny", storage=open_storage(out, None))
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    assert budget_used(study) == 8
