"""Everything ``dse run`` checks before Ray starts, so bad input costs nothing and writes nothing.

:func:`preflight` checks the results folder, the storage URL (it must connect), a resumed
study (it must exist, and its recorded space must match), and loads every dataset the space
can ask for. Each problem is a :class:`PreflightError` naming the option or field and what
is allowed; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.engine.data import DataError, Dataset, load_dataset
from dse.engine.space import DomainKind, SearchSpace
from dse.results.folder import CACHE_DIR, JOURNAL_FILE, LEGACY_NAMES, STUDY_FILE, read_study_file

STORAGE_SCHEMES = ("postgresql", "mysql", "sqlite")
"""SQLAlchemy dialects Optuna's RDB storage supports (a driver may follow: postgresql+psycopg2)."""
CONNECT_TIMEOUT_S = 5


class PreflightError(ValueError):
    """Bad input found before any work: the message names the field and the allowed values."""


@dataclass(frozen=True)
class Plan:
    """What a checked run will do."""

    datasets: dict[str, Dataset]
    """Every dataset the space can ask for, by name."""
    resumed: bool
    """The study already exists in the storage."""
    finished: bool = False
    """Its budget is used up and no trial waits or runs: nothing to run (Ray is not started)."""


def preflight(space: SearchSpace, out: Path, storage: str | None, *, resume: bool) -> Plan:
    """Check a run before anything starts; raises :class:`PreflightError`."""
    if out.exists() and not out.is_dir():
        raise PreflightError(f"--out: {str(out)!r} exists and is not a folder")
    if storage:
        check_storage_url(storage)
    exists = study_exists(space.name, out, storage)
    if resume and not exists:
        where = storage or str(out / JOURNAL_FILE)
        raise PreflightError(f"--resume: no study named {space.name!r} in {where}")
    check_recorded_space(space, out)
    datasets = load_datasets(space, out / CACHE_DIR)
    return Plan(datasets=datasets, resumed=exists, finished=exists and _budget_used_up(space, out, storage))


def _budget_used_up(space: SearchSpace, out: Path, storage: str | None) -> bool:
    """Whether an existing study has all its trials (or its epoch budget) and none waiting or running."""
    import optuna
    from optuna.trial import TrialState

    from dse.engine.budget import EPOCHS, budget_usage
    from dse.engine.study import open_storage

    study = optuna.load_study(study_name=space.name, storage=open_storage(out, storage))
    trials = study.get_trials(deepcopy=False)
    used, waiting = budget_usage(trials)
    running = sum(1 for t in trials if t.state is TrialState.RUNNING)
    epochs_spent = space.budget_epochs is not None and study.user_attrs.get(EPOCHS, 0) >= space.budget_epochs
    return (used >= space.trials or epochs_spent) and waiting == 0 and running == 0


def check_storage_url(url: str) -> None:
    """The URL names a supported database and a connection opens within a few seconds."""
    import sqlalchemy
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise PreflightError(
            f"--storage: {url!r} is not a database URL; write e.g. postgresql://user:pass@host/db "
            f"(allowed schemes: {', '.join(STORAGE_SCHEMES)}), or leave it out for the journal file"
        ) from None
    if parsed.get_backend_name() not in STORAGE_SCHEMES:
        raise PreflightError(
            f"--storage: scheme {parsed.drivername!r} is not supported; allowed: {', '.join(STORAGE_SCHEMES)}"
        )
    args: dict[str, Any] = (
        {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() != "sqlite" else {}
    )
    try:
        engine = sqlalchemy.create_engine(parsed, connect_args=args)
        with engine.connect():
            pass
        engine.dispose()
    except (NoSuchModuleError, ImportError) as exc:
        raise PreflightError(f"--storage: no database driver for {parsed.drivername!r} ({exc})") from None
    except SQLAlchemyError as exc:
        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise PreflightError(f"--storage: cannot connect to {parsed.render_as_string()}: {reason}") from None


def study_exists(name: str, out: Path, storage: str | None) -> bool:
    """Whether the storage holds a study of this name (reads; creates nothing)."""
    if not storage:
        journal = next((out / n for n in (JOURNAL_FILE, "optuna.journal") if (out / n).is_file()), None)
        if journal is None:
            return False
        return _journal_has_study(journal, name)
    import optuna

    return name in optuna.study.get_all_study_names(storage)


def _journal_has_study(journal: Path, name: str) -> bool:
    """Whether a journal file records the creation of study ``name`` (op code 0, CREATE_STUDY)."""
    with journal.open("rb") as fh:
        for line in fh:
            try:
                op = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a damaged line is the storage's to report when it opens the journal
            if op.get("op_code") == 0 and op.get("study_name") == name:
                return True
    return False


COMPATIBLE = (
    "trials",
    "budget_epochs",
    "workers",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_retries",
    "description",
)
"""Study settings a resumed run may change (the budget and how trials run, not what is searched)."""


def check_recorded_space(space: SearchSpace, out: Path) -> None:
    """A folder that holds a study must be continued with the same space (see
    :meth:`SearchSpace.canonical`): another space would make rows of one study mean two things."""
    if not any(
        (out / n).is_file() for n in (STUDY_FILE, *(k for k, v in LEGACY_NAMES.items() if v == STUDY_FILE))
    ):
        return
    meta = read_study_file(out)
    if meta.get("study") != space.name:
        raise PreflightError(
            f"--out: {str(out)!r} holds study {meta.get('study')!r}, not {space.name!r}; choose another --out"
        )
    recorded = meta.get("space")
    if recorded is None:
        return  # written before spaces were recorded: nothing to compare with
    now = space.canonical()
    diff = [
        f"{key}: recorded {recorded.get(key)!r}, now {now[key]!r}"
        for key in now
        if recorded.get(key) != now[key]
    ]
    if diff:
        raise PreflightError(
            f"the space of study {space.name!r} changed since it was recorded in {out}; a resumed study must "
            f"search the same space (only {', '.join(COMPATIBLE)} may change). Differences: "
            + "; ".join(diff)
        )


def load_datasets(space: SearchSpace, cache_dir: Path | None = None) -> dict[str, Dataset]:
    """Load each dataset the space can ask for (a searched ``dataset`` loads every choice);
    generated ones (MNIST-1D) are cached in ``cache_dir`` unless ``data_path`` names a folder."""
    domains = {d.name: d for d in space.domains}
    path_domain = domains.get("data_path")
    if path_domain is not None and path_domain.kind is not DomainKind.FIXED:
        raise PreflightError(
            "params.data_path: cannot be searched; fix it to one folder (searching dataset is fine)"
        )
    path = path_domain.value if path_domain is not None else ""
    dataset = domains.get("dataset")
    if dataset is None:
        names = ["digits"]
    elif dataset.kind is DomainKind.FIXED:
        names = [dataset.value]
    else:
        names = list(dataset.choices)
    out = {}
    for name in names:
        try:
            out[name] = load_dataset(name, path or None, seed=space.seed, cache_dir=cache_dir)
        except DataError as exc:
            raise PreflightError(f"params.dataset {name!r}: {exc} (params.data_path = {path!r})") from None
    return out
