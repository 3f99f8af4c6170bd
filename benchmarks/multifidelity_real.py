"""Does the replay benchmark (``benchmarks/multifidelity.py``) predict a real multi-fidelity run?

Runs ``dse run`` for real (local Ray, real training, checkpoints and resumes) on the replay table's
space: quickstart with tile 128, DAC 8 bits, ADC ∈ {2, 3, 4, 6, 8}, width ∈ {0.25, 0.5, 1, 2},
9 epochs, ``fidelity = "epochs"`` with rungs 1/3/9, TPE, and an epoch budget. Then, from the rows
and the rung results recorded in the journal, it prints:

1. whether each rung result of the real run equals the table's row for that design and epoch count
   (the replay's premise: a run resumed at a rung reads as one trained from scratch to it);
2. the cumulative epochs at which the real run's full-fidelity front first reaches the replay
   benchmark's target (95 % of full-fidelity TPE's mean final hypervolume over 10 replayed seeds),
   beside the same figure for a replay of *the same designs in the same order* (two simulated
   workers, time = epochs) and the replayed MO-ASHA/TPE median over 10 seeds.

Budgets differ in one way: the engine asks no new trial once the committed epochs reach the
budget but honours every promotion; the replay starts or promotes nothing that would pass it.

    PYTHONPATH=. .venv/bin/python benchmarks/multifidelity_real.py [--budget 360] [--out DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).parent))
import multifidelity as mf

from dse.engine.asha import RungLedger, rung_epochs
from dse.engine.rungs import recorded
from dse.engine.study import open_storage
from dse.results.store import ResultStore

SPACE = """
[study]
name = "mf_real"
sampler = "tpe"
trials = 1000
workers = 2
seed = 7
fidelity = "epochs"
min_epochs = 1
reduction_factor = 3
budget_epochs = {budget}

[sampler]
n_startup_trials = 8

[params]
device = {{ choices = ["pcm", "rram", "stt_mram", "sram"] }}
adc_bits = {{ choices = [2, 3, 4, 6, 8] }}
width_mult = {{ choices = [0.25, 0.5, 1.0, 2.0] }}
update_bits = {{ choices = [4, 8, 32] }}
tile_size = 128
dac_bits = 8
mode = "hwa"
model = "mlp"
dataset = "digits"
hidden = [64, 64]
epochs = 9
batch_size = 32
lr = 0.05
hardware_seeds = 3
read_time = "1d"

