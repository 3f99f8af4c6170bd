"""Scaling of the engine: parallel efficiency, a 2-node loopback cluster, and a projection.

1. Parallel efficiency: N trials of T seconds each on 2 workers; ideal wall = N·T/2.
2. The same study on a 2-node loopback cluster (1 CPU per node) against one node (2 CPUs).
3. A projection to 1,000 trials in flight: driver CPU per trial, driver memory per trial in
   flight, and the size of the Optuna journal and of the Parquet folder per trial.

    .venv/bin/python benchmarks/scaling.py [--trials 6] [--seconds 10]

Trials sleep instead of training, so the figures measure the engine, not the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import RayExecutor, Resources
from dse.engine.space import SearchSpace, load_space
from dse.engine.study import run_study
from dse.engine.trial import TrialContext
from dse.results.folder import JOURNAL_FILE
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
SECONDS = {"value": 10.0}


def sleeping_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """A trial that takes SECONDS of wall time and no CPU."""
    start = datetime.now(UTC)
    time.sleep(point.epochs / 1000.0)  # the duration travels inside the point (ms in `epochs`)
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status="complete",
        point=point,
        metrics={
            "accuracy": 0.5,
            "energy_per_inference_pj": 1.0,
            "model_size_bits": 1.0,
            "max_writes_per_device": 1.0,
        },
        datetime_start=start,
        datetime_complete=datetime.now(UTC),
        worker_node=ctx.worker_node,
    )


def space_for(trials: int, seconds: float) -> SearchSpace:
    base = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "quickstart.toml")
    fixed = tuple(
        d if d.name != "epochs" else dataclasses.replace(d, value=round(seconds * 1000)) for d in base.domains
    )
    return dataclasses.replace(base, domains=fixed, trials=trials, sampler="random", sampler_options=())


def timed_study(space: SearchSpace, executor: RayExecutor, out: Path) -> tuple[float, float]:
    """Wall time of the study, and the delay before its first trial started (worker start-up)."""
    started = datetime.now(UTC)
    wall = time.perf_counter()
    run_study(space, executor, out, workers=2)
    wall = time.perf_counter() - wall
    first = ResultStore(out).read()["datetime_start"].min()
    return wall, (first - started).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    data = load_dataset("digits")
    space = space_for(args.trials, args.seconds)
    ideal = args.trials * args.seconds / 2

    with tempfile.TemporaryDirectory() as tmp:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(data, Resources(workers=2), trial_fn=sleeping_trial)
        one_node, startup = timed_study(space, executor, Path(tmp) / "one")
        print(
            f"parallel efficiency, {args.trials} × {args.seconds:g} s trials on 2 workers: "
            f"{ideal / one_node:.1%} (wall {one_node:.1f} s, ideal {ideal:.1f} s); "
            f"{ideal / (one_node - startup):.1%} after the one-time worker start-up of {startup:.1f} s"
        )

        # Projection: driver CPU per trial, memory per trial in flight, bytes per trial on disk.
        many = dataclasses.replace(space_for(200, 0.0), trials=200)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu = time.process_time()
        executor = RayExecutor(data, Resources(workers=200), trial_fn=sleeping_trial)
        run_study(many, executor, Path(tmp) / "many", workers=200)
        cpu = time.process_time() - cpu
        rss_kib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0)
        journal = (Path(tmp) / "many" / JOURNAL_FILE).stat().st_size
        parquet = sum(p.stat().st_size for p in ResultStore(Path(tmp) / "many").files())
        ray.shutdown()
        per_trial_cpu_ms = 1000 * cpu / 200
        print(
            f"driver CPU per trial: {per_trial_cpu_ms:.1f} ms → at most "
            f"{1000 / per_trial_cpu_ms:.0f} trials/s from one driver; 1,000 in flight need trials "
            f"longer than {per_trial_cpu_ms:.0f} s to keep up"
        )
        print(
            f"driver memory with 200 trials in flight: +{rss_kib / 1024:.1f} MiB peak "
            f"(≈ {rss_kib / 200:.1f} KiB per trial → ≈ {rss_kib * 5 / 1024:.0f} MiB at 1,000)"
        )
        single = ResultStore(Path(tmp) / "single")  # a slow trial's row gets a part of its own
        one = single.append([sleeping_trial(DesignPoint.of(epochs=1), data, TrialContext("s", 0))])
        part = one.stat().st_size if one else 0
        print(
            f"on disk per trial: journal {journal / 200 / 1024:.1f} KiB; Parquet {parquet / 200 / 1024:.1f} "
            f"KiB when rows share parts (these 200 finished together), {part / 1024:.1f} KiB with a part "
            f"each → 10,000 trials: journal {journal * 50 / 1024**2:.0f} MiB, Parquet "
            f"{parquet * 50 / 1024**2:.0f}–{part * 10_000 / 1024**2:.0f} MiB before `dse compact`"
        )

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        executor = RayExecutor(data, Resources(workers=2), trial_fn=sleeping_trial)
        two_nodes, _two_startup = timed_study(space, executor, Path(tmp) / "two")
        nodes = set(ResultStore(Path(tmp) / "two").read()["worker_node"])
        ray.shutdown()
        cluster.shutdown()
        print(
            f"2-node loopback cluster over one node: wall {two_nodes:.1f} s / {one_node:.1f} s = "
            f"{two_nodes / one_node:.2f}× (trials ran on {len(nodes)} nodes)"
        )


if __name__ == "__main__":
    main()
