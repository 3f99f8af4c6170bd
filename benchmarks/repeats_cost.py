"""What ``[study] repeats = 3`` costs over ``repeats = 1``: wall time of one trial, in-process.

A quickstart design (hwa MLP 64-64 on digits, 10 epochs, 3 chips) and an MNIST-1D CNN design
(30 epochs, 2 chips), each run with R = 1 and R = 3 (no weights cache, one torch thread), best
of ``--runs``. Prints both wall times and their ratio. Repeats share the loaded data and the
cost model; each trains and evaluates on its own, so the ratio stays below 3 only by the shared
part. With the weights cache, a later design that differs only in hardware knobs loads all R
trained networks and pays R evaluations instead.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/repeats_cost.py [--runs 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from dse.engine.data import load_dataset
from dse.engine.trial import evaluate_point
from dse.schema.point import DesignPoint

DESIGNS = {
    "quickstart (digits MLP)": (
        "digits",
        DesignPoint.of(
            device="pcm", hidden=[64, 64], epochs=10, batch_size=32, hardware_seeds=3, read_time="1d"
        ),
    ),
    "mnist1d_devices (cnn1d)": (
        "mnist1d",
        DesignPoint.of(
            device="pcm",
            dataset="mnist1d",
            model="cnn1d",
            epochs=30,
            batch_size=100,
            lr=0.1,
            tile_size=128,
            hardware_seeds=2,
            read_time="1d",
        ),
    ),
}


def wall(point: DesignPoint, data_name: str, repeats: int, runs: int) -> float:
    data = load_dataset(data_name)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        evaluate_point(point, data, None, "cpu", repeats)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, (data_name, point) in DESIGNS.items():
        one = wall(point, data_name, 1, args.runs)
        three = wall(point, data_name, 3, args.runs)
        print(f"{name}: R=1 {one:.2f} s, R=3 {three:.2f} s, ratio {three / one:.2f}")


if __name__ == "__main__":
    main()
