"""Hypervolume and HV contributions against exact brute force, and the fronts the CLI prints (split from
``test_pareto.py``)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.analysis.pareto import (
    Direction,
    Objective,
    default_reference,
    hv_contributions,
    hypervolume,
    hypervolume_by,
    knee_points,
    nondominated_mask,
)

# --- exact hypervolume by brute force -----------------------------------------------------------------


def grid_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume (minimisation) by summing the cells of the grid the coordinates span.

    A cell is dominated when some point is <= its lower corner in every objective; the grid is exact
    because every face of the dominated region lies on one of the coordinates.
    """
    points = points[(points < ref).all(axis=1)]
    if len(points) == 0:
        return 0.0
    axes = [np.unique(np.append(points[:, j], ref[j])) for j in range(points.shape[1])]
    lows = np.stack(np.meshgrid(*[a[:-1] for a in axes], indexing="ij"), axis=-1).reshape(-1, len(axes))
    sizes = np.stack(np.meshgrid(*[np.diff(a) for a in axes], indexing="ij"), axis=-1).reshape(-1, len(axes))
    covered = (points[None, :, :] <= lows[:, None, :]).all(axis=2).any(axis=1)
    return float(np.prod(sizes[covered], axis=1).sum())


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_equals_brute_force_on_random_sets(m: int, seed: int) -> None:
    rng = np.random.default_rng(100 * m + seed)
    names = [f"f{j}" for j in range(m)]
    maximise = rng.random(m) < 0.5
    raw = rng.integers(0, 12, size=(25, m)).astype(float) + rng.choice([0.0, 0.25, 0.5], size=(25, m))
    df = pd.DataFrame(raw, columns=names)
    objectives = tuple(
        Objective(n, Direction.MAXIMIZE if up else Direction.MINIMIZE)
        for n, up in zip(names, maximise, strict=True)
    )
    ref = np.where(maximise, 1.0, 10.0)  # some points lie outside the box and must add nothing
    expected = grid_hypervolume(np.where(maximise, -raw, raw), np.where(maximise, -ref, ref))
    assert expected > 0
    assert hypervolume(df, objectives, ref.tolist()).value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_hv_contributions_are_exclusive_volumes_within_the_front(m: int, seed: int) -> None:
    """Dominated rows get 0 and are ignored: a front row's share is what it adds over the other front rows.

    This differs from leave-one-out over all rows, where a dominated row would fill part of the slab of
    the one front row that dominates it and shrink that row's share.
    """
    rng = np.random.default_rng(7 + seed)
    raw = rng.integers(0, 8, size=(20, m)).astype(float)
    raw = np.vstack([raw, raw[:1]])  # an exact duplicate: removing either copy loses nothing
    names = [f"f{j}" for j in range(m)]
    objectives = tuple(Objective(n, Direction.MINIMIZE) for n in names)
    df = pd.DataFrame(raw, columns=names)
    ref = np.full(m, 9.0)
    contrib = hv_contributions(df, objectives, ref.tolist()).to_numpy()
    front = nondominated_mask(raw, [False] * m)
    assert (contrib[~front] == 0).all() and contrib[0] == 0 and contrib[-1] == 0
    rows = np.flatnonzero(front)
    whole = grid_hypervolume(raw[rows], ref)
    for i in rows:
        alone = grid_hypervolume(raw[rows[rows != i]], ref)
        assert contrib[i] == pytest.approx(whole - alone, abs=1e-9), i


def test_hv_contributions_ignore_a_dominated_row_unlike_leave_one_out() -> None:
    x, y = Objective("x", Direction.MINIMIZE), Objective("y", Direction.MINIMIZE)
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]})  # row 1 is dominated by row 0 only
    # leave-one-out would give row 0: 9 - 4 = 5; ignoring the dominated row gives its full 3 x 3 box
    assert hv_contributions(df, (x, y), [4.0, 4.0]).tolist() == [9.0, 0.0]


# --- the CLI prints exactly the front ---------------------------------------------------------------------


