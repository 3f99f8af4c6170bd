"""Pareto query time: 100k trials, 4 objectives, from Parquet to front + hypervolume (goal ≤ 1 s).

Writes a synthetic study (one compacted part, as after ``dse compact``) to a temp folder, then times
read → pareto_front → hypervolume with :mod:`dse.analysis.pareto` (moocore). For scale, it
also times optuna's own Pareto filter (``optuna.study._multi_objective._is_pareto_front``, private API)
against ours on 10k rows in the same run, and prints the ratio. Figures only, no asserts.

Usage: ``.venv/bin/python benchmarks/pareto_query.py [--rows 100000] [--repeat 5] [--optuna-hv]``
(``--optuna-hv`` adds optuna's hypervolume on 10k rows, which can take tens of seconds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from dse.analysis.pareto import (
    Direction,
    HypervolumeResult,
    Objective,
    default_reference,
    hypervolume,
    nondominated_mask,
    objective_matrix,
    pareto_front,
)

T = TypeVar("T")

OBJECTIVES = (
    Objective("accuracy", Direction.MAXIMIZE),
    Objective("energy_per_inference_pj", Direction.MINIMIZE),
    Objective("model_size_bits", Direction.MINIMIZE),
    Objective("max_writes_per_device", Direction.MINIMIZE),
)


def synthetic_trials(n: int, seed: int = 0) -> pd.DataFrame:
    """Trials with real trade-offs: more ADC bits / width buy accuracy with energy and size."""
    rng = np.random.default_rng(seed)
    adc = rng.integers(2, 9, n)
    width = rng.choice([0.25, 0.5, 1.0, 2.0], n)
    tile = rng.choice([64, 128, 256, 512], n)
    acc = 1 - 0.5 * np.exp(-0.45 * adc) - 0.05 / width - 0.01 * np.log2(tile / 64) + rng.normal(0, 0.02, n)
    return pd.DataFrame(
        {
            "status": "complete",
            "trial_number": np.arange(n),
            "device": rng.choice(["pcm", "rram", "stt_mram", "fefet", "ecram", "sram"], n),
            "tile_rows": tile,
            "adc_bits": adc,
            "dac_bits": rng.integers(2, 9, n),
            "width_mult": width,
            "mode": rng.choice(["hwa", "apt", "onchip_sgd", "hic"], n),
            "accuracy": acc,
            "energy_per_inference_pj": width**2
            * 2.0**adc
            * 1e3
            * rng.lognormal(0, 0.3, n)
            * (512 / tile) ** 0.3,
            "model_size_bits": (width**2 * 1e6 * rng.integers(1, 9, n)).astype(np.int64),
            "max_writes_per_device": rng.lognormal(8, 2, n).astype(np.int64),
            "area_mm2": width**2 * rng.uniform(0.5, 2, n),
            "wall_seconds": rng.uniform(5, 60, n),
        }
    )


def timed(fn: Callable[[], T], repeat: int, warmup: bool = True) -> tuple[float, T]:
    """Median wall time over ``repeat`` runs (after one untimed warm-up run), and the last result."""
    if warmup:
        fn()
    times: list[float] = []
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--optuna-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--optuna-hv", action="store_true", help="also time optuna's hypervolume")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        parts = Path(tmp) / "bench" / "trials"
        parts.mkdir(parents=True)
        synthetic_trials(args.rows).to_parquet(parts / "part-00000.parquet", index=False)

        def query() -> tuple[pd.DataFrame, HypervolumeResult]:
            """Like ``dse pareto``: read all rows, keep the front, measure it at the default reference."""
            rows = pd.read_parquet(parts)
            front = pareto_front(rows, OBJECTIVES)
            return front, hypervolume(front, OBJECTIVES, reference=default_reference(rows, OBJECTIVES))

        df = pd.read_parquet(parts)
        t_read, _ = timed(lambda: pd.read_parquet(parts), args.repeat)
        t_front, _ = timed(lambda: pareto_front(df, OBJECTIVES), args.repeat)
        t_total, (front, hv) = timed(query, args.repeat)
        reference = default_reference(df, OBJECTIVES)
        t_hv, _ = timed(lambda: hypervolume(front, OBJECTIVES, reference=reference), args.repeat)

    print(f"rows {args.rows:,}, objectives {len(OBJECTIVES)}, front size {len(front):,}")
    print(f"  read Parquet           {t_read * 1e3:8.1f} ms")
    print(f"  pareto_front           {t_front * 1e3:8.1f} ms")
    print(f"  hypervolume of front   {t_hv * 1e3:8.1f} ms  (value {hv.value:.6g})")
    print(f"  read+front+hypervolume {t_total * 1e3:8.1f} ms  (goal <= 1000 ms; median of {args.repeat})")

    small = synthetic_trials(args.optuna_rows, seed=1)
    values, _ = objective_matrix(small, OBJECTIVES)
    maximise = [o.direction.maximise for o in OBJECTIVES]
    loss = np.where(maximise, -values, values)  # optuna filters losses (minimize)
    t_ours, mask = timed(lambda: nondominated_mask(values, maximise), args.repeat)
    print(f"\nPareto filter on {args.optuna_rows:,} rows: dse (moocore) {t_ours * 1e3:.2f} ms")
    try:
        from optuna.study._multi_objective import _is_pareto_front
    except ImportError as err:
        print(f"  optuna's Pareto filter not available ({err}); no ratio")
        return
    t_optuna, optuna_mask = timed(lambda: _is_pareto_front(loss, assume_unique_lexsorted=False), args.repeat)
    same = np.array_equal(np.asarray(optuna_mask, dtype=bool), mask)
    print(f"  optuna _is_pareto_front {t_optuna * 1e3:.2f} ms -> optuna/dse = {t_optuna / t_ours:.1f}x"
          f" (same front: {same})")  # fmt: skip
    if args.optuna_hv:
        from optuna._hypervolume import compute_hypervolume

        ref = np.where(maximise, -1, 1) * np.array(list(default_reference(small, OBJECTIVES).values()))
        t_ohv, ohv = timed(lambda: compute_hypervolume(loss, ref), 1, warmup=False)
        t_dhv, dhv = timed(lambda: hypervolume(small, OBJECTIVES), 1, warmup=False)
        print(f"  hypervolume: optuna {t_ohv:.3f} s, dse {t_dhv:.4f} s -> {t_ohv / t_dhv:.0f}x"
              f" (values {ohv:.6g} vs {dhv.value:.6g})")  # fmt: skip


if __name__ == "__main__":
    main()
