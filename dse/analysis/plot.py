"""Paper figures: PNG/PDF via matplotlib (no pyplot, so no global backend state) and HTML via plotly.

Each ``plot_*`` takes results (or :mod:`dse.analysis.pareto` output), writes ``out`` with one suffix per
format and returns the paths. Conventions: single-column width (3.5 in), 8 pt text, axis labels with units
from :func:`dse.schema.record.label`, the colour-blind-safe Okabe–Ito palette plus a marker per
category so figures survive greyscale printing, TrueType fonts embedded in PDFs (publishers reject Type 3);
the shared conventions live in :mod:`dse.analysis.figure`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dse.analysis.display import display_value
from dse.analysis.figure import (
    FORMATS,
    FRONT_MARK,
    MARKERS,
    OKABE_ITO,
    FigureFormat,
    design_columns,
    groups,
    hover,
    log_scale,
    new_figure,
    paper_style,
    save,
    style_for,
)
from dse.analysis.parallel import (  # noqa: F401  (re-exported: every plot_* lives in plot)
    axis_format,
    parallel_coordinates_data,
    parameter_axes,
    plot_parallel_coordinates,
)
from dse.analysis.pareto import (
    Objective,
    default_reference,
    hypervolume_history,
    objective_matrix,
    pareto_front,
)
from dse.analysis.report import column_label
from dse.schema.point import READ_TIMES


def front_2d(df: pd.DataFrame, objectives: Sequence[Objective]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(front of the two objectives sorted by the first, dominated finite rows): what the 2-D plot draws."""
    if len(objectives) != 2:
        raise ValueError(f"a 2-D projection needs exactly two objectives, got {len(objectives)}")
    _, finite = objective_matrix(df, objectives)
    valid = df[finite]
    front = pareto_front(valid, objectives).sort_values(objectives[0].name, kind="stable")
    return front, valid.drop(index=front.index)


@paper_style
def plot_pareto_2d(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    out: Path,
    color_by: str | None = "device",
    formats: Sequence[FigureFormat] = FORMATS,
    log: tuple[bool | None, bool | None] = (None, None),
) -> list[Path]:
    """Two objectives: dominated trials faint, the front of these two objectives bold and joined by
    its attainment staircase. ``log`` forces (x, y) axes log (True) or linear (False); None: automatic."""
    front, dominated = front_2d(df, objectives)
    x, y = (o.name for o in objectives)
    log_x, log_y = log_scale(df[x], log[0]), log_scale(df[y], log[1])
    params = design_columns(df)
    styles = style_for(df[color_by] if color_by in df.columns else ["all"])
    step = "post" if objectives[0].direction.value == "minimize" else "pre"
    fig, (ax,) = new_figure(2.6)
    on_front = {key for key, _ in groups(front, color_by)}
    for key, group in groups(dominated, color_by):
        color, marker = styles[key]
        name = display_value(str(color_by), key)
        label = (
            None if key in on_front else f"{name} (off this 2-objective front)"
        )  # every group in the legend
        ax.scatter(group[x], group[y], s=8, color=color, marker=marker, alpha=0.25, linewidths=0, label=label)
    ax.step(front[x], front[y], where=step, color="0.2", linewidth=0.8, zorder=2)
    for key, group in groups(front, color_by):
        color, marker = styles[key]
        name = display_value(str(color_by), key)
        ax.scatter(group[x], group[y], s=18, color=color, marker=marker, label=name, **FRONT_MARK)
    for axis, name in (("x", x), ("y", y)):  # issue 13's intervals on the front, where recorded
        low, high = front.get(f"{name}_ci_low"), front.get(f"{name}_ci_high")
        if low is not None and high is not None and low.notna().any():
            err = np.vstack([front[name] - low, high - front[name]]).clip(min=0)
            bars = {"xerr" if axis == "x" else "yerr": np.nan_to_num(err)}
            ax.errorbar(front[x], front[y], fmt="none", ecolor="0.4", elinewidth=0.6, zorder=2, **bars)
    ax.set(xlabel=column_label(x), ylabel=column_label(y))
    ax.set_xscale("log" if log_x else "linear")
    ax.set_yscale("log" if log_y else "linear")
    ax.plot([], [], color="0.2", linewidth=0.8, label="2-objective front")
    ax.legend(title=column_label(color_by) if color_by in df.columns else None, loc="best")

    def html() -> go.Figure:
        f = go.Figure()
        for key, group in groups(dominated, color_by):
            marker = {"color": styles[key][0]}
            name = f"{display_value(str(color_by), key)} (dominated in these 2 objectives)"
            f.add_scatter(
                x=group[x], y=group[y], mode="markers", name=name, opacity=0.3, marker=marker,
                text=hover(group, params), hoverinfo="x+y+text",
            )  # fmt: skip
        line = {"shape": "hv" if step == "post" else "vh", "color": "#333333", "width": 1}
        f.add_scatter(
            x=front[x], y=front[y], mode="lines", line=line, name="2-objective front", hoverinfo="skip"
        )
        for key, group in groups(front, color_by):
            marker = {"color": styles[key][0], "size": 9, "line": {"width": 1, "color": "black"}}
            f.add_scatter(
                x=group[x], y=group[y], mode="markers", name=display_value(str(color_by), key),
                marker=marker, text=hover(group, params), hoverinfo="x+y+text",
            )  # fmt: skip
        f.update_xaxes(title=column_label(x), type="log" if log_x else "linear")
        f.update_yaxes(title=column_label(y), type="log" if log_y else "linear")
        return f

    return save(fig, html, out, formats)


