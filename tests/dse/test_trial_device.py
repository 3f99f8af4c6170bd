"""A trial runs on the torch device its context names and reports plain Python numbers; on the CPU,
``TrialContext(device="cpu")`` is the default path, bit for bit."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pytest

from dse.engine.cache import WeightCache
from dse.engine.data import Dataset, load_dataset, load_digits
from dse.engine.trial import TrialContext, evaluate_point, run_trial
from dse.schema.point import DesignPoint
from tests.torch_devices import TORCH_DEVICES

SMALL = {"hidden": (16,), "epochs": 1, "hardware_seeds": 2, "tile_size": 32, "batch_size": 32}
POINTS = [
    pytest.param(
        DesignPoint.of(mode="hwa", device="pcm", stuck_off_fraction=0.01, ir_drop=0.001, **SMALL), id="hwa"
    ),
    pytest.param(DesignPoint.of(mode="apt", device="rram", apt_steps=2, **SMALL), id="apt"),
    pytest.param(
        DesignPoint.of(mode="mixed_precision", device="pcm", update_bits=8, **SMALL), id="mixed_precision"
    ),
    pytest.param(
        DesignPoint.of(mode="hic", device="pcm", binary_devices=1, update_bits=4, **SMALL), id="hic"
    ),
    pytest.param(DesignPoint.of(mode="qnn", device="stt_mram", lr=0.2, **SMALL), id="qnn"),
    pytest.param(
        DesignPoint.of(mode="onchip_sgd", device="rram", model="lenet", width_mult=0.5, **SMALL),
        id="onchip_sgd-cnn",
    ),
]
TIMINGS = ("train_seconds", "calibration_seconds", "eval_seconds")


@functools.cache
def _data() -> Dataset:
    return load_digits()


def _untimed(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without wall times, NaN as a comparable marker."""
    return {
        k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
        for k, v in metrics.items()
        if k not in TIMINGS
    }


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("point", POINTS)
def test_run_trial_runs_on_the_context_device(where: str, point: DesignPoint, tmp_path: Path) -> None:
    ctx = TrialContext("dev", 0, cache_dir=str(tmp_path), device=where)
    record = run_trial(point, _data(), ctx)
    assert record.status == "complete", record.error
    assert all(type(v) in (bool, int, float, str) for v in record.metrics.values()), record.metrics
    assert record.metrics["eval_chip"] == ("fresh" if point.mode in ("hwa", "apt") else "trained")
    assert record.torch_device == where.split(":")[0]
    assert record.metrics["devices"] > 0
    # a whole number of right answers on the test images, averaged over the two chips
    right = record.metrics["accuracy"] * len(_data().y_test) * point.hardware_seeds
    assert right == pytest.approx(round(right), abs=1e-6)
    if point.model == "mlp":  # it learned: chance is 0.10 ± 0.01 on the 900 test digits; measured 0.47-0.74
        assert record.metrics["accuracy"] > 0.3

    if where == "cpu":
        default = run_trial(point, _data(), TrialContext("dev", 0))
        assert _untimed(default.metrics) == _untimed(record.metrics)
        direct = evaluate_point(point, _data(), WeightCache(tmp_path / "other"), device="cpu")
        assert _untimed(direct) == _untimed(record.metrics)


def test_an_unknown_device_fails_the_trial_with_the_reason() -> None:
    point = DesignPoint.of(**SMALL)
    record = run_trial(point, _data(), TrialContext("dev", 0, device="no_such_device"))
    assert record.status == "failed" and "no_such_device" in (record.error or "")


def test_a_trial_gets_cuda_only_when_ray_gave_it_a_gpu_that_torch_can_see() -> None:
    from dse.engine.executor import trial_device

    assert trial_device(["0"], cuda_available=True) == "cuda"
    assert trial_device([], cuda_available=True) == "cpu"  # a GPU machine, a CPU-only trial
    assert trial_device(["0"], cuda_available=False) == "cpu"


def test_ray_tasks_name_their_device_in_the_context() -> None:
    from dse.engine.executor import RayExecutor, Resources
    from dse.schema.record import TrialRecord

    def report(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
        return TrialRecord("t", ctx.trial_number, "failed", point, error=f"device={ctx.device}")

    executor = RayExecutor(load_dataset("digits"), Resources(workers=1), trial_fn=report)
    try:
        executor.submit(DesignPoint(), TrialContext("t", 0))
        (rec,) = executor.wait()
    finally:
        executor.close()
    assert rec.error == "device=cpu"  # no --gpus-per-trial: the CPU, even where CUDA is present
