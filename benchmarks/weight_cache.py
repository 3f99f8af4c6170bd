"""Train once, evaluate many: cache hits on a sweep of hardware knobs (apt_deploy style).

A random sweep over device × ADC bits × DAC bits × tile size, with two training settings
(η_train), hwa on digits, 2 Ray workers sharing one cache folder. Prints the share of
trials that hit the cache and the mean wall time of a hit over a miss (goals: ≥ 80 % hits,
each ≥ 10× cheaper).

    .venv/bin/python benchmarks/weight_cache.py [--trials 200] [--epochs 30]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from dse.engine.data import load_dataset
from dse.engine.executor import RayExecutor, Resources
from dse.engine.space import parse_space
from dse.engine.study import run_study
from dse.results.store import ResultStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    raw = {
        "study": {"name": "cache_bench", "sampler": "random", "trials": args.trials, "workers": 2, "seed": 1},
        "params": {
            "device": {"choices": ["pcm", "rram", "fefet", "ecram", "sram"]},
            "adc_bits": {"low": 3, "high": 8},
            "dac_bits": {"low": 4, "high": 8},
            "tile_size": {"low": 64, "high": 256, "step": 64},
            "eta_train": {"choices": [0.02, 0.05]},
            "mode": "hwa",
            "hidden": [128, 128],
            "epochs": args.epochs,
            "hardware_seeds": 1,
        },
        "objectives": {"accuracy": "max", "energy_per_inference_pj": "min"},
    }
    space = parse_space(raw, "cache_bench.toml")
    with tempfile.TemporaryDirectory() as tmp:
        executor = RayExecutor(load_dataset("digits", seed=1), Resources(workers=2))
        run_study(space, executor, Path(tmp), workers=2, cache_dir=Path(tmp) / "cache")
        df = ResultStore(tmp).read()
    done = df[df["status"] == "complete"]
    hits, misses = done[done["cache_hit"]], done[~done["cache_hit"].astype(bool)]
    share = len(hits) / max(1, len(done))
    ratio = misses["wall_seconds"].mean() / hits["wall_seconds"].mean()
    print(
        f"trials: {len(done)} complete of {len(df)}; cache hits {len(hits)} ({share:.1%}, goal ≥ 80 %), "
        f"misses {len(misses)}"
    )
    print(
        f"mean wall time: miss {misses['wall_seconds'].mean():.2f} s, "
        f"hit {hits['wall_seconds'].mean():.2f} s "
        f"→ a hit is {ratio:.1f}× cheaper (goal ≥ 10×)"
    )
    print(
        f"of a hit: training skipped ({misses['train_seconds'].mean():.2f} s), evaluation "
        f"{hits['eval_seconds'].mean():.2f} s (4 read times × GDC off/on × 1 chip)"
    )


if __name__ == "__main__":
    main()
