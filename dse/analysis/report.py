"""Tables of trial results for papers (LaTeX/booktabs), data exchange (CSV), notes (Markdown) and terminals.

Tables render what :mod:`dse.analysis.pareto` computed (a front, knee points, ...); nothing here decides
which rows matter. Tables for reading (terminal, Markdown, LaTeX) show display names, prefixed units
and significant figures, and move columns that are constant over the shown rows into a caption line.
CSV is for machines: raw names, every value at full precision, provenance in a sidecar JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich import box
from rich.table import Table
from rich.text import Text

from dse.analysis.display import display_value, format_sig, header_lines, integral, scaled_label, unit_scale
from dse.schema.record import COLUMNS, Direction, label, unit_of

TableFormat = Literal["csv", "markdown", "latex"]
Width = Literal["column", "page"]
WIDTH_PT: dict[str, float] = {"column": 229.0, "page": 469.0}
"""Text width a LaTeX table must fit: the column and page of ``article``'s two-column letter layout,
the narrowest of the common paper classes (IEEEtran's column is 252 pt, acmart's 241 pt)."""
NOT_APPLICABLE = "n/a"
"""How tables meant for reading show a null: a knob the design ignores, a metric it has not."""
SAMPLER_NAMES = {"tpe": "TPE", "nsga2": "NSGA-II", "random": "random search", "gp": "GP", "grid": "grid"}

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip
_CHAR_PT, _BOLD_PT, _SEP_PT = 4.3, 0.5, 3.0
"""Average glyph width of \\footnotesize Computer Modern (8 pt), extra for bold, and \\tabcolsep."""


@dataclass(frozen=True)
class Provenance:
    """Where a table came from; stamped into every export."""

    study: str
    """Study name (``results/<study>/``)."""
    trials: int
    """Number of trials the table was computed from."""
    sampler: str
    """Optuna sampler that proposed the designs, e.g. ``tpe``."""
    objectives: tuple[str, ...]
    """Objectives as ``name:direction`` strings."""
    generated: str
    """When the table was generated (ISO 8601, see :func:`utc_now`)."""

    def summary(self) -> str:
        """One line: ``study=...; trials=...; sampler=...; objectives=...; generated=...``."""
        text = (
            f"study={self.study}; trials={self.trials}; sampler={self.sampler}; "
            f"objectives={', '.join(self.objectives)}; generated={self.generated}"
        )
        return " ".join(text.split())  # no newlines can escape the comment


def utc_now() -> str:
    """Current UTC time as ISO 8601 with seconds, for :attr:`Provenance.generated`."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def column_label(name: str) -> str:
    """Header for a column, with its unit (:func:`dse.schema.record.label`)."""
    return label(name)


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in plain text (captions, labels)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def format_number(value: object, digits: int = 3, na: str = "") -> str:
    """A cell for reading: integers whole, floats to ``digits`` significant figures, null as ``na``."""
    if value is None or value is pd.NA:
        return na
    if isinstance(value, bool | np.bool_ | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)  # type: ignore[arg-type]
    return na if math.isnan(number) else format_sig(number, digits)


def caption(prov: Provenance, what: str = "Pareto-optimal designs") -> str:
    """A caption for people: "Pareto-optimal designs of quickstart: accuracy vs. energy per inference;
    40 trials, TPE." (display names, no units, the sampler by its usual name)."""
    names = []
    for spec in prov.objectives:
        name = spec.rpartition(":")[0] or spec
        text = re.sub(r"\s*\([^)]*\)$", "", label(name)).replace("/", " per ")
        names.append(text[:1].lower() + text[1:] if not text[:2].isupper() else text)
    key = prov.sampler.lower().removesuffix("sampler").replace("nsgaii", "nsga2")
    sampler = SAMPLER_NAMES.get(key, prov.sampler)
    return f"{what} of {prov.study}: {' vs. '.join(names)}; {prov.trials} trials, {sampler}."


