"""Provenance of a study: the package versions and git commit that made its rows, and
``_study.json``, what the analysis commands need to read the folder alone."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from dse.engine.space import SearchSpace
from dse.results import folder
from dse.results.folder import JOURNAL_FILE
from dse.schema.record import Direction

__all__ = ["git_commit", "package_versions", "write_study_file"]


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results, for provenance."""
    out = {"python": platform.python_version()}
    for pkg in (
        "optuna",
        "ray",
        "torch",
        "numpy",
        "pyarrow",
        "scikit-learn",
        "scipy",
        "mnist1d",
        "analog-dse",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def git_commit() -> str | None:
    """The project's git commit (``<sha>`` or ``<sha>-dirty`` with uncommitted changes), or None
    when the code does not run from a git checkout or git is absent."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "dse", "models"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def write_study_file(space: SearchSpace, out: Path, storage: str | None) -> None:
    """``_study.json``: what the analysis commands need to read the folder alone, and what a
    resumed run is checked against (the space as validated, and the file's text)."""
    meta = {
        "study": space.name,
        "space_file": space.source,
        "space_text": space.text,
        "space": space.canonical(),
        "sampler": space.sampler,
        "trials": space.trials,
        "budget_epochs": space.budget_epochs,
        "objectives": [
            f"{o.name}:{'max' if o.direction is Direction.MAXIMIZE else 'min'}" for o in space.objectives
        ],
        "storage": storage,
        "journal": None if storage else JOURNAL_FILE,
        "repeats": space.repeats,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "torch_device": "cuda" if space.gpus_per_trial > 0 else "cpu",
    }
    folder.write_study_file(out, meta)
