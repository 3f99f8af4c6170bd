"""The epoch budget (``[study] budget_epochs``), pinned by hand: what the mutation run of budget.py found
untested (issue 16). Real Optuna, in memory or on a journal file; one driver process."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from dse.engine.budget import EPOCHS, Budget


def _journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def test_an_epoch_budget_stops_new_trials_once_its_epochs_are_committed() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    budget = Budget(study, target=100, epochs=6)
    with budget.turn():
        assert budget.may_ask()  # 0 of 6 committed
        budget.commit_epochs(4)
        assert study.user_attrs[EPOCHS] == 4 and budget.may_ask()  # 4 < 6
        budget.commit_epochs(0)  # a rung that trains nothing: no write, no change
        assert study.user_attrs[EPOCHS] == 4 and budget.may_ask()
        budget.commit_epochs(2)
        assert study.user_attrs[EPOCHS] == 6  # 4 + 2: the counter adds
        assert not budget.may_ask()  # 6 committed of 6: the limit is reached, not passed


def test_a_fresh_study_has_its_whole_epoch_budget() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    budget = Budget(study, target=100, epochs=1)
    with budget.turn():
        assert budget.epochs == 0 and budget.may_ask()  # no counter yet: nothing committed
        budget.commit_epochs(1)
        assert not budget.may_ask()


def test_a_second_driver_reads_the_epochs_the_first_committed(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = optuna.create_study(study_name="e", storage=_journal(tmp_path / "j.log"), directions=["maximize"])
    mine = Budget(first, target=100, epochs=5)
    with mine.turn():
        mine.commit_epochs(3)
        mine.commit_epochs(2)
    second = optuna.load_study(study_name="e", storage=_journal(tmp_path / "j.log"))
    theirs = Budget(second, target=100, epochs=5)
    with theirs.turn():
        assert theirs.epochs == 5 and not theirs.may_ask()  # 5 of 5 spent by the other driver
    wider = Budget(second, target=100, epochs=6)
    with wider.turn():
        assert wider.epochs == 5 and wider.may_ask()  # one epoch left
        wider.commit_epochs(1)
    with mine.turn():  # the first driver's next burst sees the second's commit
        assert mine.epochs == 6 and not mine.may_ask()


@pytest.mark.parametrize("stored", [None, "3"])
def test_an_epoch_counter_that_is_no_integer_counts_as_none_committed(stored: object) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    study.set_user_attr(EPOCHS, stored)  # not one this code writes (another tool's, a hand edit)
    budget = Budget(study, target=100, epochs=1)
    with budget.turn():
        assert budget.epochs == 0 and budget.may_ask()  # read as 0, not kept as is and not as 1
