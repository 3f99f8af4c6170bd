"""Pareto analysis of finished trials: non-dominated sets, ranks, hypervolume and knee points.

Everything here is pure (DataFrame in, DataFrame/Series/dataclass out) so that tables, plots and the CLI
render the same numbers. Objectives keep their own direction; moocore receives a per-objective
``maximise`` flag instead of negated copies, so values are never rewritten.

Rows whose objective values are NaN or ±inf (failed trials, missing metrics) are excluded from every
computation: they can neither dominate nor be dominated.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import moocore
import numpy as np
import pandas as pd

from dse.schema.record import Direction, Objective

REFERENCE_MARGIN = 0.1
"""Default reference point: each objective's worst observed value pushed out by this fraction of its range."""

_ALIASES = {
    "max": "maximize", "maximize": "maximize", "maximise": "maximize",
    "min": "minimize", "minimize": "minimize", "minimise": "minimize",
}  # fmt: skip


@dataclass(frozen=True)
class HypervolumeResult:
    """Hypervolume of a set of trials, with the reference point it was measured against."""

    value: float
    """Dominated hypervolume (raw units, or a fraction of the ideal–reference box when normalized)."""
    reference: dict[str, float]
    """Reference point per objective. Comparisons are meaningful only at the same reference."""
    normalized: bool
    """True if ``value`` was divided by the volume of the box between ``ideal`` and ``reference``."""
    ideal: dict[str, float] | None = None
    """Best observed value per objective, used for normalization (None when not normalized)."""


def parse_objectives(spec: str | Sequence[str]) -> tuple[Objective, ...]:
    """Parse ``"accuracy:max,energy_per_inference_pj:min"`` (or a list of ``name:dir`` items).

    Directions accept max/maximize/maximise and min/minimize/minimise, case-insensitively.

    Raises:
        ValueError: naming the bad item and the allowed directions, or a repeated/missing name.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    allowed = ", ".join(sorted(_ALIASES))
    objectives: list[Objective] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        name, sep, direction = item.rpartition(":")
        key = direction.strip().lower()
        if not sep or not name.strip() or key not in _ALIASES:
            raise ValueError(
                f"bad objective {item!r}: expected 'name:direction' with direction in {{{allowed}}}"
            )
        objectives.append(Objective(name.strip(), Direction(_ALIASES[key])))
    names = [o.name for o in objectives]
    if not objectives:
        raise ValueError(f"no objectives in {spec!r}: expected e.g. 'accuracy:max,energy_pj:min'")
    if len(set(names)) != len(names):
        raise ValueError(f"objective named twice in {spec!r}")
    return tuple(objectives)


def _require(df: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        available = sorted(map(str, df.columns))
        raise KeyError(f"{role} column(s) {missing} not in results; available: {available}")


def _maximise(objectives: Sequence[Objective]) -> list[bool]:
    return [o.direction.maximise for o in objectives]


def objective_matrix(df: pd.DataFrame, objectives: Sequence[Objective]) -> tuple[np.ndarray, np.ndarray]:
    """Return (values of the finite rows as float64 (n, m), boolean mask of those rows in ``df``)."""
    _require(df, [o.name for o in objectives], "objective")
    if not objectives:
        raise ValueError("at least one objective is required")
    cols = [o.name for o in objectives]
    values = df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values).all(axis=1)
    return values[finite], finite


def nondominated_mask(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """True for rows of ``values`` (n, m) that no other row dominates; duplicates of front points stay True.

    Raises:
        ValueError: if ``values`` contains NaN/inf (filter them first) or the shapes disagree.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(maximise):
        raise ValueError(f"values must be (n, {len(maximise)}), got {values.shape}")
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or inf; drop those rows first")
    return np.asarray(moocore.is_nondominated(values, maximise=list(maximise), keep_weakly=True), dtype=bool)


