"""Everything a local study starts listens on 127.0.0.1 only: its own network namespace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dse.engine import netns
from dse.results.store import ResultStore

LISTEN = "0A"
LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
"""127.0.0.1 and ::1 and ::ffff:127.0.0.1 as /proc/net/tcp{,6} spell them."""


def study_pids() -> list[int]:
    """Processes started by an isolated study (they inherit DSE_NETNS=1)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"{netns.ISOLATED}=1".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def listening(pid: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp) of the listening TCP sockets in ``pid``'s namespace."""
    out = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        out += [f[1].split(":")[0] for f in (line.split() for line in lines) if f[3] == LISTEN]
    return out


@pytest.mark.skipif(not netns.available(), reason="user namespaces are not allowed on this machine")
def test_a_local_study_listens_on_loopback_only(tiny_space, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != netns.OPT_OUT}
    cmd = [sys.executable, "-m", "dse", "run", str(tiny_space(trials=6)), "--out", str(out), "--no-cache"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen: dict[int, list[str]] = {}
    namespaces: set[str] = set()
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in study_pids():  # sample the sockets while Ray runs the trials
                seen[pid] = sorted(set(seen.get(pid, [])) | set(listening(pid)))
                try:
                    namespaces.add(os.readlink(f"/proc/{pid}/ns/net"))
                except OSError:
                    continue
            time.sleep(0.2)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    sockets = {addr for addrs in seen.values() for addr in addrs}
    assert len(seen) >= 3 and sockets  # the driver, Ray's servers and workers were seen listening
    assert sockets <= LOOPBACK, sockets
    assert namespaces and os.readlink("/proc/self/ns/net") not in namespaces  # none on the host's network
    assert sorted(ResultStore(out).read()["trial_number"]) == list(range(6))
