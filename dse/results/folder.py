"""The layout of a study's results folder, which reads as a Parquet dataset as it is.

``results/<study>/`` holds the row parts in ``trials/*.parquet``; everything else starts with
``_`` (or ``.`` for temp files), which pyarrow, pandas, DuckDB's and polars' folder readers skip:

- ``_study.json``: what the analysis commands need (name, objectives, storage, the space).
- ``_optuna.journal``: the Optuna journal (when no ``--storage`` URL is given).
- ``_cache/``: the trained-weights cache (train once, evaluate many).
- ``_checkpoints/``: multi-fidelity trials' training checkpoints (``<trial>.pt``), kept until the
  trial's row is written.
- ``_damaged/``: parts that could not be read, moved aside by ``dse compact``.

Folders written before this layout (``study.json``, ``optuna.journal``, ``cache/``) are still
read; :func:`migrate` renames them in place.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

STUDY_FILE = "_study.json"
JOURNAL_FILE = "_optuna.journal"
CACHE_DIR = "_cache"
CHECKPOINT_DIR = "_checkpoints"
PARTS_DIR = "trials"
LEGACY_NAMES: dict[str, str] = {"study.json": STUDY_FILE, "optuna.journal": JOURNAL_FILE, "cache": CACHE_DIR}
"""Names of the previous layout → their names now."""


def migrate(out: Path) -> list[str]:
    """Rename a previous layout's files in ``out`` to the current names; returns the renamed ones.

    A journal is renamed only when no driver can be writing it: call this before opening storage.
    """
    renamed = []
    for old, new in LEGACY_NAMES.items():
        if (out / old).exists() and not (out / new).exists():
            os.replace(out / old, out / new)
            renamed.append(old)
    return renamed


def read_study_file(out: Path) -> dict[str, Any]:
    """The study metadata of a results folder (exit-2-worthy FileNotFoundError if there is none)."""
    for name in (STUDY_FILE, "study.json"):
        path = out / name
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise FileNotFoundError(
                    f"{path} is damaged ({exc}); it is not a readable study file"
                ) from None
    raise FileNotFoundError(f"{out} is not a results folder (no {STUDY_FILE}); run `dse run` first")


def write_study_file(out: Path, meta: dict[str, Any]) -> None:
    """Write ``_study.json`` atomically (temp file, fsync, rename)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{STUDY_FILE}.{uuid.uuid4().hex[:8]}.tmp"  # one per writer: drivers start together
    with open(tmp, "w") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out / STUDY_FILE)


_CREATE_STUDY, _CREATE_TRIAL, _SET_TRIAL_STATE = 0, 4, 6
_RUNNING = 0
"""Optuna's journal op codes and TrialState.RUNNING, as Optuna 5 writes them."""
JOURNAL_OP_CODES = frozenset(range(11))
"""Optuna 5's ``JournalOperation`` values, CREATE_STUDY (0) … DISCARD_TRIALS (10) (a test checks
them against Optuna's enum; this module must not import Optuna)."""


class JournalCorrupt(ValueError):
    """A complete line of the journal file is not a journal record; the message names the file and line."""


def parse_record(line: bytes) -> dict[str, Any]:
    """One journal line as Optuna's replay expects it: a JSON object with a known ``op_code`` and a
    string ``worker_id``. Raises ValueError saying why it is not."""
    try:
        log = json.loads(line)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"not JSON ({err})") from None
    if not isinstance(log, dict):
        raise ValueError(f"a JSON {type(log).__name__}, not an object")
    op = log.get("op_code")
    if isinstance(op, bool) or not isinstance(op, int) or op not in JOURNAL_OP_CODES:
        raise ValueError(f"op_code {op!r} is not one of {sorted(JOURNAL_OP_CODES)}")
    if not isinstance(log.get("worker_id"), str):
        raise ValueError("no worker_id")
    return log


def corrupt(path: Path, number: int, why: object) -> JournalCorrupt:
    """The error for line ``number`` (1-based) of the journal at ``path``."""
    return JournalCorrupt(
        f"{path}: line {number} is not an Optuna journal record: {why}; "
        "the journal is damaged (restore it from a copy, or delete that line)"
    )


def running_trials(journal: Path, study: str) -> int:
    """Trials of ``study`` left RUNNING in an Optuna journal file, read without Optuna (so
    ``dse status`` starts at once). A torn last line (a killed writer) is ignored, as Optuna
    does; any other line that is no record raises :class:`JournalCorrupt` naming it, as the
    engine's reader (``dse.engine.journal``) does."""
    lines = journal.read_bytes().split(b"\n")
    study_ids: dict[str, int] = {}
    trial_study: list[int] = []
    state: dict[int, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            op = parse_record(line)
        except ValueError as err:
            if number == len(lines):  # no newline after it: a torn last line
                continue
            raise corrupt(journal, number, err) from None
        code = op.get("op_code")
        if code == _CREATE_STUDY:
            study_ids.setdefault(op.get("study_name"), len(study_ids))
        elif code == _CREATE_TRIAL:
            trial_study.append(op.get("study_id", -1))
            state[len(trial_study) - 1] = op.get("state", _RUNNING)
        elif code == _SET_TRIAL_STATE and op.get("trial_id") in state:
            state[op["trial_id"]] = op.get("state", _RUNNING)
    sid = study_ids.get(study)
    return sum(1 for t, s in state.items() if s == _RUNNING and trial_study[t] == sid)
