"""The group-committed journal: Optuna's own file backend must read exactly what it wrote."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from dse.engine.journal import BatchedJournalStorage, JournalCorrupt

DIST = {"x": optuna.distributions.FloatDistribution(0, 1), "n": optuna.distributions.IntDistribution(1, 9)}


def study_on(storage: optuna.storages.BaseStorage) -> optuna.Study:
    return optuna.create_study(
        storage=storage, study_name="s", directions=["maximize", "minimize"], load_if_exists=True
    )


def trial_view(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state.name, t.params, t.values, t.user_attrs) for t in study.trials]


def test_batches_write_nothing_until_they_end_and_optuna_reads_the_same_study(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage = BatchedJournalStorage(path)
    study = study_on(storage)
    for i in range(3):
        size = path.stat().st_size
        with storage.batch():
            trial = study.ask(DIST)
            trial.set_user_attr("driver", f"d{i}")
            assert [t.number for t in study.trials][-1] == trial.number  # reads see the pending lines
            study.tell(trial, [trial.params["x"], float(trial.params["n"])])
            assert path.stat().st_size == size
        assert path.stat().st_size > size
    with storage.batch():
        study.ask(DIST)  # left running
    theirs = study_on(JournalStorage(JournalFileBackend(str(path))))
    assert trial_view(theirs) == trial_view(study)
    assert [t.state.name for t in theirs.trials] == ["COMPLETE"] * 3 + ["RUNNING"]


def test_two_drivers_interleave_batches_without_losing_or_reusing_a_trial_number(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    a, b = BatchedJournalStorage(path), BatchedJournalStorage(path)
    sa, sb = study_on(a), study_on(b)

    def drive(storage: BatchedJournalStorage, study: optuna.Study, tag: str) -> None:
        for _ in range(15):
            with storage.batch():
                trial = study.ask(DIST)
                trial.set_user_attr("driver", tag)
                study.tell(trial, [0.5, 1.0])

    threads = [threading.Thread(target=drive, args=args) for args in ((a, sa, "a"), (b, sb, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    theirs = study_on(JournalStorage(JournalFileBackend(str(path)))).trials
    assert [t.number for t in theirs] == list(range(30))
    assert sorted(t.user_attrs["driver"] for t in theirs) == ["a"] * 15 + ["b"] * 15
    assert all(t.state.name == "COMPLETE" for t in theirs)
    assert trial_view(sa) == trial_view(sb)


def test_optunas_own_writer_waits_for_a_batch_to_end(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    ours = BatchedJournalStorage(path)
    study = study_on(ours)
    trying, got = threading.Event(), threading.Event()

    class Announced(JournalFileSymlinkLock):  # Optuna's own lock, announcing each attempt to take it
        def acquire(self) -> bool:
            trying.set()
            taken = super().acquire()
            got.set()
            return taken

    theirs = study_on(JournalStorage(JournalFileBackend(str(path), lock_obj=Announced(str(path)))))
    trying.clear()
    got.clear()
    with ours.batch():
        trial = study.ask(DIST)
        writer = threading.Thread(target=theirs.set_user_attr, args=("note", "hi"))
        writer.start()
        assert trying.wait(10)  # their writer is now at the lock we hold...
        study.tell(trial, [0.1, 0.2])  # ...so if it did not wait, its note would come before this tell
        assert not got.is_set()  # while we hold the lock, its acquire cannot have returned
    writer.join(10)
    assert not writer.is_alive()
    lines = path.read_text().splitlines()
    note = next(i for i, line in enumerate(lines) if '"note"' in line)
    told = next(i for i, line in enumerate(lines) if '"values":[0.1,0.2]' in line)
    assert told < note  # the whole batch went first, whatever the load
    again = study_on(JournalStorage(JournalFileBackend(str(path))))
    assert again.user_attrs["note"] == "hi" and again.trials[0].values == [0.1, 0.2]


def test_a_batch_that_raises_still_commits_what_the_storage_already_replayed(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage = BatchedJournalStorage(path)
    study = study_on(storage)
    with pytest.raises(RuntimeError), storage.batch():
        study.ask(DIST)
        raise RuntimeError("driver bug")
    assert len(study_on(JournalStorage(JournalFileBackend(str(path)))).trials) == 1
    study.ask(DIST)  # and the two views still agree on numbering
    assert [t.number for t in study_on(JournalStorage(JournalFileBackend(str(path)))).trials] == [0, 1]


def test_a_torn_last_line_from_a_killed_writer_is_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    study = study_on(BatchedJournalStorage(path))
    study.tell(study.ask(DIST), [0.3, 0.4])
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"op_code":5,"worker_id":"dead","tri')  # killed mid-write
    study = study_on(BatchedJournalStorage(path))  # a restarted driver
    study.tell(study.ask(DIST), [0.5, 0.6])
    assert path.read_bytes().startswith(whole) and b"dead" not in path.read_bytes()
    theirs = study_on(JournalStorage(JournalFileBackend(str(path))))
    assert [t.values for t in theirs.trials] == [[0.3, 0.4], [0.5, 0.6]]


def _finished_study(path: Path, trials: int = 3) -> list[tuple]:
    study = study_on(BatchedJournalStorage(path))
    for i in range(trials):
        study.tell(study.ask(DIST), [0.1 * i, float(i)])
    return trial_view(study)


@pytest.mark.parametrize(
    "garbage",
    [b"garbage\n", b"\x00\xff\xfe not utf-8\n", b"[1, 2]\n", b'{"op_code": 99, "worker_id": "x"}\n', b"{}\n"],
)
def test_garbage_in_the_middle_names_the_file_and_line(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "j.log"
    _finished_study(path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4]) + garbage + b"".join(lines[4:]))
    with pytest.raises(
        JournalCorrupt, match=rf"^{re.escape(str(path))}: line 5 is not an Optuna journal record"
    ):
        study_on(BatchedJournalStorage(path))


def test_garbage_appended_at_the_end_with_a_newline_is_reported_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    _finished_study(path)
    lines = len(path.read_bytes().splitlines())
    with open(path, "ab") as fh:
        fh.write(b"appended by accident\n")
    with pytest.raises(JournalCorrupt, match=rf"^{re.escape(str(path))}: line {lines + 1} .*not JSON"):
        study_on(BatchedJournalStorage(path))


def test_a_running_driver_sees_garbage_written_under_it_and_keeps_reporting_it(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage = BatchedJournalStorage(path)
    study = study_on(storage)
    study.tell(study.ask(DIST), [0.1, 0.2])
    lines = len(path.read_bytes().splitlines())
    with open(path, "ab") as fh:
        fh.write(b'{"op_code": 4, "worker_id": 7}\n')
    for _ in range(2):  # a second read reports the same line rather than skipping past it
        with pytest.raises(JournalCorrupt, match=rf"line {lines + 1} .*no worker_id"):
            study.ask(DIST)


def test_a_torn_last_line_alone_is_still_silently_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    view = _finished_study(path)
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b"\x00garbage without a newline")  # not even JSON: a torn write still
    assert trial_view(study_on(BatchedJournalStorage(path))) == view
    assert path.read_bytes().startswith(whole)


def test_the_optuna_free_readers_know_optunas_op_codes_and_name_a_damaged_line(tmp_path: Path) -> None:
    from optuna.storages.journal._storage import JournalOperation

    from dse.results.folder import JOURNAL_OP_CODES, running_trials

    assert frozenset(int(op) for op in JournalOperation) == JOURNAL_OP_CODES
    path = tmp_path / "j.journal"
    study = optuna.create_study(storage=BatchedJournalStorage(path), study_name="s")
    study.ask()  # left RUNNING
    study.tell(study.ask(), 1.0)
    assert running_trials(path, "s") == 1
    good = path.read_bytes()
    path.write_bytes(good + b'{"op_code": 99, "worker_id": "w"}\n' + b'{"op_code": 4')  # garbage, torn
    line = good.count(b"\n") + 1  # the first line after the good ones
    with pytest.raises(JournalCorrupt, match=rf"^{re.escape(str(path))}: line {line} .*op_code 99"):
        running_trials(path, "s")
    path.write_bytes(good + b'{"op_code": 4')  # only a torn last line: read as Optuna does
    assert running_trials(path, "s") == 1
