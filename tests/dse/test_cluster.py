"""A real 2-node Ray cluster on this machine: trials spread over both nodes, and a node lost
mid-study does not stop the study from completing its budget."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import RayExecutor, Resources
from dse.engine.space import load_space
from dse.engine.study import run_study
from dse.engine.trial import TrialContext
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def slow_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """Half a second of 'work', then a record stamped with the node it ran on."""
    from datetime import UTC, datetime

    time.sleep(0.5)
    now = datetime.now(UTC)
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status="complete",
        point=point,
        metrics={"accuracy": 0.5, "energy_per_inference_pj": 1.0},
        datetime_start=now,
        datetime_complete=now,
        worker_node=ctx.worker_node,
        wall_seconds=0.5,
        attempt=ctx.attempt,
    )


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 100 * 1024**2})
    c.add_node(num_cpus=1, object_store_memory=100 * 1024**2)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def run(tiny_space, out: Path, trials: int) -> tuple[ResultStore, threading.Thread]:
    space = dataclasses.replace(load_space(tiny_space(trials=trials)), trials=trials)
    executor = RayExecutor(load_dataset("digits"), Resources(workers=2, max_retries=3), trial_fn=slow_trial)
    thread = threading.Thread(target=run_study, args=(space, executor, out), kwargs={"workers": 2})
    thread.start()
    return ResultStore(out), thread


def test_trials_run_on_both_nodes(cluster: Cluster, tiny_space, tmp_path: Path) -> None:
    store, thread = run(tiny_space, tmp_path / "out", trials=8)
    thread.join(timeout=180)
    df = store.read()
    assert len(df) == 8 and (df["status"] == "complete").all()
    node_ids = {n["NodeID"] for n in ray.nodes()}
    assert set(df["worker_node"]) == node_ids and len(node_ids) == 2


@ray.remote(max_concurrency=8)
class Gate:
    """On the head node: where each trial's first attempt ran, and an event the test waits on."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.first: dict[int, str] = {}
        self.held = threading.Event()

    def arrive(self, trial: int, node: str) -> bool:
        """Record an attempt; True when it is the first one and on the worker node (it must block)."""
        first = trial not in self.first
        self.first.setdefault(trial, node)
        if first and node == self.worker:
            self.held.set()
            return True
        return False

    def wait_held(self) -> dict[int, str]:
        assert self.held.wait(120)
        return dict(self.first)


def gated_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """A trial whose first attempt on the worker node never ends: the node is removed under it."""
    if ray.get(ray.get_actor("gate").arrive.remote(ctx.trial_number, ctx.worker_node)):
        threading.Event().wait()  # in flight until the node and this worker are gone
    return slow_trial(point, data, ctx)


def test_a_node_removed_with_a_trial_in_flight_does_not_stop_the_study(
    cluster: Cluster, tiny_space, tmp_path: Path
) -> None:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = ray.get_runtime_context().get_node_id()
    worker_node = next(n for n in cluster.worker_nodes)
    worker = worker_node.node_id
    gate = Gate.options(
        name="gate", scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False), num_cpus=0
    ).remote(worker)
    space = dataclasses.replace(load_space(tiny_space(trials=10)), trials=10)
    executor = RayExecutor(load_dataset("digits"), Resources(workers=2, max_retries=3), trial_fn=gated_trial)
    out = tmp_path / "out"
    thread = threading.Thread(target=run_study, args=(space, executor, out), kwargs={"workers": 2})
    thread.start()
    first = ray.get(gate.wait_held.remote())  # a trial is now running on the worker node
    lost = next(n for n, node in first.items() if node == worker)
    cluster.remove_node(worker_node)
    thread.join(timeout=180)
    assert not thread.is_alive()
    df = ResultStore(out).read().set_index("trial_number")
    assert sorted(df.index) == list(range(10)) and (df["status"] == "complete").all(), df["error"].tolist()

    assert df.loc[lost, "worker_node"] == head and df.loc[lost, "attempt"] == 1  # retried once, on the head
    assert (df.drop(index=lost)["attempt"] == 0).all()