def pareto_front(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """Non-dominated rows of ``df`` (original index and order), duplicates of front points kept."""
    values, finite = objective_matrix(df, objectives)
    keep = np.zeros(len(df), dtype=bool)
    keep[np.flatnonzero(finite)] = nondominated_mask(values, _maximise(objectives))
    return df.iloc[np.flatnonzero(keep)]


def pareto_ranks(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.Series:
    """Non-domination rank per row (1 = front, 2 = front once rank 1 is removed, ...); <NA> if excluded."""
    values, finite = objective_matrix(df, objectives)
    ranks = pd.Series(pd.NA, index=df.index, dtype="Int64", name="pareto_rank")
    if len(values):
        ranks.iloc[np.flatnonzero(finite)] = moocore.pareto_rank(values, maximise=_maximise(objectives)) + 1
    return ranks


def default_reference(df: pd.DataFrame, objectives: Sequence[Objective]) -> dict[str, float]:
    """Each objective's worst observed value pushed out by ``REFERENCE_MARGIN`` × its observed range.

    If all values of an objective are equal, the margin is 10 % of its magnitude (1.0 if it is zero), so
    every observed point still dominates the reference and contributes volume.
    """
    values, _ = objective_matrix(df, objectives)
    if len(values) == 0:
        raise ValueError("no rows with finite objective values; cannot choose a reference point")
    lo, hi = values.min(axis=0), values.max(axis=0)
    reference: dict[str, float] = {}
    for j, obj in enumerate(objectives):
        worst = lo[j] if obj.direction.maximise else hi[j]
        span = hi[j] - lo[j]
        margin = REFERENCE_MARGIN * (span if span > 0 else (abs(worst) if worst != 0 else 1.0))
        reference[obj.name] = float(worst - margin if obj.direction.maximise else worst + margin)
    return reference


def _ideal(df: pd.DataFrame, objectives: Sequence[Objective]) -> dict[str, float]:
    values, _ = objective_matrix(df, objectives)
    best = np.where(_maximise(objectives), values.max(axis=0), values.min(axis=0))
    return {o.name: float(b) for o, b in zip(objectives, best, strict=True)}


def _reference_vector(
    objectives: Sequence[Objective], reference: Mapping[str, float] | Sequence[float]
) -> np.ndarray:
    if isinstance(reference, Mapping):
        missing = [o.name for o in objectives if o.name not in reference]
        if missing:
            raise ValueError(f"reference point lacks objective(s) {missing}")
        return np.array([float(reference[o.name]) for o in objectives])
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != (len(objectives),):
        raise ValueError(f"reference must have {len(objectives)} values, got {ref.shape}")
    return ref


def hypervolume(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    reference: Mapping[str, float] | Sequence[float] | None = None,
    *,
    normalize: bool = False,
    ideal: Mapping[str, float] | None = None,
) -> HypervolumeResult:
    """Hypervolume dominated by the finite rows of ``df`` with respect to ``reference``.

    Args:
        reference: worst acceptable value per objective; defaults to :func:`default_reference` of ``df``.
            Points that do not strictly improve on it in every objective add no volume.
        normalize: divide by the volume of the box between ``ideal`` and ``reference`` so the value is a
            unit-free fraction in [0, 1]; useful because objectives mix accuracy with pJ and bits.
        ideal: best value per objective for normalization; defaults to the best observed in ``df``.
    """
    ref = _reference_vector(objectives, default_reference(df, objectives) if reference is None else reference)
    values, _ = objective_matrix(df, objectives)
    maximise = _maximise(objectives)
    value = float(moocore.hypervolume(values, ref=ref, maximise=maximise)) if len(values) else 0.0
    ideal_map: dict[str, float] | None = None
    if normalize and (ideal is not None or len(values)):
        ideal_map = dict(ideal) if ideal is not None else _ideal(df, objectives)
        box = float(np.prod(np.abs(ref - _reference_vector(objectives, ideal_map))))
        value = value / box if box > 0 else 0.0
    reference_out = {o.name: float(r) for o, r in zip(objectives, ref, strict=True)}
    return HypervolumeResult(value, reference_out, normalize, ideal_map)


def hv_contributions(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    reference: Mapping[str, float] | Sequence[float] | None = None,
) -> pd.Series:
    """Exclusive hypervolume contribution per row: what it adds over the other non-dominated rows.

    Dominated rows get 0 and are ignored, so they never shrink a front row's share (leave-one-out over all
    rows would: a row dominated only by one front row fills part of that row's slab). Exact duplicates of a
    front row each get 0, since removing one copy loses nothing. Rows with a non-finite objective get NaN.
    """
    ref = _reference_vector(objectives, default_reference(df, objectives) if reference is None else reference)
    values, finite = objective_matrix(df, objectives)
    out = pd.Series(np.nan, index=df.index, dtype="float64", name="hv_contribution")
    if len(values):
        contributions = moocore.hv_contributions(values, ref=ref, maximise=_maximise(objectives))
        out.iloc[np.flatnonzero(finite)] = contributions
    return out


def knee_points(df: pd.DataFrame, objectives: Sequence[Objective], k: int = 1) -> pd.DataFrame:
    """The ``k`` front rows farthest from the hyperplane through the front's extreme points.

    Method (Das 1999; Branke et al. 2004): on the front, normalize each objective to [0, 1] with 0 = best,
    take for each objective the point best in it (the extremes), fit the hyperplane ``w·z = 1`` through
    them (falling back to ``Σz = 1`` if they are degenerate) and rank points by their distance beyond that
    plane toward the ideal point. A knee is where a small gain in one objective costs a lot in another.
    Returns the rows with a ``knee_distance`` column, largest first.
    """
    front = pareto_front(df, objectives)
    if front.empty or k <= 0:
        return front.iloc[:0].assign(knee_distance=pd.Series(dtype="float64"))  # k <= 0: no rows
    values, _ = objective_matrix(front, objectives)
    z = np.where(_maximise(objectives), -values, values)  # minimize orientation
    lo, span = z.min(axis=0), np.ptp(z, axis=0)
    z = (z - lo) / np.where(span > 0, span, 1.0)
    extremes = z[np.argmin(z, axis=0)]
    weights = np.ones(z.shape[1])
    try:
        solved = np.linalg.solve(extremes, np.ones(z.shape[1]))
        if np.all(np.isfinite(solved)) and np.all(solved > 0):
            weights = solved
    except np.linalg.LinAlgError:
        pass
    distance = (1.0 - z @ weights) / np.linalg.norm(weights)
    order = np.argsort(-distance, kind="stable")[:k]
    return front.iloc[order].assign(knee_distance=distance[order])


def fronts_by(df: pd.DataFrame, objectives: Sequence[Objective], by: str) -> dict[Hashable, pd.DataFrame]:
    """Pareto front within each group of column ``by`` (e.g. one front per device)."""
    _require(df, [by], "group")
    return {key: pareto_front(group, objectives) for key, group in df.groupby(by, sort=True, dropna=False)}


def hypervolume_by(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    by: str,
    reference: Mapping[str, float] | Sequence[float] | None = None,
    *,
    normalize: bool = False,
) -> dict[Hashable, HypervolumeResult]:
    """Hypervolume per group of column ``by``, all at one shared reference (and ideal) so they compare."""
    _require(df, [by], "group")
    ref = default_reference(df, objectives) if reference is None else reference
    ideal = _ideal(df, objectives) if normalize else None
    return {
        key: hypervolume(group, objectives, ref, normalize=normalize, ideal=ideal)
        for key, group in df.groupby(by, sort=True, dropna=False)
    }


def hypervolume_history(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    order_by: str = "trial_number",
    reference: Mapping[str, float] | Sequence[float] | None = None,
    carry: Sequence[str] = ("datetime_start", "datetime_complete", "wall_seconds"),
    *,
    normalize: bool = False,
) -> pd.DataFrame:
    """Hypervolume of all trials up to and including each one, in ``order_by`` order (progress plots).

    The reference defaults to that of the whole ``df``, so the curve is non-decreasing. The front is kept
    incrementally and the volume recomputed only when a trial enters it. Columns: ``order_by``,
    ``hypervolume``, ``front_size`` (front points strictly inside the reference box) and whichever
    ``carry`` columns exist (for plots against wall time). ``normalize`` divides by the volume of the box
    between the ideal point of the whole ``df`` and the reference, as :func:`hypervolume` does.
    """
    _require(df, [order_by], "order")
    ordered = df.sort_values(order_by, kind="stable")
    ref = _reference_vector(objectives, default_reference(df, objectives) if reference is None else reference)
    sign = np.where(_maximise(objectives), -1.0, 1.0)
    values, finite = objective_matrix(ordered, objectives)
    z_all = np.full((len(ordered), len(objectives)), np.nan)
    z_all[finite] = values * sign
    z_ref = ref * sign
    front = np.empty((0, len(objectives)))
    hv, hvs, sizes = 0.0, np.zeros(len(ordered)), np.zeros(len(ordered), dtype=np.int64)
    for i, (point, ok) in enumerate(zip(z_all, finite, strict=True)):
        if ok and np.all(point < z_ref) and not np.any(np.all(front <= point, axis=1)):
            front = np.vstack([front[~np.all(point <= front, axis=1)], point])
            hv = float(moocore.hypervolume(front, ref=z_ref))
        hvs[i], sizes[i] = hv, len(front)
    if normalize and finite.any():
        box = float(np.prod(np.abs(ref - _reference_vector(objectives, _ideal(df, objectives)))))
        hvs = hvs / box if box > 0 else np.zeros_like(hvs)
    out = pd.DataFrame({order_by: ordered[order_by].to_numpy(), "hypervolume": hvs, "front_size": sizes})
    for col in carry:
        if col in ordered.columns and col != order_by:
            out[col] = ordered[col].to_numpy()
    return out


def within_noise(df: pd.DataFrame, objectives: Sequence[Objective], column: str = "accuracy") -> pd.Series:
    """For each front member of ``df``: whether its advantage over a row it dominates rests on a
    difference of ``column`` inside the 95 % intervals (``<column>_ci_low``/``_ci_high``).

    A front member f dominates a row d; if d's interval reaches above f's (``d.ci_high >
    f.ci_low``), d may well be the more accurate design, and then f no longer dominates it: f's
    place over d is not established by the data. Rows without intervals (a study without
    ``repeats``/hardware seeds) give False. Returns a boolean Series indexed like the front.
    """
    low, high = f"{column}_ci_low", f"{column}_ci_high"
    front = pareto_front(df, objectives)
    if column not in {o.name for o in objectives} or low not in df.columns or high not in df.columns:
        return pd.Series(False, index=front.index)
    values, finite = objective_matrix(df, objectives)
    rows = df[finite]
    signs = np.array([-1.0 if o.direction.maximise else 1.0 for o in objectives])
    v = values * signs  # the finite rows (``values`` holds only those), every objective minimised
    out = {}
    for idx in front.index:
        f = v[rows.index.get_loc(idx)]
        dominated = np.all(f <= v, axis=1) & np.any(f < v, axis=1)
        overlap = rows[high].to_numpy(dtype=float) > float(df.at[idx, low])
        out[idx] = bool(np.any(dominated & overlap))
    return pd.Series(out, dtype=bool).reindex(front.index)
