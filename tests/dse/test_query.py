"""DuckDB over Parquet parts and SQL filters on DataFrames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dse.results.query import filter_rows, sql


def frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "trial_number": np.arange(n, dtype=np.int64),
            "status": rng.choice(["complete", "failed"], n, p=[0.8, 0.2]),
            "device": rng.choice(["pcm", "rram", "ecram", "sram"], n),
            "adc_bits": rng.integers(2, 9, n),
            "accuracy": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        }
    )


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A study folder with one part per trial; later parts carry a column the early ones lack."""
    df = frame()
    parts = tmp_path / "quick" / "trials"
    parts.mkdir(parents=True)
    for i in range(len(df)):
        part = df.loc[[i]].reset_index(drop=True)
        if i >= 30:
            part["area_mm2"] = float(i)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), parts / f"{i:05d}.parquet")
    (parts / ".tmp-00099.parquet.part").write_bytes(b"half-written")  # must be ignored
    return tmp_path / "quick", df


def test_sql_matches_pandas_reader(study: tuple[Path, pd.DataFrame]) -> None:
    root, _ = study
    duck = sql(root, "SELECT * FROM trials ORDER BY trial_number")
    files = sorted((root / "trials").glob("*.parquet"))
    ref = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("trial_number")
    assert len(duck) == len(ref) == 50
    assert set(duck.columns) == set(ref.columns)
    for column in ["trial_number", "adc_bits", "accuracy", "area_mm2"]:
        np.testing.assert_allclose(duck[column].astype(float), ref[column].astype(float), equal_nan=True)
    assert duck["device"].tolist() == ref["device"].tolist()
    assert duck["area_mm2"].isna().sum() == 30  # union_by_name: missing column in early parts is NULL


def test_sql_matches_polars(study: tuple[Path, pd.DataFrame]) -> None:
    pl = pytest.importorskip("polars")
    root, df = study
    duck = sql(
        root,
        "SELECT device, count(*) AS n, max(accuracy) AS best FROM trials GROUP BY device ORDER BY device",
    )
    lazy = pl.scan_parquet(
        str(root / "trials" / "*.parquet"), missing_columns="insert", extra_columns="ignore"
    )
    polars = (
        lazy.group_by("device")
        .agg(pl.len().alias("n"), pl.col("accuracy").max().alias("best"))
        .sort("device")
    )
    polars_df = polars.collect().to_pandas()
    assert duck["device"].tolist() == polars_df["device"].tolist()
    assert duck["n"].tolist() == polars_df["n"].tolist()
    np.testing.assert_allclose(duck["best"], polars_df["best"])
    expected = df.groupby("device")["accuracy"].max().sort_index()
    np.testing.assert_allclose(duck["best"], expected.to_numpy())


def test_sql_errors(study: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, _ = study
    with pytest.raises(ValueError, match=r"nope.*Columns of trials: .*adc_bits"):
        sql(root, "SELECT nope FROM trials")
    with pytest.raises(FileNotFoundError, match="no Parquet parts"):
        sql(tmp_path / "empty", "SELECT 1")


def test_filter_rows_matches_pandas() -> None:
    df = frame(200, seed=1).set_index(pd.RangeIndex(1000, 1200))
    got = filter_rows(df, "device in ('pcm','rram') and adc_bits >= 4")
    expected = df[df["device"].isin(["pcm", "rram"]) & (df["adc_bits"] >= 4)]
    pd.testing.assert_frame_equal(got, expected)
    nulls = filter_rows(df, "accuracy IS NULL AND status = 'complete'")
    pd.testing.assert_frame_equal(nulls, df[df["accuracy"].isna() & (df["status"] == "complete")])
    assert filter_rows(df, "  ") is df
    assert filter_rows(df, "adc_bits > 100").empty


@pytest.mark.parametrize("clause", ["adc >= 4", "adc_bits >=", "device in ('pcm'"])
def test_filter_rows_bad_clause_names_columns(clause: str) -> None:
    with pytest.raises(ValueError) as err:
        filter_rows(frame(), clause)
    message = str(err.value)
    assert (
        repr(clause) in message
        and "Available columns: trial_number, status, device, adc_bits, accuracy" in message
    )


def test_filter_rows_cannot_read_files(tmp_path: Path) -> None:
    frame().to_parquet(tmp_path / "x.parquet")
    clause = f"trial_number IN (SELECT trial_number FROM read_parquet('{tmp_path / 'x.parquet'}'))"
    with pytest.raises(ValueError, match="invalid filter"):
        filter_rows(frame(), clause)


def test_sql_reads_no_file_but_the_study_and_writes_none(
    study: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    root, _ = study
    with pytest.raises(ValueError, match=r"query refused: .*/etc/passwd.*--unsafe-sql"):
        sql(root, "SELECT * FROM read_csv('/etc/passwd', sep=':')")
    target = tmp_path / "leak.csv"
    with pytest.raises(ValueError, match="query refused"):
        sql(root, f"COPY (SELECT * FROM trials) TO '{target}'")
    assert not target.exists()
    part = sorted((root / "trials").glob("*.parquet"))[0]
    before = part.read_bytes()
    with pytest.raises(ValueError, match="query refused"):  # not even over the study's own parts
        sql(root, f"COPY (SELECT 42 AS trial_number) TO '{part}' (FORMAT parquet, USE_TMP_FILE false)")
    assert part.read_bytes() == before
    for statement in ("SET enable_external_access = true", "RESET lock_configuration"):
        with pytest.raises(ValueError, match=r"query refused: .*configuration has been locked"):
            sql(root, statement)
    with pytest.raises(ValueError, match="query refused"):
        sql(root, f"ATTACH '{tmp_path / 'other.duckdb'}'")
    assert not (tmp_path / "other.duckdb").exists()
    assert sql(root, "SELECT count(*) AS n FROM trials")["n"].tolist() == [50]


def test_unsafe_sql_is_full_duckdb(study: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, df = study
    passwd = sql(root, "SELECT * FROM read_csv('/etc/passwd', sep=':', header=false)", unsafe=True)
    assert len(passwd) == len(Path("/etc/passwd").read_text().splitlines())
    target = tmp_path / "copy.csv"
    sql(root, f"COPY (SELECT trial_number FROM trials ORDER BY 1) TO '{target}' (HEADER)", unsafe=True)
    assert pd.read_csv(target)["trial_number"].tolist() == df["trial_number"].tolist()
