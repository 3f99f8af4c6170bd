"""SQL over results: DuckDB straight on a study's Parquet parts, and SQL ``WHERE`` filters on DataFrames.

DuckDB reads the part folder as it is (``union_by_name=true``, so columns added by later schema versions
appear as NULL in older parts). Filters go through DuckDB too, so ``--where`` speaks the same SQL as
``dse sql`` instead of a second, pandas-flavoured expression language.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

PARTS_GLOB = "trials/*.parquet"
"""Part files below a study folder. Temp files end in something else, so a half-written part never matches."""

_ROW = "__dse_row__"


def _literal(text: str) -> str:
    """SQL string literal (DuckDB table functions take no bind parameters inside a view definition)."""
    return "'" + text.replace("'", "''") + "'"


def parts_glob(results_dir: str | Path) -> str:
    """Glob of the Parquet parts of a study folder ``results/<study>``; also accepts the ``trials`` folder."""
    root = Path(results_dir)
    folder = root / "trials" if (root / "trials").is_dir() else root
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise FileNotFoundError(f"no Parquet parts under {folder} (expected {root / PARTS_GLOB})")
    return (folder / "*.parquet").as_posix()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0].rstrip(".!") if text else type(err).__name__


def sql(results_dir: str | Path, query: str) -> pd.DataFrame:
    """Run ``query`` against a view ``trials`` over all Parquet parts of a study; result as pandas.

    Example: ``sql("results/quickstart", "SELECT device, max(accuracy) FROM trials GROUP BY device")``.

    Raises:
        FileNotFoundError: if the folder holds no parts.
        ValueError: if DuckDB rejects the query; the message lists the columns of ``trials``.
    """
    source = f"read_parquet({_literal(parts_glob(results_dir))}, union_by_name=true)"
    with duckdb.connect(":memory:") as con:
        con.execute(f"CREATE VIEW trials AS SELECT * FROM {source}")
        try:
            relation = con.sql(query)
            return relation.df() if relation is not None else pd.DataFrame()
        except duckdb.Error as err:
            columns = [row[0] for row in con.execute("DESCRIBE trials").fetchall()]
            raise ValueError(
                f"query failed: {_first_line(err)}. Columns of trials: {', '.join(columns)}"
            ) from err


def filter_rows(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Rows of ``df`` for which the SQL boolean expression ``where`` holds, e.g.
    ``"device in ('pcm','rram') and adc_bits >= 4"``.

    The rows come back unchanged (same index, dtypes and order): DuckDB only decides which rows pass.
    File access is disabled while the clause runs, so a filter can read nothing but ``df``.

    Raises:
        ValueError: if the clause does not parse or names an unknown column; the message lists the columns.
    """
    if not where.strip():
        return df
    frame = pd.DataFrame({str(c): df[c].to_numpy() for c in df.columns})
    frame[_ROW] = range(len(frame))
    with duckdb.connect(":memory:") as con:
        con.register("trials", frame)
        con.execute("SET enable_external_access = false")
        try:
            rows = con.execute(f"SELECT {_ROW} FROM trials WHERE ({where}) ORDER BY {_ROW}").fetchnumpy()[
                _ROW
            ]
        except duckdb.Error as err:
            available = ", ".join(str(c) for c in df.columns)
            raise ValueError(
                f"invalid filter {where!r}: {_first_line(err)}. Available columns: {available}"
            ) from err
    return df.iloc[rows]
