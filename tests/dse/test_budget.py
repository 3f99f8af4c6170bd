"""The budget is exact when several drivers share one study on the journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.engine.budget import REQUEUED, TAKEN, Budget, _is_postgres, budget_usage, budget_used
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


# --- the counter itself, in process on Optuna's in-memory storage (real Optuna, one driver) -------------


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize"])


def test_budget_usage_skips_only_failures_that_were_requeued() -> None:
    study = _study()
    dead = study.ask()
    study.tell(dead, state=optuna.trial.TrialState.FAIL)  # #0: a dead driver's trial, requeued below
    for _ in range(2):
        study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # #1, #2: failures nobody requeued
    study.tell(study.ask(), 0.5)  # #3
    study.enqueue_trial({}, user_attrs={REQUEUED: dead.number})  # #4, waiting
    study.enqueue_trial({})  # #5, waiting (a grid point): takes budget when asked
    assert budget_usage(study.get_trials()) == (5, 2)
    assert budget_used(study) == 5


def test_budget_counts_every_ask_once_and_stops_at_the_target() -> None:
    study = _study()
    budget = Budget(study, target=3)
    asked = 0
    with budget.turn():
        while budget.may_ask():
            budget.asked(study.ask())
            asked += 1
    assert asked == 3 and study.user_attrs[TAKEN] == 3 and not budget.may_ask()
    for n in (0, 1):  # two dead drivers' trials run again: no new unit
        study.enqueue_trial({}, user_attrs={REQUEUED: n})
    other = Budget(study, target=3)  # a second driver reads the shared count
    with other.turn():
        assert other.taken == 3 and other.waiting == 2 and other.may_ask()
        other.asked(study.ask())
        assert other.waiting == 1 and other.may_ask()
    third = Budget(study, target=3)  # the requeued trial now running is no longer waiting
    with third.turn():
        assert third.waiting == 1
        third.asked(study.ask())
        assert third.waiting == 0 and not third.may_ask()
    assert study.user_attrs[TAKEN] == 3 and len(study.trials) == 5


def test_a_study_begun_before_the_counter_is_counted_from_its_trials_once() -> None:
    study = _study()
    for _ in range(2):
        study.tell(study.ask(), 0.1)
    budget = Budget(study, target=3)
    with budget.turn():
        assert budget.taken == 2 and study.user_attrs[TAKEN] == 2 and budget.may_ask()


@pytest.mark.parametrize(
    ("url", "postgres"),
    [
        ("postgresql://u@h/db", True),
        ("postgresql+psycopg2://u@h/db", True),
        ("postgresql://u:secret@h:5432/db", True),
        ("postgres://u@h/db", True),
        ("sqlite:///x.db", False),
        ("mysql://u@h/db", False),
        (None, False),
        ("", False),
    ],
)
def test_only_postgresql_urls_take_the_advisory_lock(url: str | None, postgres: bool) -> None:
    assert _is_postgres(url) is postgres
