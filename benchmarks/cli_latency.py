"""CLI latency: wall time of ``dse --help``, ``dse status`` and ``dse pareto`` on a 1,000-row study.

Writes a real study folder (``_study.json`` and 1,000 rows through :class:`ResultStore`, one
part per 50 trials as a driver's group commits leave them) to a temp folder, then runs each
command as a user does, a fresh ``python -m dse`` process each time, and reports the median
of ``--repeat`` runs. The baseline, measured in the same run, is a bare ``python -c pass`` of
the same interpreter: the ratio says how much of a command's time is the tool's own. The goal
is ≤ 1 s for each command on a 2-core machine. Figures only, no asserts.

Usage: ``.venv/bin/python benchmarks/cli_latency.py [--rows 1000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dse.results.folder import STUDY_FILE
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

OBJECTIVES = ["accuracy:max", "energy_per_inference_pj:min", "area_mm2:min"]


def write_study(root: Path, rows: int, seed: int = 0) -> None:
    """A study folder with ``rows`` complete trials over a few devices and ADC widths."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    meta = {"study": "latency", "trials": rows, "sampler": "tpe", "objectives": OBJECTIVES, "storage": None}
    (root / STUDY_FILE).write_text(json.dumps(meta))
    store, now, batch = ResultStore(root), datetime.now(UTC), []
    for n in range(rows):
        point = DesignPoint.of(
            device=str(rng.choice(["pcm", "rram", "sram"])), adc_bits=int(rng.integers(2, 9))
        )
        metrics = {
            "accuracy": float(rng.uniform(0.5, 1.0)),
            "energy_per_inference_pj": float(rng.lognormal(8, 1)),
            "area_mm2": float(rng.lognormal(0, 1)),
        }
        batch.append(TrialRecord("latency", n, "complete", point, metrics, None, 0, now, now))
        if len(batch) == 50:
            store.append(batch)
            batch = []
    store.append(batch)


def median_wall_s(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "latency"
        write_study(root, args.rows)
        dse = [sys.executable, "-m", "dse"]
        base = median_wall_s([sys.executable, "-c", "pass"], args.repeat)
        print(f"{'command':<28} {'median s':>9} {'÷ bare python':>14}   (goal ≤ 1 s)")
        print(f"{'python -c pass (baseline)':<28} {base:>9.3f} {1.0:>14.1f}")
        for label, cmd in (
            ("dse --help", [*dse, "--help"]),
            (f"dse status ({args.rows} rows)", [*dse, "status", str(root)]),
            (f"dse pareto ({args.rows} rows)", [*dse, "pareto", str(root)]),
        ):
            wall = median_wall_s(cmd, args.repeat)
            print(f"{label:<28} {wall:>9.3f} {wall / base:>14.1f}")


if __name__ == "__main__":
    main()
