"""Optuna storage on a real PostgreSQL server: one driver, then two drivers sharing a study."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from dse.results.store import ResultStore
from tests.postgres import NoPostgres, postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except NoPostgres as exc:
        print(f"\nPostgreSQL tests skipped: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")


def dse_run(space: Path, out: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "dse",
        "run",
        str(space),
        "--out",
        str(out),
        "--storage",
        url,
        "--executor",
        "local",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # in-process trials of two drivers share 2 cores
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_study_on_postgres(pg_url: str, tiny_space, tmp_path: Path) -> None:
    proc = dse_run(tiny_space(name="pg_one", trials=3), tmp_path / "out", pg_url)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    study = optuna.load_study(study_name="pg_one", storage=pg_url)
    assert len(study.trials) == 3 and study.metric_names == ["accuracy", "energy_per_inference_pj"]
    assert sorted(ResultStore(tmp_path / "out").read()["trial_number"]) == [0, 1, 2]


def test_two_drivers_share_one_study_without_duplicates(pg_url: str, tiny_space, tmp_path: Path) -> None:
    space, out = tiny_space(name="pg_two", trials=8), tmp_path / "shared"
    space.write_text(space.read_text().replace("epochs = 2", "epochs = 10"))  # ~0.5 s per trial
    drivers = [dse_run(space, out, pg_url, "--no-cache") for _ in range(2)]  # no 20 ms cache hits
    for d in drivers:
        _, err = d.communicate(timeout=400)
        assert d.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name="pg_two", storage=pg_url)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= 8
    df = ResultStore(out).read()
    assert df["trial_number"].is_unique and len(df) >= 8
    owners = {t.user_attrs.get("driver") for t in study.trials}
    assert len(owners) == 2  # both drivers did work
