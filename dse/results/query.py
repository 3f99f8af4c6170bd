"""SQL over results: DuckDB on a study's Parquet parts, and SQL ``WHERE`` filters on DataFrames.

:func:`sql` gives DuckDB the study's rows as ``trials``: a lazy pyarrow dataset over the parts, their
schemas unified by column name (columns added by later schema versions appear as NULL in older
parts), damaged parts left out with a :class:`~dse.results.store.DamagedPartWarning`. Then, unless
``unsafe``, it turns DuckDB's external access off and locks the configuration: the query reads
nothing but ``trials`` and writes no file. Once access is off, DuckDB refuses a view over
``read_parquet`` too; ``allowed_paths`` would keep such a view working but also lets ``COPY … TO``
overwrite the very parts it allows, and copying every row into a DuckDB table first decodes every
column (2× slower on 1,000 one-row parts). A registered Arrow dataset is scanned by pyarrow, with
DuckDB's column and filter pushdown. Filters go through DuckDB too, so ``--where`` speaks the same
SQL as ``dse query`` instead of a second, pandas-flavoured expression language.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dse.results.store import DAMAGE_ERRORS, damage_reason, warn_damaged
from dse.schema.record import arrow_schema as schema

PARTS_GLOB = "trials/*.parquet"
"""Part files below a study folder. Temp files end in something else, so a half-written part never matches."""

SAFE_SETTINGS = ("SET enable_external_access = false", "SET lock_configuration = true")
"""No file, network or extension access, and no way to switch it back on (in this order)."""

_ROW = "__dse_row__"


def part_files(results_dir: str | Path) -> list[Path]:
    """The Parquet parts of a study folder ``results/<study>`` (also accepts the ``trials`` folder).

    Raises:
        FileNotFoundError: if the folder holds no parts.
    """
    root = Path(results_dir)
    folder = root / "trials" if (root / "trials").is_dir() else root
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no Parquet parts under {folder} (expected {root / PARTS_GLOB})")
    return files


def parts_glob(results_dir: str | Path) -> str:
    """Glob of the Parquet parts of a study folder, for DuckDB or polars users outside :func:`sql`."""
    return (part_files(results_dir)[0].parent / "*.parquet").as_posix()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0].rstrip(".!") if text else type(err).__name__


def trials_dataset(files: Sequence[Path]) -> ds.Dataset:
    """A lazy pyarrow dataset over the readable parts, with their schemas unified by column name.

    A part whose footer cannot be read is left out, with one warning naming every such part.

    Raises:
        ValueError: if the readable parts' schemas conflict (a column with incompatible types).
    """
    schemas, good, damaged = [], [], {}
    for f in files:
        try:
            schemas.append(pq.read_schema(f))
            good.append(f)
        except DAMAGE_ERRORS as err:
            damaged[f] = damage_reason(err)
    warn_damaged(damaged)
    if not good:  # no readable row: no rows, with the current schema's columns
        return ds.dataset(schema().empty_table())
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except pa.ArrowException as err:
        raise ValueError(
            f"cannot read the parts under {good[0].parent} together: {_first_line(err)}"
        ) from err
    return ds.dataset([f.as_posix() for f in good], schema=unified, format="parquet")


def sql(results_dir: str | Path, query: str, unsafe: bool = False) -> pd.DataFrame:
    """Run ``query`` against the table ``trials`` (every row of a study); result as pandas.

    Example: ``sql("results/quickstart", "SELECT device, max(accuracy) FROM trials GROUP BY device")``.

    Args:
        unsafe: leave DuckDB's file, network and extension access on (``read_csv``, ``COPY … TO``,
            ``ATTACH``); by default the query can read only ``trials`` and write nothing.

    Raises:
        FileNotFoundError: if the folder holds no parts.
        ValueError: if DuckDB rejects the query; the message lists the columns of ``trials``, or
            says that file access is off.
    """
    dataset = trials_dataset(part_files(results_dir))
    with duckdb.connect(":memory:") as con:
        con.register("trials", dataset)
        if not unsafe:
            for setting in SAFE_SETTINGS:
                con.execute(setting)
        try:
            relation = con.sql(query)
            return relation.df() if relation is not None else pd.DataFrame()
        except duckdb.Error as err:
            if not unsafe and _refused(err):
                raise ValueError(
                    f"query refused: {_first_line(err)}. dse query reads only the study's rows (the table "
                    "trials) and writes no file; pass --unsafe-sql (sql(..., unsafe=True)) for full DuckDB"
                ) from err
            columns = [row[0] for row in con.execute("DESCRIBE trials").fetchall()]
            raise ValueError(
                f"query failed: {_first_line(err)}. Columns of trials: {', '.join(columns)}"
            ) from err


def _refused(err: duckdb.Error) -> bool:
    """Whether DuckDB refused the query for the safe settings (file access off, configuration locked)."""
    return isinstance(err, duckdb.PermissionException) or "configuration has been locked" in str(err)


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
        for setting in SAFE_SETTINGS:
            con.execute(setting)
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
