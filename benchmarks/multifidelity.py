"""Does MO-ASHA spend fewer training epochs for the same front? A replay that cannot flatter itself.

Searches are replayed against a table of true metrics (``benchmarks/multifidelity_table.py``: 192
designs of the quickstart space, trained for 1, 3 and 9 epochs with the real trial), as Syne
Tune's simulated backend does, so many seeds are cheap. Optuna's real samplers propose designs;
two simulated workers train them asynchronously (time = epochs); a design's metrics at a rung are
the table's. Compared, 10 seeds each:

* random, TPE and NSGA-II at full fidelity (every trial trains 9 epochs);
* MO-ASHA (``dse.engine.asha``: min_epochs 1, reduction factor 3, rungs 1/3/9) over each of them,
  with stopped trials told to Optuna as COMPLETE with their last rung's values (``told=complete``,
  the choice the engine makes), and for TPE and NSGA-II also told as FAIL (``told=fail``: the
  sampler never sees them), to show what the choice changes.

The front counts full-fidelity rows only. Hypervolume uses one normalisation and reference for
every run (the table's true front scaled to [0, 1], energy and size in log10, reference 1.1).
Printed: for each method,
the median over seeds of the cumulative epochs at which the front first reaches 95 % of
full-fidelity TPE's mean final hypervolume, and its ratio to TPE's (the issue's target: ≤ 1/3).
The figure (``--figure``) shows hypervolume against cumulative epochs, median and 10–90 % band.

    PYTHONPATH=. .venv/bin/python benchmarks/multifidelity.py [--seeds 10] [--budget 360] [--figure out]
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import optuna

from dse.engine import samplers
from dse.engine.asha import RungLedger, rung_epochs

TABLE = Path(__file__).parent / "data" / "multifidelity_quickstart.jsonl"
OBJECTIVES = (("accuracy", True), ("energy_per_inference_pj", False), ("model_size_bits", False))
"""The quickstart's objectives; max_writes_per_device is left out: hwa programs once, so it is 1
for every design and adds no volume."""
CHOICES: dict[str, list[Any]] = {
    "device": ["pcm", "rram", "stt_mram", "sram"],
    "adc_bits": [2, 3, 4, 6, 8],
    "width_mult": [0.25, 0.5, 1.0, 2.0],
    "update_bits": [4, 8, 32],
}
EPOCHS, MIN_EPOCHS, ETA, WORKERS = 9, 1, 3, 2

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def load_table() -> dict[str, dict[int, np.ndarray]]:
    """Design key → epochs → objective vector (as stored: accuracy, energy, size)."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for line in TABLE.read_text().splitlines():
        row = json.loads(line)
        vec = np.array([row[name] for name, _ in OBJECTIVES], dtype=float)
        out.setdefault(key({k: row[k] for k in CHOICES}), {})[int(row["epochs"])] = vec
    return out


def key(params: dict[str, Any]) -> str:
    p = dict(params)
    if p["device"] == "sram":
        p["adc_bits"] = None
    return json.dumps({k: p.get(k) for k in CHOICES}, sort_keys=True)


def ask(trial: optuna.Trial) -> dict[str, Any]:
    """The design, asking the ADC only where the device has one (as the engine's ``suggest``)."""
    out = {"device": trial.suggest_categorical("device", CHOICES["device"])}
    if out["device"] != "sram":
        out["adc_bits"] = trial.suggest_categorical("adc_bits", CHOICES["adc_bits"])
    out["width_mult"] = trial.suggest_categorical("width_mult", CHOICES["width_mult"])
    out["update_bits"] = trial.suggest_categorical("update_bits", CHOICES["update_bits"])
    return out


