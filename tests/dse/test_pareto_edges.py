"""Pareto analysis at its edges: hand-computed hypervolume curves, knee planes solved by hand, degenerate
boxes, ties, groups and error messages (the cases mutation testing found unpinned; ``make mutants``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from dse.analysis.pareto import (
    Direction,
    Objective,
    default_reference,
    fronts_by,
    hypervolume,
    hypervolume_by,
    hypervolume_history,
    knee_points,
    nondominated_mask,
    objective_matrix,
    pareto_ranks,
    parse_objectives,
)

X, Y = Objective("x", Direction.MINIMIZE), Objective("y", Direction.MINIMIZE)
XYZ = (X, Y, Objective("z", Direction.MINIMIZE))

# --- hypervolume_history: the curve by hand ------------------------------------------------------------

# (trial_number, x, y), both minimised, reference (4, 4); listed out of order on purpose
HISTORY = [
    (5, 1.0, 2.0),  # weakly dominates (1, 3) and dominates (2, 2): the front is {(1, 2)}, 3 x 2 = 6
    (0, np.nan, 1.0),  # failed: no volume, and the curve starts at 0
    (3, 2.0, 2.0),  # an exact duplicate of trial 2: nothing changes
    (1, 4.0, 1.0),  # on the reference in x: not strictly inside, adds nothing and is not counted
    (7, 3.0, 1.5),  # dominated by (3, 1)
    (2, 2.0, 2.0),  # 2 x 2 = 4
    (6, 3.0, 1.0),  # adds [3, 4] x [1, 2]: 7
    (4, 1.0, 3.0),  # adds [1, 2] x [3, 4]: 5
]
CURVE = [0.0, 0.0, 4.0, 4.0, 5.0, 6.0, 7.0, 7.0]
SIZES = [0, 0, 1, 1, 2, 1, 2, 2]


def history_frame(scale: float = 1.0) -> pd.DataFrame:
    n, x, y = zip(*HISTORY, strict=True)
    df = pd.DataFrame({"trial_number": n, "x": np.array(x) * scale, "y": np.array(y) * scale})
    return df.assign(wall_seconds=df["trial_number"] * 10.0, datetime_start=df["trial_number"] + 100)


def test_hypervolume_history_by_hand_at_an_explicit_reference() -> None:
    hist = hypervolume_history(history_frame(), (X, Y), reference={"x": 4.0, "y": 4.0})
    assert hist["trial_number"].tolist() == list(range(8))
    assert hist["hypervolume"].tolist() == CURVE
    assert hist["front_size"].tolist() == SIZES
    assert hist["front_size"].dtype == np.int64 and hist["hypervolume"].dtype == np.float64
    # the carried columns that exist, in trial order; datetime_complete does not exist here
    assert hist.columns.tolist() == [
        "trial_number",
        "hypervolume",
        "front_size",
        "datetime_start",
        "wall_seconds",
    ]
    assert hist["wall_seconds"].tolist() == [10.0 * n for n in range(8)]
    assert hist["datetime_start"].tolist() == [100 + n for n in range(8)]


@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_normalized_history_is_the_curve_over_the_ideal_reference_box(scale: float) -> None:
    """The ideal of the whole frame is (1, 1), so the box is 3 x 3 (x scale²): the normalized curve is
    the same at any scale, also where the box is smaller than 1."""
    ref = [4.0 * scale, 4.0 * scale]
    hist = hypervolume_history(history_frame(scale), (X, Y), reference=ref, normalize=True)
    assert hist["hypervolume"].tolist() == pytest.approx([v / 9 for v in CURVE], rel=1e-12)


def test_normalized_history_over_an_empty_box_is_zero() -> None:
    """The reference equals the ideal in y: no point lies strictly inside and the box has no volume."""
    hist = hypervolume_history(history_frame(), (X, Y), reference={"x": 4.0, "y": 1.0}, normalize=True)
    assert hist["hypervolume"].tolist() == [0.0] * 8 and hist["hypervolume"].dtype == np.float64
    assert hist["front_size"].tolist() == [0] * 8


def test_history_keeps_the_stored_order_of_trials_with_the_same_key() -> None:
    df = pd.DataFrame({"epoch": [1, 0] * 20, "x": 1.0, "y": 1.0, "wall_seconds": np.arange(40.0)})
    hist = hypervolume_history(df, (X, Y), order_by="epoch", reference=[2.0, 2.0])
    expected = [w for e in (0, 1) for w, k in zip(df["wall_seconds"], df["epoch"], strict=True) if k == e]
    assert hist["wall_seconds"].tolist() == expected


def test_history_names_a_missing_order_column() -> None:
    with pytest.raises(KeyError, match=r"^\"order column\(s\) \['nope'\] not in results"):
        hypervolume_history(history_frame(), (X, Y), order_by="nope")


# --- knee points: planes solved by hand ----------------------------------------------------------------

# already normalized (each column spans [0, 1]); e1..e3 are the extremes, on the plane x + 2y + 2z = 1
KNEE_ROWS = {
    "e1": (0.0, 0.25, 0.25),
    "e2": (0.5, 0.0, 0.25),
    "e3": (0.5, 0.25, 0.0),
    "p5": (1.0, 0.1, 0.1),
    "p6": (0.05, 1.0, 0.1),
    "p7": (0.1, 0.1, 1.0),
    "knee": (0.2, 0.15, 0.15),
}


def frame3(rows: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows.values()), columns=["x", "y", "z"], index=list(rows))


def test_knee_distance_to_the_plane_through_the_extremes_by_hand() -> None:
    """The plane x + 2y + 2z = 1 (|w| = 3): distance (1 − w·z) / 3, largest first (the extremes lie on it)."""
    knee = knee_points(frame3(KNEE_ROWS), XYZ, k=7)
    order = knee.index.tolist()
    assert order[0] == "knee" and set(order[1:4]) == {"e1", "e2", "e3"} and order[4:] == ["p5", "p6", "p7"]
    by_hand = {
        "knee": 0.2 / 3,
        "e1": 0.0,
        "e2": 0.0,
        "e3": 0.0,
        "p5": -0.4 / 3,
        "p6": -1.25 / 3,
        "p7": -1.3 / 3,
    }
    assert knee["knee_distance"].to_dict() == pytest.approx(by_hand, abs=1e-12)


@pytest.mark.parametrize(
    ("extremes", "why"),
    [
        ({"e1": (0.0, 0.1, 0.1), "e2": (1.0, 0.0, 1.0), "e3": (1.0, 1.0, 0.0)}, "weights (-4, 5, 5)"),
        ({"e1": (0.0, 0.5, 0.5), "e2": (1.0, 0.0, 1.0), "e3": (1.0, 1.0, 0.0)}, "weights (0, 1, 1)"),
    ],
)
def test_knee_falls_back_to_the_unit_plane_when_a_weight_is_not_positive(
    extremes: dict[str, tuple[float, float, float]], why: str
) -> None:
    knee = knee_points(frame3(extremes), XYZ, k=3)
    sums = {k: sum(v) for k, v in extremes.items()}
    assert knee["knee_distance"].to_dict() == pytest.approx(
        {k: (1 - s) / math.sqrt(3) for k, s in sums.items()}
    )


def test_knee_of_a_single_dominating_point_is_its_distance_to_the_unit_plane() -> None:
    """One front point is every extreme at once (a singular system): with objectives far apart in value,
    it sits at the normalized origin, 1/√2 from x + y = 1."""
    df = pd.DataFrame({"x": [5.0, 6.0], "y": [0.2, 0.3]})
    knee = knee_points(df, (X, Y))
    assert knee.index.tolist() == [0]
    assert knee["knee_distance"].iloc[0] == pytest.approx(1 / math.sqrt(2), rel=1e-12)


def test_knee_ignores_an_objective_constant_on_the_front() -> None:
    df = pd.DataFrame({"x": [0.0, 1.0, 0.25], "y": [1.0, 0.0, 0.25], "z": [5.0, 5.0, 5.0]})
    knee = knee_points(df, XYZ, k=3)
    assert knee.index.tolist() == [2, 0, 1]
    assert knee["knee_distance"].tolist() == pytest.approx([0.5 / math.sqrt(3), 0.0, 0.0], abs=1e-12)


def test_knee_ties_keep_front_order() -> None:
    """33 points on a 2-D front, alternately on the chord x + y = 1 and 1/64 inside it."""
    i = np.arange(33)
    inside = np.where(i % 2 == 1, 1 / 64, 0.0)
    df = pd.DataFrame({"x": i / 32, "y": 1 - i / 32 - inside})
    knee = knee_points(df, (X, Y), k=33)
    assert knee.index.tolist() == [*range(1, 33, 2), *range(0, 33, 2)]
    assert knee["knee_distance"].tolist() == pytest.approx([1 / 64 / math.sqrt(2)] * 16 + [0.0] * 17)


def test_knee_of_an_empty_front_is_an_empty_frame() -> None:
    df = pd.DataFrame({"x": [np.nan, 1.0], "y": [1.0, np.inf]})
    knee = knee_points(df, (X, Y), k=2)
    assert knee.empty and knee["knee_distance"].dtype == np.float64


# --- hypervolume: ideal, empty boxes, groups -------------------------------------------------------------


def test_hypervolume_normalizes_by_the_given_ideal_and_reports_none_unnormalized() -> None:
    df = pd.DataFrame({"x": [1.0, 3.0], "y": [3.0, 1.0]})
    raw = hypervolume(df, (X, Y), [4.0, 4.0])
    assert raw.value == 5.0 and raw.ideal is None and not raw.normalized
    given = hypervolume(df, (X, Y), [4.0, 4.0], normalize=True, ideal={"x": 0.0, "y": 0.0})
    assert given.value == pytest.approx(5 / 16) and given.ideal == {"x": 0.0, "y": 0.0}


def test_normalized_hypervolume_over_an_empty_box_is_zero() -> None:
    df = pd.DataFrame({"x": [1.0], "y": [2.0]})  # the reference equals the point (the ideal) in y
    result = hypervolume(df, (X, Y), {"x": 3.0, "y": 2.0}, normalize=True)
    assert result.value == 0.0 and result.ideal == {"x": 1.0, "y": 2.0}


GROUPS = pd.DataFrame({"x": [1.0, 2.0, 3.0, 9.0], "y": [3.0, 2.0, 1.0, 9.0], "g": ["a", "b", "a", None]})


def test_hypervolume_by_uses_the_given_reference_and_the_whole_frames_ideal() -> None:
    """Group a = {(1, 3), (3, 1)}: 5; b = {(2, 2)}: 4; the ungrouped row lies outside (4, 4). The ideal of
    the whole frame is (1, 1), so every group is normalized by the same 3 x 3 box (b alone would fill its
    own 2 x 2 box)."""
    raw = hypervolume_by(GROUPS, (X, Y), "g", {"x": 4.0, "y": 4.0})
    assert list(raw)[:2] == ["a", "b"] and pd.isna(list(raw)[2])
    assert [r.value for r in raw.values()] == [5.0, 4.0, 0.0]
    assert not any(r.normalized for r in raw.values())
    normalized = hypervolume_by(GROUPS, (X, Y), "g", [4.0, 4.0], normalize=True)
    assert [r.value for r in normalized.values()] == pytest.approx([5 / 9, 4 / 9, 0.0])
    assert all(r.ideal == {"x": 1.0, "y": 1.0} for r in normalized.values())


def test_fronts_by_sorts_the_groups_and_keeps_rows_without_one() -> None:
    df = GROUPS.assign(g=["b", "a", "b", None])
    fronts = fronts_by(df, (X, Y), "g")
    keys = list(fronts)
    assert keys[:2] == ["a", "b"] and len(keys) == 3 and pd.isna(keys[2])
    assert [fronts[k].index.tolist() for k in keys] == [[1], [0, 2], [3]]


@pytest.mark.parametrize("call", [fronts_by, hypervolume_by])
def test_grouping_names_a_missing_group_column(call: Callable[..., object]) -> None:
    with pytest.raises(KeyError, match=r"^\"group column\(s\) \['nope'\] not in results; available"):
        call(GROUPS, (X, Y), "nope")


# --- reference points, inputs and messages -------------------------------------------------------------


def test_default_reference_of_constant_objectives_uses_their_magnitude_or_one() -> None:
    df = pd.DataFrame({"x": [5.0, 5.0], "y": [0.0, 0.0], "a": [-2.0, -2.0], "b": [1.0, 1.0]})
    objs = (
        X,
        Objective("y", Direction.MAXIMIZE),
        Objective("a", Direction.MAXIMIZE),
        Objective("b", Direction.MINIMIZE),
    )
    assert default_reference(df, objs) == pytest.approx({"x": 5.5, "y": -0.1, "a": -2.2, "b": 1.1})
    with pytest.raises(
        ValueError, match=r"^no rows with finite objective values; cannot choose a reference point$"
    ):
        default_reference(df.assign(x=np.nan), objs)


def test_reference_errors_name_what_is_missing() -> None:
    df = pd.DataFrame({"x": [1.0], "y": [1.0]})
    with pytest.raises(ValueError, match=r"^reference point lacks objective\(s\) \['y'\]$"):
        hypervolume(df, (X, Y), {"x": 2.0})
    with pytest.raises(ValueError, match=r"^reference must have 2 values, got \(3,\)$"):
        hypervolume(df, (X, Y), [2.0, 2.0, 2.0])


def test_objective_matrix_is_float64_and_drops_missing_and_non_numeric_values() -> None:
    df = pd.DataFrame(
        {
            "x": pd.array([1, None, 3, 4], dtype="Int64"),
            "y": pd.Series([2, 5, "n/a", 7], dtype=object),
        }
    )
    values, finite = objective_matrix(df, (X, Y))
    assert values.dtype == np.float64 and values.tolist() == [[1.0, 2.0], [4.0, 7.0]]
    assert finite.tolist() == [True, False, False, True]
    with pytest.raises(KeyError, match=r"^\"objective column\(s\) \['z'\] not in results"):
        objective_matrix(df, XYZ)
    with pytest.raises(ValueError, match=r"^at least one objective is required$"):
        objective_matrix(df, ())


def test_nondominated_mask_checks_shape_and_missing_values() -> None:
    with pytest.raises(ValueError, match=r"^values must be \(n, 2\), got \(2,\)$"):
        nondominated_mask(np.array([1.0, 2.0]), [False, False])
    with pytest.raises(ValueError, match=r"^values must be \(n, 2\), got \(2, 3\)$"):
        nondominated_mask(np.ones((2, 3)), [False, False])
    with pytest.raises(ValueError, match=r"^values contain NaN or inf; drop those rows first$"):
        nondominated_mask([[1.0, None]], [False, False])  # None is a missing value, like NaN
    assert nondominated_mask(np.empty((0, 2)), [False, False]).dtype == bool


def test_pareto_ranks_are_a_named_nullable_integer_series() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan], "y": [1.0, 2.0, 0.0]})
    ranks = pareto_ranks(df, (X, Y))
    assert ranks.name == "pareto_rank" and str(ranks.dtype) == "Int64"
    assert ranks.iloc[:2].tolist() == [1, 2] and ranks.isna().tolist() == [False, False, True]


def test_parse_objectives_skips_empty_items_splits_at_the_last_colon_and_lists_directions() -> None:
    assert parse_objectives("x:min,,y:max,") == (X, Objective("y", Direction.MAXIMIZE))
    assert parse_objectives("accuracy:t1h:max") == (Objective("accuracy:t1h", Direction.MAXIMIZE),)
    allowed = "{max, maximise, maximize, min, minimise, minimize}"
    with pytest.raises(ValueError) as err:
        parse_objectives("x:up")
    assert str(err.value) == f"bad objective 'x:up': expected 'name:direction' with direction in {allowed}"
