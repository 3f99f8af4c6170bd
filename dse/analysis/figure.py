"""Figure conventions shared by every plot: single-column width (3.5 in), Times-like 8 pt text, the
colour-blind-safe Okabe–Ito palette with a marker per category, TrueType fonts embedded in PDFs
(publishers reject Type 3), automatic log axes, hover text, and HTML that shares one plotly.js per folder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, ParamSpec

import matplotlib as mpl
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from dse.analysis.display import DEVICE_NAMES, display_value
from dse.analysis.report import column_label
from dse.schema.record import COLUMNS

P = ParamSpec("P")
FigureFormat = Literal["png", "pdf", "html"]
FORMATS: tuple[FigureFormat, ...] = ("png", "pdf", "html")
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")
"""Okabe & Ito (2008) colour-blind-safe palette (yellow late: it is faint on white)."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
WIDTH_IN = 3.5
"""Single-column figure width of IEEE/ACM two-column layouts."""
"""Read times after programming at which accuracy is recorded (``accuracy_t_<key>[_gdc]``)."""
PLOTLY_JS: bool | str = "directory"
"""One ``plotly.min.js`` beside the HTML files of a folder, shared by all (figures open offline
without 4.8 MB each); True embeds it in every file, "cdn" links it."""
SERIF = ["Times New Roman", "Times", "Nimbus Roman", "Nimbus Roman No9 L", "TeX Gyre Termes", "STIXGeneral"]
"""Times-like faces, as the common paper classes (IEEEtran, acmart, LNCS) set their text."""
_RC = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2, "lines.markersize": 4,
    "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 300,
    "pdf.fonttype": 42, "ps.fonttype": 42, "legend.frameon": False,
    "font.family": "serif", "font.serif": SERIF, "mathtext.fontset": "stix",
}  # fmt: skip


def style_for(categories: Iterable[Hashable]) -> dict[Hashable, tuple[str, str]]:
    """(colour, marker) per category, in sorted order. Devices keep one colour in every figure,
    whichever of them a figure shows: their slot is their place among all device presets."""
    ordered = sorted({c for c in categories}, key=str)
    devices = list(DEVICE_NAMES)
    slots = {c: devices.index(str(c)) for c in ordered} if all(str(c) in devices for c in ordered) else None
    index = slots or {c: i for i, c in enumerate(ordered)}
    return {c: (OKABE_ITO[index[c] % len(OKABE_ITO)], MARKERS[index[c] % len(MARKERS)]) for c in ordered}


def paper_style(func: Callable[P, list[Path]]) -> Callable[P, list[Path]]:
    """Run a plot function under the paper rcParams (fonts, line widths, embedded TrueType)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> list[Path]:
        with mpl.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(height_in: float, ncols: int = 1) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def save(fig: Figure, build_html: Callable[[], go.Figure], out: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``out`` with each format's suffix (any suffix ``out`` has is replaced)."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for fmt in formats:
        path = out.with_suffix(f".{fmt}")
        if fmt == "html":
            html = build_html()
            html.update_layout(template="simple_white", font={"size": 13})
            html.write_html(path, include_plotlyjs=PLOTLY_JS, full_html=True)
        else:  # no tight bbox: the page is exactly WIDTH_IN wide, one column
            fig.savefig(path, format=fmt)
        paths.append(path)
    return paths


def log_scale(values: pd.Series, override: bool | None = None) -> bool:
    """Log axis when positive values span more than 10× (energies, sizes), unless ``override`` says."""
    if override is not None:
        return override
    v = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(v) and (v > 0).all() and v.max() / v.min() > 10)


FRONT_MARK = {"edgecolor": "black", "linewidths": 0.5, "zorder": 3}


def hover(group: pd.DataFrame, columns: Sequence[str] = ()) -> list[str] | None:
    """Per point: the trial and its design parameters (``columns``, nulls left out)."""
    if "trial_number" not in group.columns:
        return None
    texts = []
    for _, row in group.iterrows():
        parts = [f"trial {row['trial_number']}"]
        for c in columns:
            if c in row.index and not pd.isna(row[c]):
                value = row[c]
                shown = display_value(c, value) if isinstance(value, str) else f"{value:.4g}"
                parts.append(f"{column_label(c)}: {shown}")
        texts.append("<br>".join(parts))
    return texts


def design_columns(df: pd.DataFrame) -> list[str]:
    """Design parameters that vary over ``df``: what a hover needs to tell two designs apart."""
    names = [c.name for c in COLUMNS.values() if c.group == "design" and c.name in df.columns]
    return [n for n in names if df[n].nunique(dropna=True) > 1]


def groups(df: pd.DataFrame, color_by: str | None) -> list[tuple[Hashable, pd.DataFrame]]:
    if color_by is None or color_by not in df.columns:
        return [("all", df)]
    return list(df.groupby(color_by, sort=True, dropna=False))
