"""The Parquet store: atomic parts, explicit schema, readable by pandas, pyarrow and DuckDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import SCHEMA_VERSION, TrialRecord
from dse.schema.record import arrow_schema as schema


def record(n: int, status: str = "complete", **metrics: float) -> TrialRecord:
    now = datetime.now(UTC)
    return TrialRecord(
        study="s",
        trial_number=n,
        status=status,
        point=DesignPoint.of(device="rram", adc_bits=4),
        metrics={"accuracy": 0.5 + n / 100, "energy_per_inference_pj": 10.0 * n, **metrics},
        error=None if status == "complete" else "ValueError: boom",
        datetime_start=now,
        datetime_complete=now,
        wall_seconds=1.0,
    )


def test_round_trip_keeps_values_types_and_failed_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append([record(0), record(1, "failed"), record(2)])
    df = store.read()
    assert list(df["trial_number"]) == [0, 1, 2]
    assert list(df["status"]) == ["complete", "failed", "complete"]
    assert df.loc[1, "error"] == "ValueError: boom"
    assert df.loc[2, "accuracy"] == pytest.approx(0.52)
    assert set(df["schema_version"]) == {SCHEMA_VERSION}
    assert (
        df.loc[0, "device"] == "rram"
        and df.loc[0, "tile_rows"] == 256
        and df.loc[0, "hidden"] == "[128, 128]"
    )
    assert list(df.columns) == schema().names


def test_parts_are_whole_files_and_temp_names_never_match_parquet_globs(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / ".tmp-deadbeef.partial").write_bytes(b"half a file")  # a writer killed mid-write
    path = store.append([record(0)])
    assert path is not None and path.suffix == ".parquet" and pq.read_table(path).num_rows == 1
    assert len(store.read()) == 1
    glob = str(tmp_path / "trials" / "*.parquet")
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name=true)").fetchall() == [(1,)]


def test_pandas_pyarrow_and_duckdb_read_the_same_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append([record(n) for n in range(5)])
    by_pandas = store.read()
    by_arrow = ds.dataset(str(tmp_path / "trials"), format="parquet", schema=schema()).to_table().to_pandas()
    glob = str(tmp_path / "trials" / "*.parquet")
    by_duck = duckdb.sql(
        f"SELECT * FROM read_parquet('{glob}', union_by_name=true) ORDER BY trial_number"
    ).df()
    for other in (by_arrow.sort_values("trial_number").reset_index(drop=True), by_duck):
        assert list(other["trial_number"]) == list(by_pandas["trial_number"])
        assert list(other["accuracy"]) == pytest.approx(list(by_pandas["accuracy"]))


def test_older_parts_without_new_columns_still_read(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.parts.mkdir(parents=True)
    old = pa.table(
        {
            "schema_version": pa.array([0], pa.int32()),
            "study": ["s"],
            "trial_number": [7],
            "status": ["complete"],
            "accuracy": [0.9],
        }
    )
    pq.write_table(old, store.parts / "trial-0000007-a0-old.parquet")
    store.append([record(8)])
    df = store.read()
    assert list(df["trial_number"]) == [7, 8]
    assert df.loc[0, "accuracy"] == pytest.approx(0.9)
    assert df["energy_per_inference_pj"].isna().tolist() == [True, False]


def test_unknown_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="outside the schema"):
        ResultStore(tmp_path).append([record(0, bogus_metric=1.0)])


def test_compact_merges_parts_and_every_reader_sees_the_same_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for n in range(7):
        store.append([record(n)])
    before = store.read()
    assert store.compact(max_rows=4) == (7, 2)
    after = store.read()
    assert after.drop(columns=[]).equals(before)
    glob = str(tmp_path / "trials" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT trial_number FROM read_parquet('{glob}', union_by_name=true) ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(7))


def test_one_append_is_one_part_and_a_group_reads_like_single_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    single = store.append([record(0)])
    group = store.append([record(2), record(1, "failed"), record(3)])
    assert single is not None and group is not None and len(store.files()) == 2
    assert pq.read_table(single).num_rows == 1 and pq.read_table(group).num_rows == 3
    assert group.name.startswith("trials-0000001-0000003-")
    df = store.read()
    assert list(df["trial_number"]) == [0, 1, 2, 3] and df.loc[1, "status"] == "failed"
    assert store.append([]) is None and len(store.files()) == 2


def test_interrupted_compaction_is_rolled_forward_and_never_loses_or_duplicates(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    paths = [store.append([record(n)]) for n in range(4)]
    # A compaction killed after its note, with one merged part moved into place and one still staged:
    first = pa.concat_tables([pq.read_table(p) for p in paths[:2]])
    second = pa.concat_tables([pq.read_table(p) for p in paths[2:]])
    pq.write_table(first, store.parts / "compact-a.parquet")
    pq.write_table(second, store.parts / ".tmp-b.partial")
    note = {"staged": [[".tmp-a.partial", "compact-a.parquet"], [".tmp-b.partial", "compact-b.parquet"]]}
    note["replaces"] = [p.name for p in paths]
    (store.parts / "compact.pending").write_text(json.dumps(note))
    df = store.read()
    assert list(df["trial_number"]) == [0, 1, 2, 3]
    assert [p.name for p in store.files()] == ["compact-a.parquet", "compact-b.parquet"]
    assert not (store.parts / "compact.pending").exists()


def test_rows_on_disk_counts_every_part_row(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert store.rows_on_disk() == 0
    store.append([record(0)])
    store.append([record(1), record(2)])
    assert store.rows_on_disk() == 3 == len(store.read())


def test_an_older_pending_note_without_staged_parts_is_still_finished(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    paths = [store.append([record(n)]) for n in range(2)]
    merged = pa.concat_tables([pq.read_table(p) for p in paths])
    pq.write_table(merged, store.parts / "compact-old.parquet")
    (store.parts / "compact.pending").write_text(json.dumps([p.name for p in paths]))
    assert list(store.read()["trial_number"]) == [0, 1]
    assert [p.name for p in store.files()] == ["compact-old.parquet"]