def best_mask(df: pd.DataFrame, best: Mapping[str, Direction] | None) -> pd.DataFrame:
    """True where a cell holds its column's best value (per ``best`` direction; ties all True)."""
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    for column, direction in (best or {}).items():
        if column not in df.columns or not _is_numeric(df[column]):
            continue
        values = pd.to_numeric(df[column], errors="coerce").astype("float64")
        target = values.max() if Direction(direction) is Direction.MAXIMIZE else values.min()
        if not math.isnan(target):
            mask[column] = (values == target).to_numpy()
    return mask


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _select(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in results; available: {sorted(map(str, df.columns))}")
    return df.loc[:, list(columns)]


@dataclass(frozen=True)
class TableView:
    """A table as people read it: headers with prefixed units, cells as text, constants set apart."""

    columns: tuple[str, ...]
    """Raw names of the columns shown."""
    headers: tuple[str, ...]
    """Display name with the unit each column is shown in."""
    numeric: tuple[bool, ...]
    cells: tuple[tuple[str, ...], ...]
    """Rows of display text."""
    bold: tuple[tuple[bool, ...], ...]
    """Where a cell holds its column's best value."""
    constants: tuple[tuple[str, str], ...] = field(default=())
    """(header, value) of columns equal over every shown row, said once in a caption line."""

    def constants_line(self) -> str:
        """ "Same for every row: ADC bits 8, Device PCM." ('' when there are none)."""
        if not self.constants:
            return ""
        return "Same for every row: " + ", ".join(f"{h} {v}" for h, v in self.constants) + "."


def _cells(series: pd.Series, digits: int) -> tuple[list[str], str]:
    """The column's cells as text and the unit it is shown in."""
    name = str(series.name)
    if not _is_numeric(series):
        return [NOT_APPLICABLE if pd.isna(v) else display_value(name, v) for v in series], unit_of(name)
    factor, unit = unit_scale(name, series)
    if integral(series) and factor == 1.0:  # bits, counts, trial numbers: whole, never rounded
        return [NOT_APPLICABLE if pd.isna(v) else str(int(v)) for v in series], unit
    return [
        format_number(v if pd.isna(v) else float(v) / factor, digits, NOT_APPLICABLE) for v in series
    ], unit


def table_view(
    df: pd.DataFrame,
    columns: Sequence[str],
    digits: int = 3,
    best: Mapping[str, Direction] | None = None,
    keep: Sequence[str] = (),
) -> TableView:
    """Format ``columns`` of ``df`` for reading. With two rows or more, a column that is equal in every
    row (and not in ``keep``, e.g. the objectives) moves to :attr:`TableView.constants`."""
    table = _select(df, columns)
    mask = best_mask(table, best)
    shown, headers, numeric, cells, bold, constants = [], [], [], [], [], []
    for column in table.columns:
        texts, unit = _cells(table[column], digits)
        header = scaled_label(str(column), unit)
        if len(table) >= 2 and column not in keep and len(set(texts)) == 1:
            constants.append((header, texts[0]))
            continue
        shown.append(str(column))
        headers.append(header)
        numeric.append(_is_numeric(table[column]))
        cells.append(texts)
        bold.append(mask[column].tolist())
    rows = tuple(zip(*cells, strict=True)) if cells else tuple(() for _ in range(len(table)))
    bolds = tuple(zip(*bold, strict=True)) if bold else tuple(() for _ in range(len(table)))
    return TableView(tuple(shown), tuple(headers), tuple(numeric), rows, bolds, tuple(constants))


# ------------------------------------------------------------------ CSV and its sidecar


def render_csv(df: pd.DataFrame, columns: Sequence[str]) -> str:
    """Raw column names and every value as stored (floats at full, round-trip precision); nulls empty."""
    table = _select(df, columns).copy()
    for column in table.columns:  # an int column with a null reads back as float; write it as int
        schema = COLUMNS.get(str(column))
        if (
            schema is not None
            and schema.dtype in ("int", "int32")
            and pd.api.types.is_float_dtype(table[column])
        ) and (integral(table[column]) or table[column].isna().all()):
            table[column] = table[column].astype("Int64")
    return table.to_csv(index=False, lineterminator="\n")


def sidecar(df: pd.DataFrame, columns: Sequence[str], provenance: Provenance, notes: str = "") -> str:
    """The JSON that travels beside a CSV: provenance, notes, and each column's type, unit and label."""
    described = {}
    for column in columns:
        schema = COLUMNS.get(column)
        described[column] = {
            "dtype": schema.dtype if schema else str(df[column].dtype),
            "unit": unit_of(column),
            "label": label(column),
        }
    data: dict[str, Any] = {**asdict(provenance), "notes": notes, "rows": len(df), "columns": described}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ Markdown


def _render_markdown(view: TableView, provenance: Provenance) -> str:
    """GitHub-flavoured pipe table; provenance in an HTML comment; the constants line below it."""
    esc = [[c.replace("|", r"\|") for c in row] for row in view.cells]
    rows = [[f"**{c}**" if b and c != NOT_APPLICABLE else c for c, b in zip(r, bs, strict=True)]
            for r, bs in zip(esc, view.bold, strict=True)]  # fmt: skip
    align = ["---:" if n else ":---" for n in view.numeric]
    lines = ["| " + " | ".join(row) + " |" for row in [list(view.headers), align, *rows]]
    comment = provenance.summary().replace("--", "- -")
    tail = f"\n{view.constants_line()}\n" if view.constants else ""
    return f"<!-- {comment} -->\n" + "\n".join(lines) + "\n" + tail


# ------------------------------------------------------------------ LaTeX


def _stack(lines: Sequence[str], align: str) -> str:
    if len(lines) == 1:
        return lines[0]
    return rf"\begin{{tabular}}[b]{{@{{}}{align}@{{}}}}" + r"\\".join(lines) + r"\end{tabular}"


def latex_width_pt(view: TableView, font_pt: float = 8.0) -> float:
    """Estimated natural width of the tabular at ``font_pt`` (8: \\footnotesize) with 3 pt column
    separation; within a few percent of pdflatex's for tables of digits and short words."""
    total = 0.0
    for j, header in enumerate(view.headers):
        cells = [row[j] for row in view.cells]
        lines = header_lines(header, cells)
        bold = [b[j] for b in view.bold]
        widest = max(
            [len(x) for x in lines]
            + [len(c) + (_BOLD_PT * len(c) / _CHAR_PT if b else 0) for c, b in zip(cells, bold, strict=True)]
        )
        total += widest * _CHAR_PT * font_pt / 8.0 + 2 * _SEP_PT
    return total


def _render_latex(view: TableView, provenance: Provenance, title: str, label_text: str, width: Width) -> str:
    """booktabs in ``table`` (one column) or ``table*`` (both), \\footnotesize, headers stacked on
    their words; shrunk to the text width only if it still would not fit."""
    env = "table" if width == "column" else "table*"
    head = []
    for j, header in enumerate(view.headers):
        lines = [latex_escape(x) for x in header_lines(header, [row[j] for row in view.cells])]
        head.append(_stack(lines, "r" if view.numeric[j] else "l"))
    body = []
    for row, bold in zip(view.cells, view.bold, strict=True):
        cells = [rf"\textbf{{{latex_escape(c)}}}" if b and c != NOT_APPLICABLE else latex_escape(c)
                 for c, b in zip(row, bold, strict=True)]  # fmt: skip
        body.append(" & ".join(cells) + r" \\")
    spec = "".join("r" if n else "l" for n in view.numeric)
    text = " ".join(filter(None, [title, view.constants_line()]))
    room = WIDTH_PT[width] * 0.97  # a margin for the estimate
    size = r"\footnotesize" if latex_width_pt(view) <= room else r"\scriptsize"  # 8 pt, else 7 pt
    too_wide = latex_width_pt(view, 7.0) > room
    out = [
        f"% {provenance.summary()}",
        "% needs \\usepackage{booktabs}" + (", graphicx" if too_wide else ""),
        *(
            ["% shrunk to the text width: fewer --columns or --width page keep the font size"]
            if too_wide
            else []
        ),
        rf"\begin{{{env}}}[tbp]",
        r"\centering",
        size,
        r"\setlength{\tabcolsep}{3pt}",
        rf"\caption{{{latex_escape(text)}}}",
        rf"\label{{{label_text}}}",
        *([r"\resizebox{\linewidth}{!}{%"] if too_wide else []),
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}" + ("}" if too_wide else ""),
        rf"\end{{{env}}}",
    ]
    return "\n".join(out) + "\n"


