"""MO-ASHA's rungs and promotion rule, checked against brute force and hand-worked sequences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dse.engine.asha import RungLedger, promotion_order, rung_epochs


@pytest.mark.parametrize(
    ("min_epochs", "epochs", "eta", "rungs"),
    [
        (1, 9, 3, (1, 3, 9)),
        (1, 10, 3, (1, 3, 9, 10)),
        (2, 10, 2, (2, 4, 8, 10)),
        (5, 5, 3, (5,)),
        (1, 2, 4, (1, 2)),
    ],
)
def test_rungs(min_epochs: int, epochs: int, eta: int, rungs: tuple[int, ...]) -> None:
    assert rung_epochs(min_epochs, epochs, eta) == rungs


def test_bad_rungs_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="reduction_factor must be ≥ 2, got 1"):
        rung_epochs(1, 9, 1)
    with pytest.raises(ValueError, match=r"min_epochs must be in \[1, epochs = 9\], got 10"):
        rung_epochs(10, 9, 3)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((a <= b).all() and (a < b).any())


def _hv_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by 2-D points (minimised) up to ``ref``, by sweeping x."""
    pts = sorted(tuple(p) for p in points if (p < ref).all())
    if not pts:
        return 0.0
    area, best_y = 0.0, ref[1]
    for (x, y), nxt in zip(pts, [*pts[1:], (ref[0], None)], strict=True):
        best_y = min(best_y, y)
        area += (nxt[0] - x) * (ref[1] - best_y)
    return area


def test_promotion_order_is_rank_then_hypervolume_contribution_by_brute_force() -> None:
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(2, 9))
        acc = rng.uniform(0.5, 1.0, n).round(2)  # rounded: ties and duplicates happen
        energy = rng.uniform(10, 100, n).round(0)
        values = np.column_stack([acc, energy])
        order = promotion_order(values, (True, False))
        signed = np.column_stack([-acc, energy])
        scaled = (signed - signed.min(0)) / np.where(np.ptp(signed, 0) > 0, np.ptp(signed, 0), 1)
        rank, left, r = np.zeros(n, int), set(range(n)), 0
        while left:  # peel fronts
            front = {i for i in left if not any(_dominates(scaled[j], scaled[i]) for j in left)}
            for i in front:
                rank[i] = r
            left -= front
            r += 1
        ref = np.array([1.1, 1.1])
        contrib = np.zeros(n)
        for k in range(r):
            members = [i for i in range(n) if rank[i] == k]
            total = _hv_2d(scaled[members], ref)
            for i in members:
                contrib[i] = total - _hv_2d(scaled[[j for j in members if j != i]], ref)
        for a, b in itertools.pairwise(order):
            assert (rank[a], -contrib[a]) <= (rank[b], -contrib[b]) or math.isclose(contrib[a], contrib[b]), (
                values,
                order,
            )


def test_a_trial_continues_only_within_the_top_share_of_its_rung() -> None:
    ledger = RungLedger(rungs=(1, 3, 9), maximise=(True, False), reduction_factor=3)
    assert ledger.report(0, 1, (0.80, 50.0)) == 3  # alone at the rung: top ⌈1/3⌉ = 1
    assert ledger.report(1, 1, (0.90, 40.0)) == 3  # dominates trial 0: first of 2, keep 1
    assert ledger.report(2, 1, (0.70, 60.0)) is None  # dominated by both: third of 3, keep 1
    assert ledger.report(3, 1, (0.60, 10.0)) == 3  # on the front with trial 1 (lowest energy): keep 2
    assert ledger.report(4, 1, (0.50, 90.0)) is None  # last of 5, keep 2
    assert ledger.report(5, 1, (math.nan, 10.0)) is None  # did not learn: stops
    assert ledger.report(1, 3, (0.95, 40.0)) == 9
    assert ledger.report(1, 9, (0.97, 40.0)) is None  # the last rung: complete, nothing further
    assert [t for t, _ in ledger.seen[1]] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match=r"2 epochs is not a rung; rungs: \(1, 3, 9\)"):
        ledger.report(6, 2, (0.5, 1.0))
    with pytest.raises(ValueError, match="expected 2 objective values, got 1"):
        ledger.report(6, 1, (0.5,))


def test_a_retried_report_counts_once() -> None:
    ledger = RungLedger(rungs=(1, 3), maximise=(True,), reduction_factor=2)
    assert ledger.report(0, 1, (0.5,)) == 3
    assert ledger.report(0, 1, (0.5,)) == 3
    assert len(ledger.seen[1]) == 1


def test_the_replay_benchmark_keeps_its_budget_and_counts_full_fidelity_fronts_only() -> None:
    """benchmarks/multifidelity.py on its measured table: never past the epoch budget, a full-fidelity
    search spends 9 epochs per trial, and the front's volume never shrinks."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "multifidelity.py"
    spec = importlib.util.spec_from_file_location("multifidelity_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = bench.load_table()
    assert len(table) == 192 and all(set(r) == {1, 3, 9} for r in table.values())
    scale = bench.make_scale(table)
    assert scale.hv([r[9] for r in table.values()]) <= 1.1**3
    full = bench.replay(table, scale, "random", 0, 60, None)
    assert [e for e, _ in full] == [0, 9, 18, 27, 36, 45, 54]  # 60 epochs hold 6 full trials
    asha = bench.replay(table, scale, "random", 0, 60, "complete")
    epochs = [e for e, _ in asha]
    assert epochs == sorted(epochs) and epochs[-1] <= 60 and len(asha) > len(full)
    volumes = [v for _, v in asha]
    assert volumes == sorted(volumes)
