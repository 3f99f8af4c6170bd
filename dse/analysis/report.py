"""Tables of trial results for papers (LaTeX/booktabs), data exchange (CSV), notes (Markdown) and terminals.

Tables render what :mod:`dse.analysis.pareto` computed (a front, knee points, ...); nothing here decides
which rows matter. Every export carries a :class:`Provenance` stamp so a table in a
paper can be traced to its study.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from dse.schema.record import Direction, label

TableFormat = Literal["csv", "markdown", "latex"]

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


@dataclass(frozen=True)
class Provenance:
    """Where a table came from; stamped into every export."""

    study: str
    """Study name (``results/<study>/``)."""
    trials: int
    """Number of trials the table was computed from."""
    sampler: str
    """Optuna sampler that proposed the designs, e.g. ``TPESampler``."""
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


NOT_APPLICABLE = "n/a"
"""How tables meant for reading show a null: a knob the design ignores, a metric it has not."""


def format_number(value: object, precision: int = 3, na: str = "") -> str:
    """Fixed ``precision`` decimals; integers as integers; tiny non-zero values in ``precision`` significant
    digits instead of rounding to 0; NaN/None as ``na``."""
    if value is None or value is pd.NA:
        return na
    if isinstance(value, bool | np.bool_ | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return na
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number != 0 and abs(number) < 0.5 * 10.0**-precision:
        return f"{number:.{precision}g}"
    return f"{number:.{precision}f}"


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _integral(series: pd.Series) -> bool:
    """Integer dtype, or floats that are all whole numbers (ints that became float through a NaN)."""
    if pd.api.types.is_integer_dtype(series):
        return True
    if not pd.api.types.is_float_dtype(series):
        return False
    finite = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    return (
        len(finite) > 0 and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))
    )


def _cell_formatter(series: pd.Series, precision: int, na: str = "") -> object:
    if _integral(series):
        return lambda v: format_number(v if isinstance(v, str) or pd.isna(v) else int(v), precision, na)
    return lambda v: format_number(v, precision, na)


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


def _select(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in results; available: {sorted(map(str, df.columns))}")
    return df.loc[:, list(columns)]


def _formatted(df: pd.DataFrame, precision: int, na: str = NOT_APPLICABLE) -> pd.DataFrame:
    """Every cell as display text; the single formatting rule shared by CSV (``na=""``), Markdown
    and rich (nulls as "n/a")."""
    out = {}
    for column in df.columns:
        fmt = _cell_formatter(df[column], precision, na)
        numeric = _is_numeric(df[column])
        out[column] = [fmt(v) if numeric else (na if pd.isna(v) else str(v)) for v in df[column]]
    return pd.DataFrame(out, index=df.index, columns=df.columns)


def _render_csv(df: pd.DataFrame, provenance: Provenance, precision: int) -> str:
    """Raw column names (so tools can read it back); ``# `` comment line first (pandas: ``comment='#'``)."""
    body = _formatted(df, precision, na="").to_csv(index=False, lineterminator="\n")
    return f"# {provenance.summary()}\n{body}"


def _render_markdown(df: pd.DataFrame, provenance: Provenance, precision: int, mask: pd.DataFrame) -> str:
    """GitHub-flavoured pipe table; provenance in an HTML comment (a leading ``#`` would be a heading)."""
    cells = _formatted(df, precision)
    cells = cells.mask(mask & cells.ne(""), "**" + cells + "**")
    header = [column_label(c) for c in df.columns]
    align = ["---:" if _is_numeric(df[c]) else ":---" for c in df.columns]
    rows = [header, align, *cells.to_numpy().tolist()]
    lines = ["| " + " | ".join(str(v).replace("|", r"\|") for v in row) + " |" for row in rows]
    comment = provenance.summary().replace("--", "- -")
    return f"<!-- {comment} -->\n" + "\n".join(lines) + "\n"


def _render_latex(
    df: pd.DataFrame, provenance: Provenance, precision: int, mask: pd.DataFrame, caption: str | None
) -> str:
    """booktabs table via pandas Styler: escaped headers and cells, bold best values, caption + % comment."""
    numeric = {c: _is_numeric(df[c]) for c in df.columns}
    shown = df.rename(columns=column_label)
    if shown.columns.has_duplicates:
        shown.columns = list(df.columns)
    styler = shown.style.hide(axis="index")
    styler = styler.format(
        {
            shown.columns[i]: _cell_formatter(df[c], precision, NOT_APPLICABLE)
            for i, c in enumerate(df.columns)
            if numeric[c]
        },
        escape="latex",
        na_rep="--",
    ).format_index(escape="latex", axis=1)
    props = np.where(mask.to_numpy(), "textbf: --rwrap;", "")
    styler = styler.apply(lambda d: pd.DataFrame(props, index=d.index, columns=d.columns), axis=None)
    if caption is None:
        caption = (
            f"Study {provenance.study}: {provenance.trials} trials, sampler {provenance.sampler}, "
            f"objectives {', '.join(provenance.objectives)}."
        )
    label = "tab:" + re.sub(r"[^A-Za-z0-9:_-]+", "-", provenance.study)
    latex = styler.to_latex(
        hrules=True,
        caption=latex_escape(caption),
        label=label,
        position_float="centering",
        column_format="".join("r" if numeric[c] else "l" for c in df.columns),
        environment="table",
    )
    return f"% {provenance.summary()}\n{latex}"


def render_table(
    df: pd.DataFrame,
    columns: Sequence[str],
    fmt: TableFormat,
    provenance: Provenance,
    precision: int = 3,
    best: Mapping[str, Direction] | None = None,
    caption: str | None = None,
) -> str:
    """Render ``columns`` of ``df`` as CSV, Markdown or LaTeX (booktabs), stamped with ``provenance``.

    Args:
        precision: decimals for floats (integers are printed whole).
        best: column → direction whose best value is set in bold (Markdown, LaTeX; CSV stays plain data).
        caption: LaTeX caption; defaults to a sentence built from ``provenance``.
    """
    table = _select(df, columns)
    mask = best_mask(table, best)
    if fmt == "csv":
        return _render_csv(table, provenance, precision)
    if fmt == "markdown":
        return _render_markdown(table, provenance, precision, mask)
    if fmt == "latex":
        return _render_latex(table, provenance, precision, mask, caption)
    raise ValueError(f"unknown table format {fmt!r}; choose csv, markdown or latex")


def rich_table(
    df: pd.DataFrame,
    columns: Sequence[str],
    title: str,
    precision: int = 3,
    best: Mapping[str, Direction] | None = None,
) -> Table:
    """A ``rich`` table for the terminal: labelled headers, numbers right-aligned, best values bold."""
    table_df = _select(df, columns)
    cells, mask = _formatted(table_df, precision), best_mask(table_df, best)
    table = Table(title=title)
    for column in table_df.columns:
        table.add_column(column_label(column), justify="right" if _is_numeric(table_df[column]) else "left")
    for (_, row), (_, bold) in zip(cells.iterrows(), mask.iterrows(), strict=True):
        table.add_row(*(Text(v, style="bold" if b else "") for v, b in zip(row, bold, strict=True)))
    return table
