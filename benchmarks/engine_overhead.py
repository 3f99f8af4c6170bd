"""Engine overhead per trial: ask → Ray task → tell → Parquet, on trivial trials.

Runs N trials whose body returns at once, through the real study loop, Ray executor,
journal storage and Parquet store, and prints the wall time per trial next to the
10 ms goal. The baseline, measured in the same run, is the same loop in-process
(no Ray): Optuna, the journal and the Parquet store alone.

    .venv/bin/python benchmarks/engine_overhead.py [--trials 500] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import Executor, LocalExecutor, RayExecutor, Resources
from dse.engine.space import SearchSpace, load_space
from dse.engine.study import run_study
from dse.engine.trial import TrialContext
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord


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
    space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "quickstart.toml")
    space = dataclasses.replace(
        space, trials=args.trials, sampler=args.sampler, workers=args.workers, sampler_options=()
    )
    data = load_dataset("digits")
    local = timed_study(space, LocalExecutor(data, trial_fn=trivial_trial), args.workers)
    t0 = time.perf_counter()
    executor = RayExecutor(data, Resources(workers=args.workers), trial_fn=trivial_trial)
    startup = time.perf_counter() - t0
    ray_run = timed_study(space, executor, args.workers)
    print(f"trials: {args.trials} ({ray_run.complete} complete), workers {args.workers}, {args.sampler}")
    print(
        f"once per study: Ray start-up {startup:.1f} s, first {WARM_UP} trials (Ray starts its worker "
        f"processes) {ray_run.warm_up_s:.1f} s, shut-down {ray_run.teardown_s:.1f} s"
    )
    print(
        f"engine overhead per trial after warm-up: {ray_run.per_trial_ms:.2f} ms  "
        f"(goal ≤ 10 ms; ratio to goal {ray_run.per_trial_ms / 10:.2f}×)"
    )
    print(
        f"  driver CPU per trial (all its threads): {ray_run.cpu_ms:.2f} ms; the same loop in-process "
        f"(no Ray): {local.per_trial_ms:.2f} ms per trial, Ray path / in-process "
        f"{ray_run.per_trial_ms / local.per_trial_ms:.2f}×"
    )
    print(f"trials per hour at zero trial cost: {3.6e6 / ray_run.per_trial_ms:,.0f}")


WARM_UP = 20


@dataclasses.dataclass(frozen=True)
class Timed:
    warm_up_s: float
    """From the first ask to the WARM_UP-th tell."""
    per_trial_ms: float
    """Wall time per trial from then to the last tell."""
    teardown_s: float
    cpu_ms: float
    """Driver CPU per trial over the whole loop."""
    complete: int


def timed_study(space: SearchSpace, executor: Executor, workers: int) -> Timed:
    """Run the study loop once in a fresh folder; time it by the driver's own progress reports."""
    told: list[float] = []

    def on_progress(progress: object, rec: TrialRecord | None) -> None:
        if rec is not None:
            told.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        cpu0, t0 = time.process_time(), time.perf_counter()
        progress = run_study(space, executor, Path(tmp), workers=workers, on_progress=on_progress)
        end = time.perf_counter()
        cpu = time.process_time() - cpu0
    n = len(told)
    return Timed(
        warm_up_s=told[WARM_UP - 1] - t0,
        per_trial_ms=1000 * (told[-1] - told[WARM_UP - 1]) / (n - WARM_UP),
        teardown_s=end - told[-1],
        cpu_ms=1000 * cpu / n,
        complete=progress.complete,
    )


if __name__ == "__main__":
    main()