def _signed(points: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Every objective minimised; energy and size in log10 (they span decades)."""
    out = np.array(points, dtype=float)
    for j, (_, mx) in enumerate(OBJECTIVES):
        out[:, j] = -out[:, j] if mx else np.log10(out[:, j])
    return out


@dataclass(frozen=True)
class Scale:
    """One normalisation for every run: the table's true full-fidelity front spans [0, 1] in each
    objective (its ideal point 0, its nadir 1) and the reference point is 1.1. Normalising by the
    whole table instead would let its worst designs (2-bit ADCs near chance) stretch the box, so
    that any half-decent design already owns most of the volume."""

    lo: np.ndarray
    hi: np.ndarray

    def hv(self, points: list[np.ndarray]) -> float:
        if not points:
            return 0.0
        scaled = (_signed(points) - self.lo) / (self.hi - self.lo)
        return float(moocore.hypervolume(scaled, ref=np.full(len(OBJECTIVES), 1.1)))


def make_scale(table: dict[str, dict[int, np.ndarray]]) -> Scale:
    signed = _signed([r[EPOCHS] for r in table.values()])
    front = signed[moocore.is_nondominated(signed)]
    return Scale(front.min(axis=0), front.max(axis=0))


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The engine's sampler, with quickstart.toml's TPE start-up and a population NSGA-II can fill."""
    options = {"tpe": {"n_startup_trials": 8}, "nsga2": {"population_size": 16}}.get(name, {})
    return samplers.make_sampler(name, seed, options)


def replay(
    table: dict[str, dict[int, np.ndarray]],
    scale: Scale,
    sampler: str,
    seed: int,
    budget: int,
    asha: str | None,
) -> list[tuple[int, float]]:
    """One search; returns (cumulative epochs, hypervolume of the full-fidelity front) after each event.

    ``asha``: None (full fidelity), "complete" or "fail" (how stopped trials are told).
    """
    directions = ["maximize" if mx else "minimize" for _, mx in OBJECTIVES]
    study = optuna.create_study(directions=directions, sampler=make_sampler(sampler, seed))
    rungs = rung_epochs(MIN_EPOCHS, EPOCHS, ETA) if asha else (EPOCHS,)
    ledger = RungLedger(rungs, tuple(mx for _, mx in OBJECTIVES), ETA)
    events: list[tuple[int, int, int]] = []  # (finish time, order, worker)
    running: dict[int, tuple[optuna.Trial, dict[str, Any], int, int]] = {}  # worker → trial, design, from, to
    committed = trained = order = 0  # epochs promised to workers; epochs finished
    front: list[np.ndarray] = []
    history = [(0, 0.0)]

    def train(worker: int, now: int, trial: optuna.Trial, design: dict[str, Any], done: int, to: int) -> None:
        nonlocal committed, order
        running[worker] = (trial, design, done, to)
        committed += to - done
        order += 1
        heapq.heappush(events, (now + to - done, order, worker))

    def start(worker: int, now: int) -> None:
        if committed + rungs[0] <= budget:
            trial = study.ask()
            train(worker, now, trial, ask(trial), 0, rungs[0])

    for w in range(WORKERS):
        start(w, 0)
    while events:
        now, _, w = heapq.heappop(events)
        trial, design, before, done = running.pop(w)
        trained += done - before
        vec = table[key(design)][done]
        nxt = ledger.report(trial.number, done, vec) if asha else None
        if nxt is not None and committed + (nxt - done) <= budget:
            train(w, now, trial, design, done, nxt)  # continues on the same worker, from its checkpoint
            continue
        if done == EPOCHS:
            study.tell(trial, list(vec))
            front.append(vec)
        elif asha == "complete":
            trial.set_user_attr("epochs_done", done)
            study.tell(trial, list(vec))
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        history.append((trained, scale.hv(front)))
        start(w, now)
    return history


def epochs_to(history: list[tuple[int, float]], target: float) -> float:
    """Cumulative epochs at which the hypervolume first reaches ``target`` (inf if never)."""
    return next((float(e) for e, hv in history if hv >= target), math.inf)


def on_grid(history: list[tuple[int, float]], grid: np.ndarray) -> np.ndarray:
    """Hypervolume at each cumulative-epoch grid point (a step function of the history)."""
    e = np.array([h[0] for h in history])
    v = np.array([h[1] for h in history])
    idx = np.searchsorted(e, grid, side="right") - 1
    return v[np.clip(idx, 0, None)]


METHODS: tuple[tuple[str, str | None], ...] = (
    ("random", None),
    ("tpe", None),
    ("nsga2", None),
    ("random", "complete"),
    ("tpe", "complete"),
    ("nsga2", "complete"),
    ("tpe", "fail"),
    ("nsga2", "fail"),
)


def label(sampler: str, asha: str | None) -> str:
    return sampler if asha is None else f"MO-ASHA/{sampler} (told={asha})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=360, help="cumulative training epochs per search")
    parser.add_argument("--figure", type=Path, default=None, help="write <figure>.png and .pdf")
    args = parser.parse_args()
    table = load_table()
    scale = make_scale(table)
    t0 = time.perf_counter()
    runs: dict[str, list[list[tuple[int, float]]]] = {}
    for sampler, asha in METHODS:
        runs[label(sampler, asha)] = [
            replay(table, scale, sampler, s, args.budget, asha) for s in range(args.seeds)
        ]
    best = scale.hv([r[EPOCHS] for r in table.values()])
    tpe_final = float(np.mean([h[-1][1] for h in runs["tpe"]]))
    target = 0.95 * tpe_final
    reference = float(np.median([epochs_to(h, target) for h in runs["tpe"]]))
    print(
        f"{len(table)} designs; budget {args.budget} epochs; {args.seeds} seeds; {WORKERS} workers; rungs "
        f"{rung_epochs(MIN_EPOCHS, EPOCHS, ETA)}; replayed in {time.perf_counter() - t0:.0f} s"
    )
    print(
        f"hypervolume of the whole table's front {best:.4f}; TPE's mean final {tpe_final:.4f}; "
        f"target (95 %) {target:.4f}"
    )
    print(
        f"{'method':34s} {'final HV (median)':>17s} {'epochs to target (median)':>26s} "
        f"{'reached':>8s} {'ratio to TPE':>13s}"
    )
    for name, hs in runs.items():
        reach = [epochs_to(h, target) for h in hs]
        med = float(np.median(reach))
        hit = sum(math.isfinite(r) for r in reach)
        ratio = med / reference if math.isfinite(med) and math.isfinite(reference) else math.inf
        print(
            f"{name:34s} {np.median([h[-1][1] for h in hs]):17.4f} {med:26.0f} "
            f"{hit:>5d}/{len(hs):<2d} {ratio:13.2f}"
        )
    if args.figure:
        plot(runs, args.budget, target, args.figure)


def plot(runs: dict[str, list[list[tuple[int, float]]]], budget: int, target: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.arange(0, budget + 1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    colours = {None: "#0072B2", "complete": "#D55E00", "fail": "#009E73"}
    for ax, sampler in zip(axes, ("random", "tpe", "nsga2"), strict=True):
        for asha in (None, "complete", "fail"):
            name = label(sampler, asha)
            if name not in runs:
                continue
            curves = np.array([on_grid(h, grid) for h in runs[name]])
            lo, med, hi = np.percentile(curves, [10, 50, 90], axis=0)
            ax.plot(
                grid,
                med,
                color=colours[asha],
                label="full fidelity" if asha is None else f"MO-ASHA, told {asha}",
            )
            ax.fill_between(grid, lo, hi, color=colours[asha], alpha=0.2, linewidth=0)
        ax.axhline(target, color="black", linewidth=0.6, linestyle="--")
        ax.set_title(sampler)
        ax.set_xlabel("cumulative training epochs")
    axes[0].set_ylabel("hypervolume (full-fidelity front)")
    axes[-1].legend(fontsize="small", frameon=False, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    for fmt in ("png", "pdf"):
        fig.savefig(out.with_suffix(f".{fmt}"), bbox_inches="tight")
    print(f"wrote {out.with_suffix('.png')} and .pdf")


if __name__ == "__main__":
    main()
