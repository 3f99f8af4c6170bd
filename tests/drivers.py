"""Drivers as a user starts them: ``python -m dse run`` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def dse_driver(space: Path, out: Path, *extra: str, quiet: bool = False) -> subprocess.Popen[str]:
    """``dse run SPACE --out OUT --executor local EXTRA…`` with one torch thread (drivers that run
    their trials in-process share the machine's cores); output captured, or discarded if ``quiet``."""
    cmd = [sys.executable, "-m", "dse", "run", str(space), "--out", str(out), "--executor", "local", *extra]
    pipe = subprocess.DEVNULL if quiet else subprocess.PIPE
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=pipe, stderr=pipe, text=True, env=env)


_GATED_DRIVER = """
import sys
from pathlib import Path

from dse.engine.executor import LocalExecutor
from dse.engine.preflight import load_datasets
from dse.engine.space import load_space
from dse.engine.study import run_study
from dse.engine.trial import run_trial

space_file, out, started, gate = sys.argv[1:5]
space = load_space(Path(space_file))


def trial(point, data, ctx):
    if {condition}:  # meet the test, then block on a FIFO no one writes: alive until killed
        with open(started, "w"):
            pass
        with open(gate):
            pass
    return run_trial(point, data, ctx)


run_study(space, LocalExecutor(load_datasets(space), trial), Path(out))
"""


def gated_driver(condition: str, space: Path, out: Path, started: Path, gate: Path) -> list[str]:
    """The command of an in-process driver whose trial blocks where ``condition`` (a Python
    expression of ``ctx``, the trial's context) holds: it creates ``started``, then opens the FIFO
    ``gate``, which no one writes, so the driver stays alive, mid-trial, until the test kills it."""
    script = _GATED_DRIVER.replace("{condition}", condition)
    return [sys.executable, "-c", script, str(space), str(out), str(started), str(gate)]
