"""The driver loop in-process (no Ray): burst limits and group commits keep every trial once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import optuna
import pytest

from dse.engine import study as study_mod
from dse.engine.data import Dataset, load_dataset
from dse.engine.executor import LocalExecutor
from dse.engine.space import load_space
from dse.engine.study import open_storage, run_study
from dse.engine.trial import TrialContext
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord


def instant(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    now = datetime.now(UTC)
    metrics = {"accuracy": 0.5 + point.adc_bits / 100, "energy_per_inference_pj": float(point.tile_size)}
    return TrialRecord(ctx.study, ctx.trial_number, "complete", point, metrics, None, 0, now, now)


@pytest.mark.parametrize("max_batch_s", [0.0, 1.0])
def test_every_trial_is_asked_run_written_and_told_once(
    tiny_space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_batch_s: float
) -> None:
    monkeypatch.setattr(study_mod, "MAX_BATCH_S", max_batch_s)  # 0: one ask per journal commit
    space, out = load_space(tiny_space(trials=12)), tmp_path / "out"
    progress = run_study(space, LocalExecutor(load_dataset("digits"), trial_fn=instant), out, workers=3)
    assert progress.complete == 12
    df = ResultStore(out).read()
    assert sorted(df["trial_number"]) == list(range(12)) and ResultStore(out).rows_on_disk() == 12
    trials = optuna.load_study(study_name="tiny", storage=open_storage(out, None)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 12
    told = {t.number: t.values[0] for t in trials}
    assert told == pytest.approx(dict(zip(df["trial_number"], df["accuracy"], strict=True)))