def latex_label(name: str) -> str:
    """``tab:<name>`` with only characters LaTeX labels take safely."""
    return "tab:" + (re.sub(r"[^A-Za-z0-9:_-]+", "-", name).strip("-") or "table")


def render_table(
    df: pd.DataFrame,
    columns: Sequence[str],
    fmt: TableFormat,
    provenance: Provenance,
    precision: int = 3,
    best: Mapping[str, Direction] | None = None,
    caption_text: str | None = None,
    *,
    label_name: str | None = None,
    width: Width = "column",
    keep: Sequence[str] = (),
) -> str:
    """Render ``columns`` of ``df`` as CSV (lossless), Markdown or LaTeX (booktabs).

    Args:
        precision: significant figures of floats in Markdown and LaTeX (CSV keeps every digit).
        best: column → direction whose best value is set in bold (Markdown, LaTeX).
        caption_text: LaTeX caption; defaults to :func:`caption` of ``provenance``.
        label_name: LaTeX label name (the output file's stem), else the study's name.
        width: LaTeX ``column`` (``table``) or ``page`` (``table*``).
        keep: columns shown even when constant (Markdown, LaTeX).
    """
    if fmt == "csv":
        return render_csv(df, columns)
    if fmt not in ("markdown", "latex"):
        raise ValueError(f"unknown table format {fmt!r}; choose csv, markdown or latex")
    view = table_view(df, columns, precision, best, keep)
    if fmt == "markdown":
        return _render_markdown(view, provenance)
    title = caption_text if caption_text is not None else caption(provenance)
    return _render_latex(view, provenance, title, latex_label(label_name or provenance.study), width)


def rich_table(
    df: pd.DataFrame,
    columns: Sequence[str],
    title: str,
    precision: int = 3,
    best: Mapping[str, Direction] | None = None,
    keep: Sequence[str] = (),
) -> Table:
    """A ``rich`` table for the terminal: wrapped headers, cells never cut, best values bold, and
    the columns equal in every row in a caption line."""
    view = table_view(df, columns, precision, best, keep)
    table = Table(
        title=title,
        caption=view.constants_line() or None,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        caption_justify="left",
    )
    for j, header in enumerate(view.headers):
        cells = [row[j] for row in view.cells]
        widest = max([len(c) for c in cells] + [len(x) for x in header_lines(header, cells)])
        table.add_column(
            "\n".join(header_lines(header, cells)),
            justify="right" if view.numeric[j] else "left",
            min_width=widest,
            no_wrap=True,
        )
    for row, bold in zip(view.cells, view.bold, strict=True):
        table.add_row(*(Text(c, style="bold" if b else "") for c, b in zip(row, bold, strict=True)))
    return table
