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


def test_a_node_removed_mid_study_does_not_stop_it(cluster: Cluster, tiny_space, tmp_path: Path) -> None:
    store, thread = run(tiny_space, tmp_path / "out", trials=10)
    deadline = time.monotonic() + 60
    while store.rows_on_disk() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker_node = next(n for n in cluster.worker_nodes)
    cluster.remove_node(worker_node)
    thread.join(timeout=180)
    assert not thread.is_alive()
    df = store.read()
    assert len(df) == 10 and df["trial_number"].is_unique
    assert (df["status"] == "complete").all()
