"""The layout of a study's results folder, which reads as a Parquet dataset as it is.

``results/<study>/`` holds the row parts in ``trials/*.parquet``; everything else starts with
``_`` (or ``.`` for temp files), which pyarrow, pandas, DuckDB's and polars' folder readers skip:

- ``_study.json``: what the analysis commands need (name, objectives, storage, the space).
- ``_optuna.journal``: the Optuna journal (when no ``--storage`` URL is given).
- ``_cache/``: the trained-weights cache (train once, evaluate many).
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


class JournalDamaged(ValueError):
    """A journal line other than a torn last one does not parse."""


def running_trials(journal: Path, study: str) -> int:
    """Trials of ``study`` left RUNNING in an Optuna journal file, read without Optuna (so
    ``dse status`` starts at once). A torn last line (a killed writer) is ignored, as Optuna
    does; any other line that does not parse raises :class:`JournalDamaged` naming it."""
    lines = journal.read_bytes().split(b"\n")
    study_ids: dict[str, int] = {}
    trial_study: list[int] = []
    state: dict[int, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):  # no newline after it: a torn last line
                continue
            raise JournalDamaged(f"{journal}: line {number} is not a journal entry: {line[:60]!r}") from None
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