def elapsed_seconds(df: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Wall-clock seconds from the study start to each trial's completion, with what the axis means.

    Uses ``datetime_complete`` (start = earliest ``datetime_start``, else earliest completion minus its
    ``wall_seconds``); without timestamps, the running sum of ``wall_seconds`` (serial trial time).
    """
    if "datetime_complete" in df.columns and df["datetime_complete"].notna().any():
        done = pd.to_datetime(df["datetime_complete"], utc=True)
        if "datetime_start" in df.columns and df["datetime_start"].notna().any():
            start = pd.to_datetime(df["datetime_start"], utc=True).min()
        elif "wall_seconds" in df.columns:
            start = (done - pd.to_timedelta(df["wall_seconds"].fillna(0), unit="s")).min()
        else:
            start = done.min()
        return (done - start).dt.total_seconds(), "Wall time"
    if "wall_seconds" in df.columns:
        return df["wall_seconds"].fillna(0).cumsum(), "Cumulative trial time"
    return None


def _time_unit(seconds: pd.Series) -> tuple[float, str]:
    top = float(seconds.max()) if len(seconds) else 0.0
    return (3600.0, "h") if top > 7200 else (60.0, "min") if top > 120 else (1.0, "s")


@paper_style
def plot_hypervolume_history(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    out: Path,
    formats: Sequence[FigureFormat] = FORMATS,
) -> list[Path]:
    """Normalized hypervolume against trial number and wall time (if recorded), at one shared reference."""
    reference = default_reference(df, objectives)
    by_trial = hypervolume_history(df, objectives, "trial_number", reference, normalize=True)
    by_time = None
    if "datetime_complete" in df.columns and df["datetime_complete"].notna().any():
        timed = df[df["datetime_complete"].notna()]
        by_time = hypervolume_history(timed, objectives, "datetime_complete", reference, normalize=True)
    elif "wall_seconds" in df.columns:
        by_time = by_trial
    time = elapsed_seconds(by_time) if by_time is not None else None
    fig, axes = new_figure(2.0, ncols=2 if time is not None else 1)
    axes[0].step(by_trial["trial_number"], by_trial["hypervolume"], where="post", color=OKABE_ITO[3])
    axes[0].set(xlabel="Trial", ylabel="Hypervolume (normalized)")
    if time is not None and by_time is not None:
        scale, unit = _time_unit(time[0])
        axes[1].step(time[0] / scale, by_time["hypervolume"], where="post", color=OKABE_ITO[4])
        axes[1].set(xlabel=f"{time[1]} ({unit})")
        axes[1].sharey(axes[0])
        axes[1].tick_params(labelleft=False)

    def html() -> go.Figure:
        f = make_subplots(rows=1, cols=2 if time is not None else 1, shared_yaxes=True)
        step = {"line": {"shape": "hv"}, "row": 1}
        f.add_scatter(x=by_trial["trial_number"], y=by_trial["hypervolume"], name="by trial", col=1, **step)
        f.update_xaxes(title="Trial", row=1, col=1)
        f.update_yaxes(title="Hypervolume (normalized)", row=1, col=1)
        if time is not None and by_time is not None:
            scale, unit = _time_unit(time[0])
            f.add_scatter(x=time[0] / scale, y=by_time["hypervolume"], name="by wall time", col=2, **step)
            f.update_xaxes(title=f"{time[1]} ({unit})", row=1, col=2)
        return f

    return save(fig, html, out, formats)


def _design_label(row: pd.Series) -> str:
    parts = [display_value("device", row[c]) for c in ("device",) if c in row.index]
    parts += [f"{row[c]:g}b ADC" for c in ("adc_bits",) if c in row.index and pd.notna(row[c])]
    if "trial_number" in row.index:
        parts.append(f"#{row['trial_number']}")
    return " ".join(parts) or str(row.name)


@paper_style
def plot_accuracy_vs_read_time(
    designs: pd.DataFrame,
    out: Path,
    label: Callable[[pd.Series], str] = _design_label,
    formats: Sequence[FigureFormat] = FORMATS,
) -> list[Path]:
    """Accuracy after 1 s … 1 year of drift for chosen designs: solid with GDC, dashed without."""
    present = {c for c in designs.columns if str(c).startswith("accuracy_t_")}
    variants = [
        (s, d) for s, d in (("_gdc", "-"), ("", "--")) if present & {f"accuracy_t_{k}{s}" for k in READ_TIMES}
    ]
    if not variants or designs.empty:
        raise ValueError("designs need accuracy_t_<1s|1h|1d|1y>[_gdc] columns and at least one row")
    times = np.array(list(READ_TIMES.values()))
    fig, (ax,) = new_figure(2.4)
    curves: list[tuple[str, str, str, np.ndarray]] = []
    styles = style_for(designs["device"]) if "device" in designs.columns else {}
    for i, (_, row) in enumerate(designs.iterrows()):
        color = styles[row["device"]][0] if styles else OKABE_ITO[i % len(OKABE_ITO)]
        for suffix, dash in variants:
            acc = np.array([row.get(f"accuracy_t_{k}{suffix}", np.nan) for k in READ_TIMES], dtype=float)
            name = f"{label(row)}{' (GDC)' if suffix else ''}"
            curves.append((name, color, dash, acc))
            legend = label(row) if suffix == variants[0][0] else None
            ax.plot(times, acc, dash, marker=MARKERS[i % len(MARKERS)], color=color, label=legend)
            low, high = read_time_interval(row, suffix)
            if np.isfinite(low).any():  # issue 13's intervals, where the study recorded them
                ax.fill_between(times, low, high, color=color, alpha=0.15, linewidth=0)
    for suffix, dash in variants:
        ax.plot([], [], linestyle=dash, color="0.3", label="with GDC" if suffix else "without GDC")
    ax.set_xscale("log")
    ax.set_xticks(times, ["1 s", "1 h", "1 d", "1 y"], minor=False)
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.set(xlabel="Time after programming", ylabel=column_label("accuracy"))
    ax.legend(fontsize=6, ncols=2)

    def html() -> go.Figure:
        f = go.Figure()
        for name, color, dash, acc in curves:
            line = {"color": color, "dash": "solid" if dash == "-" else "dash"}
            f.add_scatter(x=times, y=acc, name=name, mode="lines+markers", line=line)
        f.update_xaxes(type="log", title="Time after programming (s)")
        f.update_yaxes(title=column_label("accuracy"))
        return f

    return save(fig, html, out, formats)


def read_time_interval(row: pd.Series, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the 95 % accuracy interval at each read time: ``accuracy_t_<k><suffix>_ci_low``
    / ``_ci_high`` where recorded, else the headline ``accuracy_ci_low`` / ``_ci_high`` at the design's
    own ``read_time`` (GDC curves only: the headline is read with GDC); NaN where there is none."""
    low = np.full(len(READ_TIMES), np.nan)
    high = np.full(len(READ_TIMES), np.nan)
    for j, key in enumerate(READ_TIMES):
        column = f"accuracy_t_{key}{suffix}"
        low[j] = float(row.get(f"{column}_ci_low", np.nan))
        high[j] = float(row.get(f"{column}_ci_high", np.nan))
        headline = row.get("read_time") == key and (suffix == "_gdc") == bool(row.get("gdc", True))
        if np.isnan(low[j]) and headline:
            low[j] = float(row.get("accuracy_ci_low", np.nan))
            high[j] = float(row.get("accuracy_ci_high", np.nan))
    return low, high


def best_by(df: pd.DataFrame, x: str, by: str, y: str = "accuracy") -> pd.DataFrame:
    """Best (max) ``y`` per (``by``, ``x``), and ``trials``, the number of trials behind it: the accuracy
    each device can reach at a setting of ``x``. Rows where ``x`` is null (a knob the device ignores)
    are left out."""
    valid = df.dropna(subset=[x, y])
    grouped = valid.groupby([by, x], sort=True)[y]
    return grouped.max().reset_index().assign(trials=grouped.size().to_numpy())


@paper_style
def plot_accuracy_vs_hardware(
    df: pd.DataFrame,
    out: Path,
    x_columns: Sequence[str] = ("adc_bits", "tile_size", "tile_rows"),
    by: str = "device",
    y: str = "accuracy",
    formats: Sequence[FigureFormat] = FORMATS,
) -> list[Path]:
    """``y`` against ADC bits and tile size, a line per device (best trial per setting, labelled with
    the number of trials behind it; all trials faint)."""
    xs = [c for c in x_columns if c in df.columns and df[c].notna().any()]
    if "tile_size" in xs and "tile_rows" in xs:  # one tile axis: the knob the space set
        xs.remove("tile_rows")
    if not xs or by not in df.columns or y not in df.columns:
        raise ValueError(
            f"need {by!r}, {y!r} and one of {list(x_columns)}; have {sorted(map(str, df.columns))}"
        )
    styles = style_for(df[by].dropna())
    fig, axes = new_figure(2.2, ncols=len(xs))
    for ax, x in zip(axes, xs, strict=True):
        best = best_by(df, x, by, y)
        for key, group in df.groupby(by, sort=True):
            color, marker = styles[key]
            ax.scatter(group[x], group[y], s=5, color=color, alpha=0.2, linewidths=0)
            line = best[best[by] == key]
            name = display_value(by, key) if ax is axes[0] else None
            ax.plot(line[x], line[y], color=color, marker=marker, label=name)
            for xv, yv, n in zip(line[x], line[y], line["trials"], strict=True):
                ax.annotate(
                    str(n), (xv, yv), xytext=(0, 3), textcoords="offset points", fontsize=5, ha="center"
                )
        values = pd.to_numeric(df[x], errors="coerce").dropna()
        powers = len(values) and (values > 0).all() and bool(np.all(np.log2(values) % 1 == 0))
        if x.startswith("tile") and powers and values.max() >= 4 * values.min():
            ax.set_xscale("log", base=2)  # powers of two: even steps on a log2 axis
        # multiples of 64 (the quickstart's step) stay linear: a log axis would crowd the large ones
        ax.set(xlabel=column_label(x))
    axes[0].set_ylabel(column_label(y))
    fig.legend(loc="outside upper center", ncols=min(len(styles), 4))

    def html() -> go.Figure:
        f = make_subplots(rows=1, cols=len(xs), shared_yaxes=True)
        for j, x in enumerate(xs, start=1):
            best = best_by(df, x, by, y)
            for key in styles:
                line = best[best[by] == key]
                name = display_value(by, key)
                legend = {"name": name, "legendgroup": name, "showlegend": j == 1}
                hover = [f"{n} trials" for n in line["trials"]]
                f.add_scatter(
                    x=line[x], y=line[y], line={"color": styles[key][0]}, row=1, col=j, text=hover, **legend
                )
            f.update_xaxes(title=column_label(x), row=1, col=j)
        f.update_yaxes(title=column_label(y), row=1, col=1)
        return f

    return save(fig, html, out, formats)


BREAKDOWN_PARTS = ("array_pj", "adc_pj", "dac_pj", "shift_add_pj", "buffer_pj")
"""Energy components of a layer, as ``dse cost`` reports them [NS]."""


@paper_style
def plot_cost_breakdown(
    layers: pd.DataFrame, out: Path, title: str = "", formats: Sequence[FigureFormat] = FORMATS
) -> list[Path]:
    """Energy per inference of each layer, stacked by component (array, ADC, DAC, shift-add,
    buffers): NeuroSim's per-layer breakdown [NS] as a figure. ``layers`` holds one row per layer
    with the columns of :data:`BREAKDOWN_PARTS` (``dse cost`` computes them)."""
    missing = [c for c in ("layer", *BREAKDOWN_PARTS) if c not in layers.columns]
    if missing or layers.empty:
        raise ValueError(f"a breakdown needs one row per layer with {missing or list(BREAKDOWN_PARTS)}")
    names = [f"L{int(n)}" for n in layers["layer"]]
    fig, (ax,) = new_figure(2.2)
    bottom = np.zeros(len(layers))
    for part, color in zip(BREAKDOWN_PARTS, OKABE_ITO, strict=False):
        values = layers[part].to_numpy(dtype=float)
        ax.bar(names, values, bottom=bottom, color=color, label=column_label(part), width=0.7)
        bottom += values
    ax.set(xlabel="Layer", ylabel="Energy per inference (pJ)", title=title or None)
    fig.legend(loc="outside upper center", ncols=3)

    def html() -> go.Figure:
        f = go.Figure()
        for part, color in zip(BREAKDOWN_PARTS, OKABE_ITO, strict=False):
            f.add_bar(x=names, y=layers[part], name=column_label(part), marker_color=color)
        f.update_layout(
            barmode="stack", title=title, xaxis_title="Layer", yaxis_title="Energy per inference (pJ)"
        )
        return f

    return save(fig, html, out, formats)
