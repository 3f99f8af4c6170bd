"""The README's cluster recipe, run as a user runs it: two ``ray start`` nodes on loopback, then
``dse run --address`` through the CLI, and ``--address`` to nowhere giving up in bounded time."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dse.results.store import ResultStore
from tests.drivers import dse_driver

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_start(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run([RAY, "start", *args], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The README's recipe on two "machines" of this one: a head and a worker with homes of their
    own, token authentication on, the head's token copied to the worker; each started with
    ``ray start``, isolated in its own temp folder, and stopped by killing that session's
    processes (``ray stop`` would stop every Ray on the host). Yields the address and the
    driver's environment (the worker's home: it holds the copied token)."""
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")
    port = free_port()
    head, worker = tmp_path / "head-home", tmp_path / "worker-home"
    base = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    head_env = {**base, "HOME": str(head), "RAY_AUTH_MODE": "token"}
    worker_env = {**base, "HOME": str(worker), "RAY_AUTH_MODE": "token"}
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024**2), "--disable-usage-stats"]
    try:
        head.mkdir()
        subprocess.run([RAY, "get-auth-token", "--generate"], env=head_env, capture_output=True, check=True)
        (worker / ".ray").mkdir(parents=True)
        shutil.copy(head / ".ray" / "auth_token", worker / ".ray" / "auth_token")  # "copy it to every node"
        ray_start(
            ["--head", "--port", str(port), "--temp-dir", temp, "--include-dashboard", "false", *common],
            head_env,
        )
        ray_start(["--address", f"127.0.0.1:{port}", *common], worker_env)
        yield f"127.0.0.1:{port}", worker_env
    finally:
        subprocess.run(["pkill", "-9", "-f", temp], check=False)
        subprocess.run(["pkill", "-9", "-f", f"127.0.0.1:{port}"], check=False)


def test_the_readme_recipe_runs_a_study_on_two_ray_start_nodes(
    two_nodes: tuple[str, dict[str, str]], tiny_space, tmp_path: Path
) -> None:
    address, env = two_nodes
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "dse",
        "run",
        str(tiny_space(trials=4)),
        "--address",
        address,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = ResultStore(out).read()
    assert sorted(df["trial_number"]) == [0, 1, 2, 3]
    assert set(df["status"]) == {"complete"}


def test_an_address_with_no_cluster_gives_up_within_its_bound(tiny_space, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dse", "run", str(tiny_space(trials=1)), "--address", "127.0.0.1:1"]
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "no Ray cluster answered" in proc.stderr and "127.0.0.1:1" in proc.stderr


def test_sigterm_stops_a_running_study_and_keeps_its_rows(tiny_space, tmp_path: Path) -> None:
    out = tmp_path / "out"
    space = tiny_space(trials=200)
    proc = dse_driver(space, out, "--no-cache", quiet=True)
    parts = out / "trials"
    deadline = time.monotonic() + 300
    try:
        while not (parts.is_dir() and any(parts.glob("*.parquet"))):  # the first durable row
            assert proc.poll() is None and time.monotonic() < deadline, "no row was written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    rows = ResultStore(out).read()
    assert 1 <= len(rows) < 200 and rows["trial_number"].is_unique
