"""A real trial at a rung: it trains to the rung from its checkpoint, saves it, and a promotion
resumes it; a missing or damaged checkpoint retrains from scratch with a warning naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.engine.data import load_dataset
from dse.engine.trial import Rung, evaluate_point
from dse.schema.point import DesignPoint
from tests.torch_devices import TORCH_DEVICES

POINTS = {
    "hwa": DesignPoint.of(
        device="pcm", mode="hwa", hidden=(16,), epochs=3, hardware_seeds=1, tile_size=32, seed=2
    ),
    "onchip_sgd": DesignPoint.of(
        device="rram", mode="onchip_sgd", hidden=(16,), epochs=3, hardware_seeds=1, tile_size=32, seed=2
    ),
}
OUTCOME = ("accuracy", "accuracy_fp", "max_writes_per_device", "mean_writes_per_device", "energy_training_j")


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("mode", list(POINTS))
def test_a_promoted_trial_resumes_its_checkpoint_and_matches_an_unbroken_run(
    mode: str, where: str, tmp_path: Path
) -> None:
    point, data = POINTS[mode], load_dataset("digits", seed=2)
    path = tmp_path / "0.pt"
    low = evaluate_point(point, data, device=where, rung=Rung(1, str(path)))
    assert (low["epochs_done"], low["resumed_from_epochs"], low["warning"]) == (1, 0, None) and path.is_file()
    high = evaluate_point(point, data, device=where, rung=Rung(3, str(path), resume=True))
    assert (high["epochs_done"], high["resumed_from_epochs"], high["warning"]) == (3, 1, None)
    whole = evaluate_point(point, data, device=where, rung=Rung(3, str(tmp_path / "1.pt")))
    assert whole["resumed_from_epochs"] == 0
    assert [high[k] for k in OUTCOME] == [whole[k] for k in OUTCOME]  # resumed = never stopped, bit for bit
    assert high["train_seconds"] >= low["train_seconds"]  # cumulative over both rungs


@pytest.mark.parametrize("damage", ["garbage", "missing", "truncated"])
def test_a_missing_or_damaged_checkpoint_retrains_from_scratch_with_a_warning_naming_it(
    damage: str, tmp_path: Path
) -> None:
    point, data = POINTS["hwa"], load_dataset("digits", seed=2)
    path = tmp_path / "7.pt"
    evaluate_point(point, data, rung=Rung(1, str(path)))
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.unlink()
    out = evaluate_point(point, data, rung=Rung(3, str(path), resume=True))
    assert out["resumed_from_epochs"] == 0 and out["epochs_done"] == 3
    assert str(path) in out["warning"] and "retrained from scratch" in out["warning"]
    whole = evaluate_point(point, data, rung=Rung(3, str(tmp_path / "8.pt")))
    assert [out[k] for k in OUTCOME] == [whole[k] for k in OUTCOME]
    assert path.is_file()  # saved again, whole


def test_a_trial_without_a_rung_records_its_epochs_and_no_resume(tmp_path: Path) -> None:
    out = evaluate_point(POINTS["hwa"].replace(epochs=1), load_dataset("digits", seed=2))
    assert out["epochs_done"] == 1 and "resumed_from_epochs" not in out


def test_each_training_repeat_keeps_its_own_checkpoint(tmp_path: Path) -> None:
    point, data = POINTS["hwa"], load_dataset("digits", seed=2)
    path = tmp_path / "3.pt"
    evaluate_point(point, data, repeats=2, rung=Rung(1, str(path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.pt", "3.r1.pt"]
    (tmp_path / "3.r1.pt").unlink()  # the second repeat lost its checkpoint: the row says so
    out = evaluate_point(point, data, repeats=2, rung=Rung(3, str(path), resume=True))
    assert out["resumed_from_epochs"] == 0 and str(tmp_path / "3.r1.pt") in out["warning"]
    assert str(path) + ":" not in out["warning"]  # the first repeat resumed
