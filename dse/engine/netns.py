"""A private network namespace for a local study, so everything it starts listens on loopback only.

Ray 2.60 binds its servers (GCS, raylets, workers, agents) to every interface and turns
``127.0.0.1`` into the machine's address (``ray._private.services.resolve_ip_for_localhost``),
so a local study cannot keep them off the network by configuration. A Linux network namespace
can: ``dse run`` re-runs itself under ``unshare --net --map-root-user``, whose only interface is
its own loopback, brought up before Ray starts. Ray then finds no outside address, binds
``127.0.0.1``, and nothing the study starts can be reached from another machine, or from another
user's process on this one. Files are written as the calling user (the user namespace maps it).

Only a local study runs there: one that joins a cluster (``--address``) or keeps its Optuna
storage in a database (``--storage``) needs the network. Where user namespaces are not allowed
(some hardened kernels), the study runs as before, after a one-line warning.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys

ISOLATED = "DSE_NETNS"
"""Set in the re-run process: it is inside the namespace (and must not re-run itself again)."""
OPT_OUT = "DSE_HOST_NETWORK"
"""Set to 1 to run local studies on the host's network (Ray on every interface) anyway."""
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def wanted(address: str | None, storage: str | None, executor: str) -> bool:
    """Whether this run should move into its own namespace: a local Ray study, not already inside
    one, on Linux with ``unshare``, and not opted out."""
    return (
        executor == "ray"
        and address is None
        and not storage
        and sys.platform == "linux"
        and os.environ.get(ISOLATED) != "1"
        and os.environ.get(OPT_OUT) != "1"
        and shutil.which("unshare") is not None
    )


def available() -> bool:
    """Whether this user may make a user and network namespace (a quick, side-effect-free try)."""
    probe = subprocess.run(["unshare", "--net", "--map-root-user", "true"], capture_output=True)
    return probe.returncode == 0


def loopback_up() -> None:
    """Bring up the namespace's loopback interface (a new namespace starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def rerun_isolated(argv: list[str]) -> int:
    """Run ``python -m dse ARGV`` in a new user and network namespace; returns its exit code.

    SIGINT and SIGTERM are passed on, so stopping the outer process stops the study the same way.
    """
    cmd = ["unshare", "--net", "--map-root-user", sys.executable, "-m", "dse", *argv]
    # Nothing outside the namespace can reach its Ray, so it needs no token. (Ray's one-line warning
    # that it found no outside address is expected here.)
    env = {"RAY_AUTH_MODE": "disabled", **os.environ, ISOLATED: "1"}
    child = subprocess.Popen(cmd, env=env)

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
