"""Damaged parts, the compaction note and leftover temp files: one bad file never costs other rows."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dse.results.query import sql
from dse.results.store import DAMAGED, PENDING, DamagedPartWarning, ResultStore
from tests.dse.test_store import record


def truncate(path: Path) -> None:
    """A writer's disk filled up: the file ends halfway, without its footer."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_footer(path: Path) -> None:
    """Every 7th byte of the Thrift footer inverted; the length and the magic bytes stay intact."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    for i in range(len(data) - 8 - footer, len(data) - 8, 7):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "corrupt footer": corrupt_footer,
    "zero bytes": empty,
}


@pytest.fixture
def damaged_store(tmp_path: Path) -> tuple[ResultStore, list[Path]]:
    """Six one-row parts (trials 0-5); parts 1, 3 and 4 damaged three different ways."""
    store = ResultStore(tmp_path / "study")
    paths = [store.append([record(n)]) for n in range(6)]
    assert all(p is not None for p in paths)
    bad = [paths[1], paths[3], paths[4]]
    for damage, path in zip(DAMAGES.values(), bad, strict=True):
        assert path is not None
        damage(path)
    return store, [p for p in bad if p is not None]


@pytest.mark.parametrize("damage", DAMAGES)
def test_each_kind_of_damage_is_one_skipped_part_named_in_one_warning(tmp_path: Path, damage: str) -> None:
    store = ResultStore(tmp_path)
    paths = [store.append([record(n)]) for n in range(3)]
    assert paths[1] is not None
    DAMAGES[damage](paths[1])
    with pytest.warns(DamagedPartWarning) as caught:
        df = store.read()
    assert list(df["trial_number"]) == [0, 2]
    assert len(caught) == 1 and str(paths[1]) in str(caught[0].message)
    assert "1 damaged Parquet part(s) skipped" in str(caught[0].message)


def test_read_rows_on_disk_and_query_skip_damaged_parts(
    damaged_store: tuple[ResultStore, list[Path]],
) -> None:
    store, bad = damaged_store
    with pytest.warns(DamagedPartWarning) as caught:
        assert list(store.read()["trial_number"]) == [0, 2, 5]
    assert len(caught) == 1 and all(str(p) in str(caught[0].message) for p in bad)
    with pytest.warns(DamagedPartWarning, match="3 damaged"):
        assert store.rows_on_disk() == 3
    with pytest.warns(DamagedPartWarning) as caught:
        rows = sql(store.root, "SELECT trial_number, accuracy FROM trials ORDER BY trial_number")
    assert len(caught) == 1 and all(p.name in str(caught[0].message) for p in bad)
    assert rows["trial_number"].tolist() == [0, 2, 5]
    assert rows["accuracy"].tolist() == pytest.approx([0.5, 0.52, 0.55])
    assert all(p.exists() for p in bad)  # readers never move or delete anything


def test_query_over_only_damaged_parts_has_the_schema_and_no_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.append([record(0)])
    assert path is not None
    empty(path)
    with pytest.warns(DamagedPartWarning):
        rows = sql(tmp_path, "SELECT count(*) AS n, max(accuracy) AS best FROM trials")
    assert rows["n"].tolist() == [0]


def test_compact_moves_damaged_parts_aside_byte_for_byte_and_merges_the_rest(
    damaged_store: tuple[ResultStore, list[Path]],
) -> None:
    store, bad = damaged_store
    contents = {p.name: p.read_bytes() for p in bad}
    with pytest.warns(DamagedPartWarning, match=f"3 damaged Parquet part\\(s\\) moved into .*{DAMAGED}"):
        assert store.compact() == (6, 1)
    aside = store.root / DAMAGED
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == contents
    (merged,) = store.files()
    assert pq.read_table(merged).column("trial_number").to_pylist() == [0, 2, 5]
    assert list(store.read()["trial_number"]) == [0, 2, 5]  # no warning now: nothing damaged is left
    assert not list(store.parts.glob(".tmp-*")) and not (store.parts / PENDING).exists()


def test_compact_with_one_readable_part_still_moves_the_damaged_one(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    good, bad = store.append([record(0)]), store.append([record(1)])
    assert good is not None and bad is not None
    truncate(bad)
    with pytest.warns(DamagedPartWarning):
        assert store.compact() == (2, 1)
    assert store.files() == [good] and (tmp_path / DAMAGED / bad.name).is_file()


def test_a_damaged_part_with_a_name_already_set_aside_keeps_both(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.append([record(0)])
    assert path is not None
    (tmp_path / DAMAGED).mkdir()
    (tmp_path / DAMAGED / path.name).write_bytes(b"an earlier one")
    empty(path)
    with pytest.warns(DamagedPartWarning):
        store.compact()
    kept = sorted(p.read_bytes() for p in (tmp_path / DAMAGED).iterdir())
    assert kept == [b"", b"an earlier one"]


@pytest.mark.parametrize("max_rows", [0, -3])
def test_compact_refuses_max_rows_below_one_before_touching_anything(tmp_path: Path, max_rows: int) -> None:
    store = ResultStore(tmp_path)
    for n in range(2):
        store.append([record(n)])
    before = sorted(p.name for p in store.parts.iterdir())
    with pytest.raises(ValueError, match=f"max_rows must be a whole number >= 1, got {max_rows}"):
        store.compact(max_rows=max_rows)
    assert sorted(p.name for p in store.parts.iterdir()) == before


def test_the_compaction_note_is_written_atomically_and_named_before_parts_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note reaches its name only through os.replace of a whole, fsynced temp file."""
    store = ResultStore(tmp_path)
    for n in range(3):
        store.append([record(n)])
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == PENDING:
            assert Path(src).name.startswith(".tmp-") and Path(src).name.endswith(".partial")
            assert json.loads(Path(src).read_text())["replaces"]  # whole before it is renamed
        replaced.append((Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    assert store.compact() == (3, 1)
    names = [dst for _, dst in replaced]
    assert names.index(PENDING) < next(i for i, n in enumerate(names) if n.startswith("compact-"))


def test_sweep_deletes_stale_temp_files_and_keeps_fresh_ones_and_parts(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert store.sweep() == 0  # no trials/ folder yet
    store.append([record(0)])
    stale = [store.parts / f".tmp-dead{i}.partial" for i in range(3)]
    for path in stale:
        path.write_bytes(b"half a part")
        old = time.time() - 3600
        os.utime(path, (old, old))
    fresh = store.parts / ".tmp-live.partial"
    fresh.write_bytes(b"being written by another driver")
    assert store.sweep() == 3
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert store.sweep(min_age_s=0) == 1 and not fresh.exists()
    assert len(store.files()) == 1 and list(store.read()["trial_number"]) == [0]


def test_sweep_rolls_a_noted_compaction_forward_before_deleting_temp_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    paths = [store.append([record(n)]) for n in range(2)]
    staged = store.parts / ".tmp-staged.partial"
    pq.write_table(pq.read_table(paths[0]), staged)  # a merged part staged by a killed compaction
    old = time.time() - 3600
    os.utime(staged, (old, old))
    note = {"staged": [[staged.name, "compact-x.parquet"]], "replaces": [paths[0].name]}
    (store.parts / PENDING).write_text(json.dumps(note))
    assert store.sweep(min_age_s=0) == 0
    assert sorted(p.name for p in store.files()) == sorted(["compact-x.parquet", paths[1].name])
    assert list(store.read()["trial_number"]) == [0, 1]
