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