[objectives]
accuracy = "max"
energy_per_inference_pj = "min"
model_size_bits = "min"
"""


def design(row: dict[str, Any]) -> dict[str, Any]:
    adc = row.get("adc_bits")
    adc = None if adc is None or (isinstance(adc, float) and math.isnan(adc)) else int(adc)
    return {
        "device": row["device"],
        "adc_bits": adc,
        "width_mult": float(row["width_mult"]),
        "update_bits": int(row["update_bits"]),
    }


def replay_designs(
    designs: list[dict[str, Any]],
    table: dict[str, dict[int, np.ndarray]],
    scale: mf.Scale,
    budget: int,
    reached: dict[int, int],
) -> list[tuple[int, float]]:
    """The replay benchmark's simulation (two workers, time = epochs, MO-ASHA), but trials take
    the given designs in order instead of asking a sampler. ``reached`` gets each trial's last rung."""
    rungs = rung_epochs(mf.MIN_EPOCHS, mf.EPOCHS, mf.ETA)
    ledger = RungLedger(rungs, tuple(mx for _, mx in mf.OBJECTIVES), mf.ETA)
    queue = list(enumerate(designs))
    events: list[tuple[int, int, int]] = []
    running: dict[int, tuple[int, dict[str, Any], int, int]] = {}
    committed = trained = order = 0
    front: list[np.ndarray] = []
    history = [(0, 0.0)]

    def train(worker: int, now: int, n: int, d: dict[str, Any], done: int, to: int) -> None:
        nonlocal committed, order
        running[worker] = (n, d, done, to)
        committed += to - done
        order += 1
        heapq.heappush(events, (now + to - done, order, worker))

    def start(worker: int, now: int) -> None:
        if queue and committed + rungs[0] <= budget:
            n, d = queue.pop(0)
            train(worker, now, n, d, 0, rungs[0])

    for w in range(mf.WORKERS):
        start(w, 0)
    while events:
        now, _, w = heapq.heappop(events)
        n, d, before, done = running.pop(w)
        trained += done - before
        reached[n] = done
        vec = table[mf.key(d)][done]
        nxt = ledger.report(n, done, vec)
        if nxt is not None and committed + (nxt - done) <= budget:
            train(w, now, n, d, done, nxt)
            continue
        if done == mf.EPOCHS:
            front.append(vec)
        history.append((trained, scale.hv(front)))
        start(w, now)
    return history


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=int, default=360, help="budget_epochs of the real run")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="read --out as it is; run nothing")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mf_real-")) / "out"
    if not args.reuse:
        space = out.parent / "mf_real.toml"
        space.parent.mkdir(parents=True, exist_ok=True)
        space.write_text(SPACE.format(budget=args.budget))
        t0 = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "dse", "run", str(space), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"dse run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        print(f"real run: {time.perf_counter() - t0:.0f} s wall, results in {out}")

    rows = ResultStore(out).read()
    by_trial = {int(r["trial_number"]): r for r in rows.to_dict("records")}
    study = optuna.load_study(study_name="mf_real", storage=open_storage(out, None))
    results = recorded(study.get_trials(deepcopy=False))
    table, scale = mf.load_table(), mf.make_scale(mf.load_table())

    # 1. the replay's premise, rung result by rung result
    diffs = []
    for r in results:
        truth = table[mf.key(design(by_trial[r.trial]))][r.epochs]
        diffs.append(np.abs(np.array(r.values) - truth) / np.maximum(np.abs(truth), 1e-12))
    diff = np.array(diffs)
    exact = int((diff == 0).all(axis=1).sum())
    print(
        f"{len(results)} rung results of {len(by_trial)} trials; equal to the table's row: {exact}; "
        f"largest relative difference (accuracy, energy, size): "
        + ", ".join(f"{d:.2g}" for d in diff.max(axis=0))
    )
    counts = rows["status"].value_counts().to_dict()
    print(f"rows by status: {counts}; resumed promotions: {(rows['resumed_from_epochs'] > 0).sum()}")

    # 2. epochs to the replay benchmark's target
    tpe = [mf.replay(table, scale, "tpe", s, 360, None) for s in range(10)]
    target = 0.95 * float(np.mean([h[-1][1] for h in tpe]))
    asha = [mf.replay(table, scale, "tpe", s, 360, "complete") for s in range(10)]
    reached = [mf.epochs_to(h, target) for h in asha]
    real, done, front = [(0, 0.0)], {}, []
    trained = 0
    for r in results:  # arrival order: epochs trained so far, full-fidelity front so far
        trained += r.epochs - done.get(r.trial, 0)
        done[r.trial] = r.epochs
        if r.epochs == mf.EPOCHS:
            front.append(np.array(r.values))
        real.append((trained, scale.hv(front)))
    designs = [design(by_trial[n]) for n in sorted(by_trial)]
    rung_of: dict[int, int] = {}
    same = replay_designs(designs, table, scale, args.budget, rung_of)
    ran = sorted(rung_of)
    agree = sum(rung_of[n] == done[n] for n in ran if n in done)
    print(
        f"the replay of the same designs ran {len(ran)} of the {len(designs)} trials; each reached the "
        f"same rung in both for {agree} of them (arrival order differs: real time is not epochs)"
    )
    print(f"target: 95 % of full-fidelity TPE's mean final hypervolume (10 replayed seeds) = {target:.4f}")
    print(f"{'':44s} {'epochs to target':>16s} {'final HV':>9s} {'epochs':>7s}")
    name = "real run (dse run, TPE seed 7)"
    print(f"{name:44s} {mf.epochs_to(real, target):16.0f} {real[-1][1]:9.4f} {trained:7d}")
    print(
        f"{'replay of the same designs, same order':44s} {mf.epochs_to(same, target):16.0f} "
        f"{same[-1][1]:9.4f} {same[-1][0]:7d}"
    )
    print(
        f"{'replayed MO-ASHA/TPE, 10 seeds (median)':44s} {float(np.median(reached)):16.0f} "
        f"{float(np.median([h[-1][1] for h in asha])):9.4f} {'':>7s}"
    )


if __name__ == "__main__":
    main()
