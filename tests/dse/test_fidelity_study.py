"""Multi-fidelity studies end to end: ``dse run`` on local Ray with a real journal, real training on
digits, stopped and complete rows; a SIGKILLed driver whose promoted trial resumes from its checkpoint
(or, when the checkpoint was damaged meanwhile, retrains with a warning naming it)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dse.engine.budget import budget_used
from dse.engine.study import open_storage
from dse.results.folder import CHECKPOINT_DIR
from dse.results.store import ResultStore
from tests.drivers import gated_driver

SPACE = """
[study]
name = "fid"
sampler = "random"
trials = {trials}
workers = 2
seed = 4
fidelity = "epochs"
min_epochs = 1
reduction_factor = 3

[params]
device = {{ choices = ["pcm", "rram"] }}
adc_bits = {{ low = 2, high = 8 }}
lr = {{ low = 0.001, high = 0.1, log = true }}
hidden = [16]
tile_size = 32
epochs = 3
hardware_seeds = 1

[objectives]
accuracy = "max"
"""
"""One objective: plain ASHA ranking, so some trial is stopped whatever order the trials arrive in
(every arrival ranking in the top third of its rung is all but impossible for 8 random designs)."""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def dse(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dse", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)


def space_file(tmp_path: Path, trials: int) -> Path:
    path = tmp_path / "fid.toml"
    path.write_text(SPACE.format(trials=trials))
    return path


def test_a_fidelity_study_runs_from_the_cli_on_ray_and_writes_stopped_and_complete_rows(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    proc = dse("run", space_file(tmp_path, 8), "--out", out)
    assert proc.returncode == 0, proc.stderr
    df = ResultStore(out).read().set_index("trial_number")
    assert sorted(df.index) == list(range(8))
    stopped, complete = df[df["status"] == "stopped"], df[df["status"] == "complete"]
    assert len(stopped) + len(complete) == 8 and len(stopped) >= 1 and len(complete) >= 1
    assert set(stopped["epochs_done"]) == {1} and set(complete["epochs_done"]) == {3}
    assert set(complete["resumed_from_epochs"]) == {1}  # every promotion resumed: none retrained
    assert set(stopped["resumed_from_epochs"]) == {0}
    assert set(df["attempt"]) == {0}  # a promotion is a new rung's task, not a retry
    assert f"stopped {len(stopped)}" in proc.stdout
    assert not list((out / CHECKPOINT_DIR).glob("*"))  # dropped once each row was written
    status = dse("status", out)
    assert f"complete {len(complete)}, failed 0, stopped {len(stopped)}" in " ".join(status.stdout.split())
    # fronts and exports use full-fidelity rows unless asked
    every = dse("export", out, "--all", "--format", "csv")
    assert every.returncode == 0, every.stderr
    assert len([ln for ln in every.stdout.splitlines() if ln and not ln.startswith("#")]) == 1 + len(complete)
    both = dse("export", out, "--all", "--format", "csv", "--include-stopped")
    lines = [ln for ln in both.stdout.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 1 + 8 and "epochs_done" in lines[0]
    # a promoted trial, trained 1 + 2 epochs across two tasks, replays from scratch bit for bit
    replayed = dse("replay", out, "--trial", int(complete.index[0]))
    assert replayed.returncode == 0 and "bit for bit" in replayed.stdout, replayed.stdout + replayed.stderr


@pytest.mark.parametrize("checkpoint", ["intact", "damaged"])
def test_a_killed_driver_resumes_its_promoted_trial_from_the_checkpoint(
    checkpoint: str, tmp_path: Path
) -> None:
    """The in-process driver is SIGKILLed while trial 0 (the first to reach rung 1, so promoted)
    trains to rung 3; its checkpoint of rung 1 exists. ``dse run --resume`` on Ray finishes the study."""
    space, out = space_file(tmp_path, 6), tmp_path / "out"
    started, gate = tmp_path / "started", tmp_path / "gate"
    os.mkfifo(started)
    os.mkfifo(gate)
    script = gated_driver(
        "(ctx.trial_number, ctx.rung_epochs) == (0, 3)", space, out, started, gate
    )  # promoted
    driver = subprocess.Popen(script, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    meet = threading.Thread(target=lambda: open(started).close(), daemon=True)
    meet.start()  # a rendezvous: opening blocks until the driver's trial 0 at rung 3 opens the other end
    meet.join(300)
    assert not meet.is_alive(), f"the driver never promoted trial 0: {driver.poll()=}"
    ckpt = out / CHECKPOINT_DIR / "0.pt"
    assert ckpt.is_file() and driver.poll() is None
    driver.kill()  # SIGKILL
    driver.wait()
    before = {p.name for p in ResultStore(out).files()}
    if checkpoint == "damaged":
        ckpt.write_bytes(ckpt.read_bytes()[:100])

    proc = dse("run", space, "--out", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    store = ResultStore(out)
    df = store.read().set_index("trial_number")
    assert sorted(df.index) == list(range(6))  # none lost, none twice
    assert sum(pq.read_table(p).num_rows for p in store.files()) == 6
    assert before <= {p.name for p in store.files()}  # rows written before the kill were not rewritten
    row = df.loc[0]
    assert (row["status"], row["epochs_done"]) == ("complete", 3)
    if checkpoint == "intact":
        assert row["resumed_from_epochs"] == 1 and pd.isna(row["warning"])
    else:
        assert row["resumed_from_epochs"] == 0
        assert str(ckpt) in row["warning"] and "retrained from scratch" in row["warning"]
    study = optuna.load_study(study_name="fid", storage=open_storage(out, None))
    assert not [t for t in study.trials if t.state.name != "COMPLETE"]
    assert budget_used(study) == 6
    assert not list((out / CHECKPOINT_DIR).glob("*"))
