"""Where trials run: Ray tasks (local or a cluster) or in-process, behind one interface.

The driver submits ``(trial number, point)`` pairs and collects records in completion
order. Executors never touch storage; they only turn points into records.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dse.engine.data import Dataset
from dse.engine.trial import TRANSIENT_ERRORS, TrialContext, run_trial
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord


@dataclass(frozen=True)
class Resources:
    """Per-trial resources and how many trials may run at once."""

    workers: int = 2
    """Trials in flight (the in-flight window)."""
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_retries: int = 2
    """Ray retries of a trial whose worker died (system failures, and TRANSIENT_ERRORS)."""


class Executor(ABC):
    """Runs trials. Not thread-safe: one driver thread calls submit/wait.

    Contract: every submitted key comes back exactly once from :meth:`wait`, as a
    record (complete or failed), never as an exception.
    """

    @abstractmethod
    def submit(self, point: DesignPoint, ctx: TrialContext) -> None:
        """Start a trial."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[TrialRecord]:
        """Block until at least one trial finishes, or ``timeout`` seconds pass (then the list
        may be empty); return those finished, in completion order."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Trials submitted and not yet returned."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


TrialFn = Callable[[DesignPoint, Dataset, TrialContext], TrialRecord]
"""What an executor runs for each trial: :func:`dse.engine.trial.run_trial`, or a stand-in in benchmarks."""
Datasets = Dataset | Mapping[str, Dataset]
"""One dataset, or every dataset a space lists by name (a searched ``dataset``)."""


def by_name(data: Datasets) -> dict[str, Dataset]:
    """The datasets keyed by their names."""
    return {data.name: data} if isinstance(data, Dataset) else dict(data)


def run_on_its_data(
    trial_fn: TrialFn, point: DesignPoint, datasets: Mapping[str, Dataset], ctx: TrialContext
) -> TrialRecord:
    """Run ``point`` on the dataset it names; a point whose dataset was not loaded fails (a row
    never claims data it did not train on)."""
    data = datasets.get(point.dataset)
    if data is None:
        loaded = ", ".join(sorted(datasets))
        return failed_record(point, ctx, f"dataset {point.dataset!r} was not loaded (loaded: {loaded})")
    return trial_fn(point, data, ctx)


class LocalExecutor(Executor):
    """Runs each trial in this process, one at a time (for debugging and tests)."""

    def __init__(self, data: Datasets, trial_fn: TrialFn = run_trial) -> None:
        self.data = by_name(data)
        self.trial_fn = trial_fn
        self.queue: deque[tuple[DesignPoint, TrialContext]] = deque()

    def submit(self, point: DesignPoint, ctx: TrialContext) -> None:
        self.queue.append((point, ctx))

    def wait(self, timeout: float | None = None) -> list[TrialRecord]:
        """Runs the next trial to its end; ``timeout`` does not apply in-process."""
        point, ctx = self.queue.popleft()
        try:
            return [run_on_its_data(self.trial_fn, point, self.data, ctx)]
        except TRANSIENT_ERRORS as exc:
            return [failed_record(point, ctx, f"{type(exc).__name__}: {exc}")]

    @property
    def in_flight(self) -> int:
        return len(self.queue)


_WORKER_SHARED: dict[str, tuple[dict[str, Dataset], TrialFn]] = {}
"""What every trial of a study shares (the dataset and the trial function), as this worker
process last fetched it, by object id: Ray reuses worker processes, so each fetches and
unpickles them once per study, not once per trial."""


def _ray_trial(
    point: DesignPoint, ctx: TrialContext, boxed: list[object], attempts: Any = None
) -> TrialRecord:
    """Ray task body: pin torch threads to the CPUs Ray gave this task, then run the trial.

    ``boxed`` holds the ObjectRef of (datasets, trial function) inside a list, so Ray does not
    fetch it before the task starts and the worker's cached copy can be used instead.
    ``attempts`` is the study's :class:`AttemptCounter` actor: a task Ray retries after its
    worker died asks it again, so the row records which try produced it.
    """
    import ray
    import torch

    (ref,) = boxed
    key = ref.hex()  # type: ignore[attr-defined]
    if key not in _WORKER_SHARED:
        _WORKER_SHARED.clear()
        _WORKER_SHARED[key] = ray.get(ref)
    data, trial_fn = _WORKER_SHARED[key]
    if attempts is not None:  # this task's tries so far, Ray's retries included
        key = ctx.trial_number if ctx.rung_epochs is None else (ctx.trial_number, ctx.rung_epochs)
        ctx = dataclasses.replace(ctx, attempt=ray.get(attempts.start.remote(key)))
    rt = ray.get_runtime_context()
    cpus = max(1, int(rt.get_assigned_resources().get("CPU", 1)))
    torch.set_num_threads(cpus)
    device = trial_device(rt.get_accelerator_ids().get("GPU", []), torch.cuda.is_available())
    ctx = dataclasses.replace(ctx, worker_node=rt.get_node_id(), device=device)
    return run_on_its_data(trial_fn, point, data, ctx)


class AttemptCounter:
    """A Ray actor counting the starts of each trial's task: Ray exposes no attempt number to
    the task, and a retry after a worker's death is otherwise invisible in the rows. A
    multi-fidelity trial runs one task per rung, each counted apart ((trial, rung) keys): a
    promotion is no retry."""

    def __init__(self) -> None:
        self.starts: dict[int | tuple[int, int], int] = {}

    def start(self, key: int | tuple[int, int]) -> int:
        """Count a start of a trial (or of one rung of it); returns the attempt number (0: first try)."""
        n = self.starts.get(key, -1) + 1
        self.starts[key] = n
        return n


def trial_device(gpu_ids: list[str], cuda_available: bool) -> str:
    """The torch device of a trial: the GPU Ray gave the task (Ray sets ``CUDA_VISIBLE_DEVICES``
    to it, so it is ``cuda``), else the CPU."""
    return "cuda" if gpu_ids and cuda_available else "cpu"


class RayExecutor(Executor):
    """Runs trials as Ray tasks. Starts a private local Ray unless ``address`` is given.

    ``address=None`` always starts a new local instance (``address="local"``), so a
    stale cluster is never joined by accident; ``"auto"`` or ``"host:port"`` joins one.
    """

    def __init__(
        self, data: Datasets, resources: Resources, address: str | None = None, trial_fn: TrialFn = run_trial
    ) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray = ray
        self.resources = resources
        self.started_ray = False
        if not ray.is_initialized():
            os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(resources.cpus_per_trial))))
            common = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
                "configure_logging": True,
            }
            if address is None:
                cpus = max(1, round(resources.workers * resources.cpus_per_trial))
                ray.init(
                    address="local",
                    num_cpus=cpus,
                    num_gpus=0 if not resources.gpus_per_trial else None,
                    object_store_memory=256 * 1024**2,
                    **common,
                )
            else:
                reachable(address)
                ray.init(address=address, **common)
            self.started_ray = True
        try:
            check_fits(resources, ray.cluster_resources())
        except InsufficientResources:
            self.close()
            raise
        self.data = by_name(data)
        """Every dataset, by name (the driver reads input shapes from it: ``dse.engine.precheck``)."""
        self.shared = [ray.put((self.data, trial_fn))]
        # on the driver's own node: a counter on a worker node died with it, and so did every later trial
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.attempts = ray.remote(num_cpus=0)(AttemptCounter).options(scheduling_strategy=here).remote()
        self.task = ray.remote(_ray_trial).options(
            num_cpus=resources.cpus_per_trial,
            num_gpus=resources.gpus_per_trial,
            max_retries=resources.max_retries,
            retry_exceptions=list(TRANSIENT_ERRORS),
        )
        self.pending: dict[object, tuple[DesignPoint, TrialContext]] = {}

    def submit(self, point: DesignPoint, ctx: TrialContext) -> None:
        ref = self.task.remote(point, ctx, self.shared, self.attempts)
        self.pending[ref] = (point, ctx)

    def wait(self, timeout: float | None = None) -> list[TrialRecord]:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            point, ctx = self.pending.pop(ref)
            try:
                out.append(self.ray.get(ref))
            except Exception as exc:  # worker died beyond max_retries, or a transient error persisted
                out.append(failed_record(point, ctx, describe_ray_error(exc)))
        return out

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def close(self) -> None:
        for ref in list(getattr(self, "pending", {})):
            self.ray.cancel(ref, force=True)
        getattr(self, "pending", {}).clear()
        if self.started_ray:
            self.ray.shutdown()


CONNECT_TIMEOUT_S = 10.0
"""How long ``--address host:port`` may take to accept a TCP connection before the run gives up
(Ray's own client retries for minutes and ignores SIGTERM meanwhile)."""


class InsufficientResources(RuntimeError):
    """No node of the cluster can run one trial with the resources asked per trial."""


def reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ConnectionError unless ``host:port`` accepts a TCP connection within ``timeout_s``
    (``auto`` is left to Ray, which fails at once when no cluster is running)."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"--address {address!r}: expected host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectionError(
            f"--address {address}: no Ray cluster answered within {timeout_s:g} s ({exc.strerror or exc}); "
            "start one with `ray start --head` or check the address"
        ) from None


def check_fits(resources: Resources, totals: Mapping[str, float]) -> None:
    """Raise :class:`InsufficientResources` when the cluster's totals cannot hold one trial
    (a trial asking for a GPU on a cluster with none would wait forever)."""
    need = {"CPU": resources.cpus_per_trial, "GPU": resources.gpus_per_trial}
    short = {k: v for k, v in need.items() if v > 0 and totals.get(k, 0.0) < v}
    if short:
        have = ", ".join(f"{k} {totals.get(k, 0.0):g}" for k in need)
        ask = ", ".join(f"{k} {v:g}" for k, v in short.items())
        raise InsufficientResources(
            f"no node offers the resources of one trial ({ask} per trial); the cluster has {have} in total"
        )


def describe_ray_error(exc: BaseException) -> str:
    """A one-line reason: the task's own exception if Ray wrapped one, without colour codes."""
    cause = getattr(exc, "cause", None)
    err = cause if isinstance(cause, BaseException) else exc
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"[:500]


def failed_record(point: DesignPoint, ctx: TrialContext, error: str) -> TrialRecord:
    """A failed record made on the driver, when the trial itself could not report."""
    now = datetime.now(UTC)
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status="failed",
        point=point,
        error=error,
        attempt=ctx.attempt,
        datetime_start=now,
        datetime_complete=now,
    )


def make_executor(kind: str, data: Datasets, resources: Resources, address: str | None = None) -> Executor:
    """``"ray"`` or ``"local"``."""
    if kind == "local":
        return LocalExecutor(data)
    if kind == "ray":
        return RayExecutor(data, resources, address)
    raise ValueError(f"unknown executor {kind!r}; allowed: ray, local")