def test_cli_pareto_prints_no_dominated_row(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dse.cli.run import app
    from dse.results.store import ResultStore
    from dse.schema.point import DesignPoint
    from dse.schema.record import TrialRecord

    # (accuracy, energy): 2 is dominated by 0 alone, 3 by everything, 4 duplicates front row 1
    values = [(0.9, 10.0), (0.8, 5.0), (0.85, 12.0), (0.7, 20.0), (0.8, 5.0)]
    (tmp_path / "_study.json").write_text(
        json.dumps({"study": "s", "objectives": ["accuracy:max", "energy_per_inference_pj:min"]})
    )
    store = ResultStore(tmp_path)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n, (acc, energy) in enumerate(values):
        metrics = {"accuracy": acc, "energy_per_inference_pj": energy}
        store.append([TrialRecord("s", n, "complete", DesignPoint.of(), metrics, datetime_start=start)])
    result = CliRunner().invoke(app, ["pareto", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout), comment="#")
    assert sorted(table["trial_number"]) == [0, 1, 4]


def test_hv_contributions_mixed_directions_and_default_reference() -> None:
    """Maximised objectives are negated, and the default reference is the one hypervolume uses."""
    df = pd.DataFrame({"acc": [0.9, 0.8, 0.6, 0.7], "e": [5.0, 3.0, 1.0, 4.0]})  # row 3 is dominated
    up, down = Objective("acc", Direction.MAXIMIZE), Objective("e", Direction.MINIMIZE)
    got = hv_contributions(df, (up, down))
    ref = default_reference(df, (up, down))
    assert got.name == "hv_contribution" and got.index.equals(df.index)
    negated = hv_contributions(
        df.assign(acc=-df["acc"]), (Objective("acc", Direction.MINIMIZE), down), [-ref["acc"], ref["e"]]
    )
    assert got.tolist() == pytest.approx(negated.tolist())
    # by hand, reference (0.57, 5.4): row 0 adds 0.1 × (5.4 − 5), row 1 0.2 × (5 − 3), row 2 0.03 × (3 − 1)
    assert ref == pytest.approx({"acc": 0.57, "e": 5.4})
    assert got.tolist() == pytest.approx([0.1 * 0.4, 0.2 * 2.0, 0.03 * 2.0, 0.0])


def test_knee_is_scale_and_offset_free() -> None:
    """Objectives in pJ and in accuracy differ by orders of magnitude: the knee must not care."""
    theta = np.linspace(0, np.pi / 2, 91)
    df = pd.DataFrame(
        {"x": 5 + 1000 * (1 - np.cos(theta)), "y": 0.2 + 0.01 * (1 - np.sin(theta)), "t": theta}
    )
    objs = (Objective("x", Direction.MINIMIZE), Objective("y", Direction.MINIMIZE))
    knee = knee_points(df, objs, k=2)
    assert knee["t"].iloc[0] == pytest.approx(np.pi / 4)
    # normalized, the middle point is (1 − 1/√2, 1 − 1/√2): its distance to the chord x + y = 1 is 1 − 1/√2
    assert knee["knee_distance"].iloc[0] == pytest.approx(1 - 1 / np.sqrt(2))
    none = knee_points(df, objs, k=0)
    assert none.empty and "knee_distance" in none.columns and none["knee_distance"].dtype == np.float64


def test_hypervolume_by_normalized_groups_and_a_missing_group_key() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame(
        {
            "x": rng.integers(0, 9, 30).astype(float),
            "y": rng.integers(0, 9, 30).astype(float),
            "g": rng.choice(["b", "a", None], 30),
        }
    )
    objs = (Objective("x", Direction.MINIMIZE), Objective("y", Direction.MAXIMIZE))
    ref = default_reference(df, objs)
    ideal = {"x": df["x"].min(), "y": df["y"].max()}
    box = (ref["x"] - ideal["x"]) * (ideal["y"] - ref["y"])
    got = hypervolume_by(df, objs, "g", normalize=True)
    keys = list(got)
    assert keys[:2] == ["a", "b"] and len(keys) == 3 and pd.isna(keys[2])  # sorted, rows without a group kept
    for key, result in got.items():
        rows = df[df["g"].isna()] if pd.isna(key) else df[df["g"] == key]
        pts = np.c_[rows["x"], -rows["y"]]
        expected = grid_hypervolume(pts, np.array([ref["x"], -ref["y"]])) / box
        assert result.normalized and result.value == pytest.approx(expected)
        assert result.ideal == pytest.approx(ideal)
