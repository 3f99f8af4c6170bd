"""The budget is exact when several drivers share one study on the journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.engine.study import open_storage
from dse.results.store import ResultStore
from tests.drivers import dse_driver


@pytest.mark.parametrize("drivers", [2, 3])
def test_drivers_on_one_journal_share_an_exact_budget(tiny_space, tmp_path: Path, drivers: int) -> None:
    space, out = tiny_space(name=f"exact{drivers}", trials=6), tmp_path / "shared"
    procs = [dse_driver(space, out, "--no-cache") for _ in range(drivers)]
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name=f"exact{drivers}", storage=open_storage(out, None))
    assert len(study.trials) == 6
    assert sum(t.state.is_finished() for t in study.trials) == 6
    assert study.user_attrs["budget:taken"] == 6
    assert sorted(ResultStore(out).read()["trial_number"]) == list(range(6))
