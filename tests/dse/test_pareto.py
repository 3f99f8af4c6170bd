"""Pareto analysis: checked against brute-force dominance and hand-computed hypervolumes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dse.analysis.pareto import (
    Direction,
    Objective,
    default_reference,
    fronts_by,
    hv_contributions,
    hypervolume,
    hypervolume_by,
    hypervolume_history,
    knee_points,
    nondominated_mask,
    pareto_front,
    pareto_ranks,
    parse_objectives,
)

ACC_MAX = Objective("accuracy", Direction.MAXIMIZE)
ENERGY_MIN = Objective("energy_per_inference_pj", Direction.MINIMIZE)
SIZE_MIN = Objective("model_size_bits", Direction.MINIMIZE)
MIXED = (ACC_MAX, ENERGY_MIN, SIZE_MIN)


def dominates(a: np.ndarray, b: np.ndarray, maximise: list[bool]) -> bool:
    """Brute-force Pareto dominance of a over b."""
    a2 = np.where(maximise, -a, a)
    b2 = np.where(maximise, -b, b)
    return bool(np.all(a2 <= b2) and np.any(a2 < b2))


def trials(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "trial_number": np.arange(n),
            "device": rng.choice(["pcm", "rram", "ecram"], n),
            # coarse grids give ties and exact duplicates
            "accuracy": rng.integers(0, 20, n) / 20,
            "energy_per_inference_pj": rng.integers(1, 30, n).astype(float) * 10,
            "model_size_bits": rng.integers(1, 10, n) * 1000,
        }
    )
    df.loc[[3, 17], "accuracy"] = np.nan
    df.loc[25, "energy_per_inference_pj"] = np.inf
    df = pd.concat([df, df.iloc[[0, 1]]], ignore_index=True)  # exact duplicate rows
    return df


def values_of(df: pd.DataFrame, objectives: tuple[Objective, ...]) -> np.ndarray:
    return df[[o.name for o in objectives]].to_numpy(dtype=float)


# --- parsing -------------------------------------------------------------------------------------------


def test_parse_objectives_string_and_aliases() -> None:
    objs = parse_objectives("accuracy:max, energy_per_inference_pj:minimize,model_size_bits:Minimise")
    assert objs == MIXED
    assert parse_objectives(["accuracy:maximize", "area_mm2:min"])[1] == Objective(
        "area_mm2", Direction.MINIMIZE
    )


@pytest.mark.parametrize("spec", ["accuracy:up", "accuracy", ":max", "accuracy:max,energy:best"])
def test_parse_objectives_rejects_bad_item(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_objectives(spec)
    assert "maximize" in str(err.value) and "minimize" in str(err.value)
    bad = spec.split(",")[-1]
    assert repr(bad) in str(err.value)


def test_parse_objectives_rejects_duplicates_and_empty() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_objectives("accuracy:max,accuracy:min")
    with pytest.raises(ValueError, match="no objectives"):
        parse_objectives(" , ")


# --- fronts and ranks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("objectives", [MIXED, (ACC_MAX, ENERGY_MIN), (ENERGY_MIN, SIZE_MIN)])
def test_front_matches_brute_force(seed: int, objectives: tuple[Objective, ...]) -> None:
    df = trials(seed=seed)
    maximise = [o.direction.maximise for o in objectives]
    front = pareto_front(df, objectives)
    finite = df[np.isfinite(values_of(df, objectives)).all(axis=1)]
    fv, allv = values_of(front, objectives), values_of(finite, objectives)
    assert np.isfinite(fv).all()
    assert front.index.is_unique and set(front.index) <= set(finite.index)
    for p in fv:  # no returned row is dominated by any finite row
        assert not any(dominates(q, p, maximise) for q in allv)
    for idx in finite.index.difference(front.index):  # every dropped row is dominated by a returned one
        p = values_of(finite.loc[[idx]], objectives)[0]
        assert any(dominates(q, p, maximise) for q in fv), idx


@pytest.mark.parametrize("seed", [0, 1])
def test_front_keeps_every_copy_of_a_front_point_and_drops_every_copy_of_a_dominated_one(seed: int) -> None:
    df = trials(n=60, seed=seed)
    objectives = (ACC_MAX, ENERGY_MIN)
    front = pareto_front(df, objectives)
    finite = df.index[np.isfinite(values_of(df, objectives)).all(axis=1)]
    dominated = finite.difference(front.index)
    on_front, off_front = front.index[0], dominated[0]
    copies = df.loc[[on_front, on_front, off_front, off_front]].set_axis([1000, 1001, 1002, 1003])
    again = pareto_front(pd.concat([df, copies]), objectives)
    assert again.index.tolist() == [*front.index.tolist(), 1000, 1001]


def test_front_keeps_duplicate_rows_and_excludes_nan() -> None:
    df = pd.DataFrame(
        {"accuracy": [0.9, 0.9, np.nan, 0.5, 1.0], "energy_per_inference_pj": [1, 1, 0, 5, np.nan]}
    )
    front = pareto_front(df, (ACC_MAX, ENERGY_MIN))
    assert list(front.index) == [0, 1]


def test_nondominated_mask_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        nondominated_mask(np.array([[1.0, np.nan]]), [False, False])
    assert nondominated_mask(np.empty((0, 2)), [False, True]).shape == (0,)


def test_missing_column_names_available() -> None:
    with pytest.raises(KeyError, match=r"nope.*available.*accuracy"):
        pareto_front(pd.DataFrame({"accuracy": [1.0]}), (ACC_MAX, Objective("nope", Direction.MINIMIZE)))


@pytest.mark.parametrize("seed", [0, 3])
def test_ranks_consistent_with_fronts(seed: int) -> None:
    df = trials(seed=seed)
    ranks = pareto_ranks(df, MIXED)
    maximise = [o.direction.maximise for o in MIXED]
    assert ranks.isna().sum() == 3  # two NaN accuracies and one inf energy
    assert set(ranks[ranks == 1].index) == set(pareto_front(df, MIXED).index)
    for r in range(2, int(ranks.max()) + 1):
        layer = values_of(df[ranks == r], MIXED)
        previous = values_of(df[ranks == r - 1], MIXED)
        later = values_of(df[ranks >= r], MIXED)
        for p in layer:
            assert any(dominates(q, p, maximise) for q in previous)
            assert not any(dominates(q, p, maximise) for q in later)


# --- hypervolume ------------------------------------------------------------------------------------------


def test_hypervolume_2d_staircase_by_hand() -> None:
    x, y = Objective("x", Direction.MINIMIZE), Objective("y", Direction.MINIMIZE)
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 3.0, np.nan], "y": [3.0, 2.0, 1.0, 3.0, 0.0]})
    # slabs: [1,2]x[3,4] + [2,3]x[2,4] + [3,4]x[1,4] = 1 + 2 + 3
    result = hypervolume(df, (x, y), reference={"x": 4.0, "y": 4.0})
    assert result.value == pytest.approx(6.0)
    assert result.reference == {"x": 4.0, "y": 4.0} and not result.normalized
    contrib = hv_contributions(df, (x, y), reference=[4.0, 4.0])
    assert contrib.iloc[:4].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0])
    assert math.isnan(contrib.iloc[4])


def test_hypervolume_mixed_directions_equals_negated() -> None:
    df = pd.DataFrame({"acc": [0.9, 0.8, 0.6], "e": [5.0, 3.0, 1.0]})
    mixed = hypervolume(
        df, (Objective("acc", Direction.MAXIMIZE), Objective("e", Direction.MINIMIZE)), [0.5, 6.0]
    )
    # slabs along acc: [0.8, 0.9] x (6-5) + [0.6, 0.8] x (6-3) + [0.5, 0.6] x (6-1)
    assert mixed.value == pytest.approx(0.1 * 1 + 0.2 * 3 + 0.1 * 5)
    neg = df.assign(acc=-df["acc"])
    both_min = hypervolume(
        neg, (Objective("acc", Direction.MINIMIZE), Objective("e", Direction.MINIMIZE)), [-0.5, 6]
    )
    assert both_min.value == pytest.approx(mixed.value)


def test_hypervolume_3d_unit_cube_cases() -> None:
    objs = tuple(Objective(c, Direction.MINIMIZE) for c in "abc")
    one = pd.DataFrame({"a": [0.0], "b": [0.0], "c": [0.0]})
    assert hypervolume(one, objs, [1, 1, 1]).value == pytest.approx(1.0)
    two = pd.DataFrame({"a": [0.0, 0.5], "b": [0.0, 0.5], "c": [0.5, 0.0]})
    assert hypervolume(two, objs, [1, 1, 1]).value == pytest.approx(0.5 + 0.25 - 0.125)
    up = tuple(Objective(c, Direction.MAXIMIZE) for c in "abc")
    assert hypervolume(one + 1, up, {"a": 0, "b": 0, "c": 0}).value == pytest.approx(1.0)
    outside = pd.DataFrame({"a": [2.0], "b": [0.0], "c": [0.0]})  # does not dominate the reference
    assert hypervolume(outside, objs, [1, 1, 1]).value == 0.0


def test_default_reference_and_normalization() -> None:
    df = pd.DataFrame({"accuracy": [0.5, 0.9], "energy_per_inference_pj": [10.0, 110.0]})
    ref = default_reference(df, (ACC_MAX, ENERGY_MIN))
    assert ref == pytest.approx({"accuracy": 0.5 - 0.04, "energy_per_inference_pj": 120.0})
    result = hypervolume(df, (ACC_MAX, ENERGY_MIN), normalize=True)
    assert result.reference == pytest.approx(ref) and result.normalized
    assert result.ideal == {"accuracy": 0.9, "energy_per_inference_pj": 10.0}
    raw = hypervolume(df, (ACC_MAX, ENERGY_MIN)).value
    assert result.value == pytest.approx(raw / ((0.9 - 0.46) * (120 - 10)))
    single = hypervolume(df.iloc[[0]], (ACC_MAX, ENERGY_MIN), normalize=True)
    assert single.value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        hypervolume(df.iloc[:0], (ACC_MAX, ENERGY_MIN))
    empty = hypervolume(df.iloc[:0], (ACC_MAX, ENERGY_MIN), reference=ref, normalize=True)
    assert empty.value == 0.0 and empty.reference == ref


def test_knee_on_convex_quarter_circle() -> None:
    theta = np.linspace(0, np.pi / 2, 91)
    df = pd.DataFrame({"x": 1 - np.cos(theta), "y": 1 - np.sin(theta), "theta": theta})
    objs = (Objective("x", Direction.MINIMIZE), Objective("y", Direction.MINIMIZE))
    knee = knee_points(df, objs, k=3)
    assert knee["theta"].iloc[0] == pytest.approx(np.pi / 4)
    assert knee["knee_distance"].is_monotonic_decreasing and len(knee) == 3


def test_knee_obvious_point_mixed_directions() -> None:
    df = pd.DataFrame({"accuracy": [0.5, 0.88, 0.9, 0.3], "energy_per_inference_pj": [1.0, 2.0, 10.0, 5.0]})
    knee = knee_points(df, (ACC_MAX, ENERGY_MIN))
    assert knee.index.tolist() == [1]


def test_fronts_and_hypervolume_by_group_share_reference() -> None:
    df = trials(seed=4)
    fronts = fronts_by(df, MIXED, "device")
    assert set(fronts) == {"pcm", "rram", "ecram"}
    for device, front in fronts.items():
        assert front.index.equals(pareto_front(df[df["device"] == device], MIXED).index)
    per_group = hypervolume_by(df, MIXED, "device")
    shared = default_reference(df, MIXED)
    assert all(r.reference == pytest.approx(shared) for r in per_group.values())
    total = hypervolume(df, MIXED).value
    assert all(0 < r.value <= total + 1e-12 for r in per_group.values())


def test_hypervolume_history_matches_prefix_recomputation() -> None:
    df = trials(n=60, seed=5).sample(frac=1.0, random_state=1)  # shuffled: must sort by trial_number
    hist = hypervolume_history(df, MIXED)
    ref = default_reference(df, MIXED)
    ordered = df.sort_values("trial_number", kind="stable")
    assert hist["trial_number"].tolist() == ordered["trial_number"].tolist()
    for i in [0, 5, 17, 30, len(ordered) - 1]:
        expected = hypervolume(ordered.iloc[: i + 1], MIXED, ref).value
        assert hist["hypervolume"].iloc[i] == pytest.approx(expected)
    assert hist["hypervolume"].is_monotonic_increasing
    assert hist["front_size"].iloc[-1] == len(pareto_front(df, MIXED).drop_duplicates(list(ref)))
    normalized = hypervolume_history(df, MIXED, normalize=True)["hypervolume"]
    assert normalized.iloc[-1] == pytest.approx(hypervolume(df, MIXED, normalize=True).value)
    assert 0 < normalized.iloc[-1] <= 1
