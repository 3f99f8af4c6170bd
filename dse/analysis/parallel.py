"""Parallel coordinates of a Pareto front: an axis per searched design parameter (categories
labelled), then one per objective oriented so that up is better; one number format per axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dse.analysis.display import display_value
from dse.analysis.figure import (
    FORMATS,
    FigureFormat,
    groups,
    log_scale,
    new_figure,
    paper_style,
    save,
    style_for,
)
from dse.analysis.pareto import Objective, objective_matrix, pareto_front
from dse.analysis.report import column_label


def parallel_coordinates_data(front: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """Each objective of ``front`` scaled to [0, 1] with 1 = best, so "up is better" on every axis.

    Objectives spanning more than two decades (energy, size) are scaled on log10, as their plots are.
    """
    values, finite = objective_matrix(front, objectives)
    logs = [log_scale(pd.Series(values[:, j])) for j in range(values.shape[1])]
    values = np.where(logs, np.log10(np.where(logs, values, 1.0)), values)
    lo, span = values.min(axis=0), np.ptp(values, axis=0)
    scaled = (values - lo) / np.where(span > 0, span, 1.0)
    scaled = np.where([o.direction.maximise for o in objectives], scaled, 1.0 - scaled)
    return pd.DataFrame(scaled, index=front.index[finite], columns=[o.name for o in objectives])


def axis_format(values: pd.Series) -> Callable[[float], str]:
    """One number format for a whole axis: integers whole, else the same decimals at both ends,
    enough for three significant figures of the largest magnitude."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if not len(v) or (bool((v == v.round()).all()) and v.abs().max() < 1e6):
        return lambda x: f"{x:.0f}"
    top = float(v.abs().max())
    decimals = max(0, 2 - int(np.floor(np.log10(top)))) if top > 0 else 0
    return lambda x: f"{x:.{decimals}f}"


def parameter_axes(
    front: pd.DataFrame, params: Sequence[str]
) -> dict[str, tuple[pd.Series, list[tuple[float, str]]]]:
    """Each design parameter of ``front`` scaled to [0, 1] (categories evenly, in sorted order;
    numbers min to max, on log10 above 10×), with its tick positions and labels. Nulls (a knob a
    design ignores) stay NaN, so their line breaks at that axis."""
    axes = {}
    for name in params:
        col = front[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            cats = sorted({str(c) for c in col.dropna()})
            pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
            codes = pd.Series([pos[str(c)] if pd.notna(c) else np.nan for c in col], index=col.index)
            axes[name] = (codes.astype(float), [(pos[c], display_value(name, c)) for c in cats])
            continue
        numbers = pd.to_numeric(col, errors="coerce").astype(float)
        shown = np.log10(numbers) if log_scale(numbers) else numbers
        lo, hi = shown.min(), shown.max()
        scaled = (shown - lo) / (hi - lo) if hi > lo else shown * 0 + 0.5
        fmt = axis_format(numbers)
        ticks = [
            (float(scaled[numbers.idxmin()]), fmt(numbers.min())),
            (float(scaled[numbers.idxmax()]), fmt(numbers.max())),
        ]
        axes[name] = (scaled, ticks)
    return axes


@paper_style
def plot_parallel_coordinates(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    out: Path,
    color_by: str | None = "device",
    formats: Sequence[FigureFormat] = FORMATS,
    params: Sequence[str] = (),
) -> list[Path]:
    """Parallel coordinates of the Pareto front: an axis per searched design parameter (``params``,
    categories labelled), then one per objective oriented so up is better; one line per design."""
    front = pareto_front(df, objectives)
    params = [p for p in params if p in front.columns and p != color_by and front[p].nunique(dropna=True) > 1]
    design = parameter_axes(front, params)
    scaled = parallel_coordinates_data(front, objectives)
    for name, (values, _) in design.items():
        scaled[name] = values.loc[scaled.index]
    names = [*params, *(o.name for o in objectives)]
    scaled = scaled[names]
    styles = style_for(front[color_by] if color_by in front.columns else ["all"])
    fig, (ax,) = new_figure(2.6)
    xs = np.arange(len(names))
    for key, group in groups(front, color_by):
        color, _ = styles[key]
        label = display_value(str(color_by), key)
        for i, row in enumerate(scaled.loc[group.index].to_numpy()):
            style = {"alpha": 0.7, "linewidth": 0.9, "marker": "o", "markersize": 1.5}  # a point shows alone
            ax.plot(xs, row, color=color, label=label if i == 0 else None, **style)
    where = {"textcoords": "offset points", "ha": "center", "fontsize": 5.5}
    for i, name in enumerate(params):
        ax.axvline(i, color="0.6", linewidth=0.6)
        for y, text in design[name][1]:
            ax.annotate(text, (i, y), xytext=(2, 0), va="center", **{**where, "ha": "left"})
    for i, obj in enumerate(objectives, start=len(params)):
        ax.axvline(i, color="0.6", linewidth=0.6)
        col = front[obj.name]
        fmt = axis_format(col)
        best, worst = (col.max(), col.min()) if obj.direction.maximise else (col.min(), col.max())
        for value, y, dy, va in ((best, 1.0, 2, "bottom"), (worst, 0.0, -2, "top")):
            ax.annotate(fmt(value), (i, y), xytext=(0, dy), va=va, **where)
    ax.set_xticks(xs, [column_label(n) for n in names], rotation=30, ha="right")
    ax.set(ylim=(-0.12, 1.12), yticks=[0, 1], yticklabels=["worst", "best"] if not params else ["", ""])
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.tick_params(length=0)
    fig.legend(loc="outside upper center", ncols=min(len(styles), 4))

    def html() -> go.Figure:
        dims: list[dict[str, Any]] = []
        for name in params:
            col = front[name]
            if name in design and design[name][1] and not pd.api.types.is_numeric_dtype(col):
                positions, texts = zip(*design[name][1], strict=True)
                axis = {"tickvals": list(positions), "ticktext": list(texts)}
                dims.append({"label": column_label(name), "values": design[name][0], **axis})
            else:
                dims.append({"label": column_label(name), "values": col, "tickformat": ".3~g"})
        dims += [
            {"label": column_label(o.name), "values": front[o.name], "tickformat": ".3~g"} for o in objectives
        ]
        line: dict[str, Any] = {"color": "#0072B2"}
        if color_by in front.columns:
            keys = list(styles)
            codes = front[color_by].map({k: i for i, k in enumerate(keys)})
            ticks = {
                "tickvals": list(range(len(keys))),
                "ticktext": [display_value(str(color_by), k) for k in keys],
            }
            dims.append({"label": column_label(color_by), "values": codes, **ticks})
            scale = [[i / max(len(keys) - 1, 1), styles[k][0]] for i, k in enumerate(keys)]
            line = {
                "color": codes,
                "colorscale": scale if len(keys) > 1 else [[0, scale[0][1]], [1, scale[0][1]]],
            }
        return go.Figure(go.Parcoords(dimensions=dims, line=line))

    return save(fig, html, out, formats)
