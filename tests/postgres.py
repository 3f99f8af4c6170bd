"""A throwaway PostgreSQL server for tests: initdb into a temp folder, start on a free
loopback port with trust auth, stop afterwards. Runs as the ``postgres`` user when the
tests run as root (initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoPostgres(RuntimeError):
    """No server could be started; the message says why."""


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty server; raise NoPostgres if none can start."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise NoPostgres("initdb/pg_ctl not found (install Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    data = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            raise NoPostgres("running as root and runuser is missing")
        shutil.chown(root, user="postgres")
        os.chmod(root, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode:
            raise NoPostgres(f"{' '.join(args[:2])} failed: {proc.stderr.strip()[-300:]}")

    try:
        run(initdb, "-D", str(data), "--auth=trust", "-U", "postgres", "--no-sync")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start")
        try:
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60
            )
            time.sleep(0.1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
