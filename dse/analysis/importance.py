"""Which design parameters matter for each objective: Optuna's importance evaluators, per objective.

The rows of a results folder are replayed into an in-memory Optuna study, one per objective (a
single-objective study whose value is the objective, minimised: maximised columns are negated,
so PED-ANOVA's "lower is better" holds; fANOVA and MDI are sign-invariant). Each searched
parameter becomes an Optuna distribution spanning the values the rows hold, on a log scale
where the space searched it so. A knob the design ignores is stored as null; the point held its
default, so the replay uses the default (the design ran with it, and the objective does not
depend on it). Parameters that hold one value in every row carry no information and are left out.

Optuna is imported inside the functions only: reading results must not load it at import time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.schema.point import PARAMETERS
from dse.schema.record import Objective, label

EVALUATORS = ("fanova", "ped-anova", "mdi")
"""fANOVA (functional ANOVA on a random forest), PED-ANOVA (Pearson divergence of the top quantile;
no forest, fast on many trials) and MDI (mean decrease in impurity of a random forest)."""


def searched_params(meta: Mapping[str, Any], df: pd.DataFrame) -> tuple[list[str], set[str]]:
    """(the searched parameters, those searched on a log scale): from the study's recorded space
    (``_study.json``), else every design column that varies across the rows."""
    space = meta.get("space")
    if space and space.get("domains"):
        doms = [d for d in space["domains"] if d.get("kind") != "fixed"]
        return [d["name"] for d in doms], {d["name"] for d in doms if d.get("log")}
    varying = [p for p in PARAMETERS if p in df.columns and df[p].dropna().astype(str).nunique() > 1]
    return varying, set()


def _filled(df: pd.DataFrame, name: str) -> pd.Series:
    """The column with ignored knobs (null) at the default the point held."""
    default = PARAMETERS[name].default
    if isinstance(default, tuple | list):
        default = json.dumps(list(default))
    col = df[name]
    return col.where(col.notna(), default) if default is not None else col


def _distribution(name: str, values: pd.Series, log: bool) -> Any:
    """The Optuna distribution of one parameter over the values the rows hold (None if constant)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        choices = sorted({str(v) for v in values})
        return CategoricalDistribution(choices) if len(choices) > 1 else None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return None
    log = log and lo > 0
    if PARAMETERS[name].kind == "int" and all(float(v).is_integer() for v in values):
        return IntDistribution(int(lo), int(hi), log=log)
    return FloatDistribution(lo, hi, log=log)


def _param_value(dist: Any, value: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return str(value)
    return int(value) if isinstance(dist, IntDistribution) else float(value)


def param_importances(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    params: Sequence[str],
    *,
    log_params: set[str] | frozenset[str] = frozenset(),
    evaluator: str = "fanova",
    seed: int = 0,
) -> pd.DataFrame:
    """Normalised importance (each objective's column sums to 1) of each parameter, per objective.

    Args:
        df: trial rows (complete ones: the caller filters).
        objectives: the columns to explain; rows where one is missing or not finite are left out
            of that objective's study only.
        params: the parameters to rank (design columns of ``df``).
        log_params: parameters searched on a log scale.
        evaluator: one of :data:`EVALUATORS`.
        seed: seed of the random forests (fANOVA, MDI).

    Returns:
        One row per parameter (index ``parameter``), one column per objective, sorted by the mean
        importance over objectives, and the attribute ``attrs["rows"]`` = rows used per objective.
        An objective that takes one value in every row (the write count of off-chip modes, which
        program once) has no variance to explain: its column is NaN.

    Raises:
        ValueError: an unknown evaluator or parameter, no parameter that varies, or fewer than
            two rows with a finite value of an objective.
    """
    import optuna

    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator {evaluator!r} is unknown; allowed: {', '.join(EVALUATORS)}")
    unknown = [p for p in params if p not in PARAMETERS or p not in df.columns]
    if unknown:
        raise ValueError(f"parameter(s) {unknown} are not design columns; allowed: {', '.join(PARAMETERS)}")
    filled = {p: _filled(df, p) for p in params}
    dists = {p: _distribution(p, filled[p], p in log_params) for p in params}
    dists = {p: d for p, d in dists.items() if d is not None}
    if not dists:
        raise ValueError(f"no parameter among {list(params)} takes more than one value in the rows")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table: dict[str, dict[str, float]] = {}
    used: dict[str, int] = {}
    for obj in objectives:
        values = pd.to_numeric(df[obj.name], errors="coerce")
        keep = [i for i, v in enumerate(values) if math.isfinite(v)]
        if len(keep) < 2:
            raise ValueError(f"objective {obj.name!r} has {len(keep)} finite value(s); importance needs ≥ 2")
        used[obj.name] = len(keep)
        if values.iloc[keep].nunique() == 1:  # a constant objective: no parameter explains any of it
            table[obj.name] = dict.fromkeys(dists, math.nan)
            continue
        sign = -1.0 if obj.direction.maximise else 1.0
        study = optuna.create_study(direction="minimize")
        study.add_trials(
            optuna.trial.create_trial(
                params={p: _param_value(d, filled[p].iloc[i]) for p, d in dists.items()},
                distributions=dists,
                value=sign * float(values.iloc[i]),
            )
            for i in keep
        )
        result = optuna.importance.get_param_importances(
            study, evaluator=_evaluator(evaluator, seed), params=list(dists)
        )
        table[obj.name] = {p: float(result.get(p, 0.0)) for p in dists}
    out = pd.DataFrame(table)
    out = out.loc[out.mean(axis=1, skipna=True).fillna(0.0).sort_values(ascending=False, kind="stable").index]
    out.index.name = "parameter"
    out.attrs["rows"] = used
    return out


def _evaluator(name: str, seed: int) -> Any:
    import optuna

    if name == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(seed=seed)
    if name == "mdi":
        return optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=seed)
    return optuna.importance.PedAnovaImportanceEvaluator()


def plot_importances(table: pd.DataFrame, out: Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """A grouped horizontal bar figure: one group per parameter, one bar per objective."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unknown = sorted(set(formats) - {"png", "pdf", "svg"})
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; choose from png, pdf, svg")
    params, objs = list(table.index), list(table.columns)
    height = 0.8 / max(1, len(objs))
    fig, ax = plt.subplots(figsize=(3.5 + 0.5 * len(objs), 0.9 + 0.35 * len(params) * max(1, len(objs) / 2)))
    y = np.arange(len(params))[::-1]
    palette = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")
    for k, obj in enumerate(objs):
        ax.barh(
            y + (len(objs) / 2 - k - 0.5) * height, table[obj], height, label=label(obj), color=palette[k % 8]
        )
    ax.set_yticks(y, [label(p) for p in params])
    ax.set_xlabel("importance (normalised per objective)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize="small", frameon=False, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out.with_suffix(f".{fmt}")
        fig.savefig(path, format=fmt, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths
