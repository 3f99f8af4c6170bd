"""One trial, end to end: build, train, program, evaluate and cost a design point.

:func:`run_trial` is pure with respect to the engine: it does not know whether it runs
in-process or in a Ray task, and it never touches storage. Application errors become a
failed :class:`TrialRecord` with the reason; only errors in :data:`TRANSIENT_ERRORS`
propagate, so the executor can retry them.
"""

from __future__ import annotations

import hashlib
import socket
import statistics
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import torch

from dse.engine.cache import WeightCache
from dse.engine.data import Dataset
from dse.schema.point import READ_TIMES, DesignPoint
from dse.schema.record import WRITE_KINDS, TrialRecord
from models.config import TrainMode
from models.cost.model import hardware_cost
from models.nn import inference
from models.nn.networks import analog_layers, build_network, layer_shapes
from models.training import apt
from models.training.modes import check_mode
from models.training.trainers import TrainResult, cacheable, finish, one_programming, pretrain

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""Errors worth retrying (infrastructure, not the design point). Everything else fails the trial."""

CALIBRATION_SAMPLES = 256
"""Training samples used to calibrate converter ranges after programming."""


@dataclass(frozen=True)
class TrialContext:
    """Where a trial sits in its study."""

    study: str
    trial_number: int
    attempt: int = 0
    worker_node: str | None = None
    cache_dir: str | None = None
    """Folder of the trained-weights cache (train once, evaluate many); None disables it."""
    device: str = "cpu"
    """Torch device the trial runs on (``cpu`` or ``cuda``): network, physics, generators."""


def run_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """Run one design point and return its record, complete or failed."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    status, error, metrics = "complete", None, {}
    try:
        cache = WeightCache(ctx.cache_dir) if ctx.cache_dir else None
        metrics = evaluate_point(point, data, cache, ctx.device)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        status = "failed"
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            error += f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})"
    return TrialRecord(
        study=ctx.study,
        trial_number=ctx.trial_number,
        status=status,
        point=point,
        metrics=metrics,
        error=error,
        attempt=ctx.attempt,
        datetime_start=started,
        datetime_complete=datetime.now(UTC),
        worker_node=ctx.worker_node or socket.gethostname(),
        wall_seconds=time.perf_counter() - t0,
    )


def evaluate_point(
    point: DesignPoint, data: Dataset, cache: WeightCache | None = None, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Train, program on ``hardware_seeds`` chips, read at every read time, and cost one point.

    The network is built on the CPU (the same initial weights everywhere) and moved to the torch
    ``device``, where training and evaluation run; the data stay on the CPU and move by batch.
    """
    check_mode(point.device, point.mode)  # an invalid device × mode pair fails before any work
    cfg = point.train_config()
    torch.manual_seed(point.seed)
    x_train = torch.from_numpy(data.x_train).reshape(-1, *data.in_shape)
    y_train = torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(data.x_test).reshape(-1, *data.in_shape)
    y_test = torch.from_numpy(data.y_test)
    analog = point.analog_config()
    model = build_network(point.network_config(data.in_shape, data.classes), analog).to(device)
    key = f"{point.training_key()}-{data_fingerprint(data)}" if cache and cacheable(cfg) else None
    hit = cache.load(key, model) if cache and key else None
    if hit is not None:
        trained = TrainResult(hit.seconds, hit.steps, hit.final_loss, one_programming(model))
    else:
        trained = pretrain(model, x_train, y_train, cfg)  # off-chip: depends only on the training key
        if cache and key:
            cache.save(key, model, trained.seconds, trained.steps, trained.final_loss)
    trained = finish(model, x_train, y_train, cfg, trained)  # apt's calibration on this hardware

    t_eval = time.perf_counter()
    inference.set_analog(model, False)
    acc_fp = inference.accuracy(model, x_test, y_test)
    inference.set_analog(model, True)
    # apt touches only its apt_data_fraction subset, converter ranges included
    x_cal = apt.calibration_subset(x_train, y_train, cfg)[0] if cfg.mode is TrainMode.APT else x_train
    by_time = inference.evaluate_read_times(
        model,
        x_cal[:CALIBRATION_SAMPLES],
        x_test,
        y_test,
        point.hardware_seeds_list(),
        tuple(READ_TIMES.values()),
    )
    eval_seconds = time.perf_counter() - t_eval
    headline = by_time[(READ_TIMES[point.read_time], point.gdc)]
    columns = {
        f"accuracy_t_{label}{'_gdc' if gdc else ''}": statistics.fmean(by_time[(t, gdc)])
        for label, t in READ_TIMES.items()
        for gdc in (False, True)
    }

    layers = analog_layers(model)
    shapes = layer_shapes(model, x_test[:2])
    cost = hardware_cost(
        analog,
        layers[0].device_spec,
        shapes,
        trained.writes.max_per_device,
        trained.writes.mean_per_device,
        mean_g_fraction=_mean_conductance_fraction(model),
        writes_total=trained.writes.total,
        train_samples=trained.train_samples,
        digital_state_bits_per_weight=trained.digital_bits_per_weight,
        write_attempts_total=trained.write_attempts.total,
        write_attempts_max=trained.write_attempts.max_per_device,
        cost=point.cost_config(),
    )
    kinds = dict(trained.writes_by_kind)
    writes = {
        f"{stat}_writes_{kind}": getattr(kinds[kind], f"{stat}_per_device") if kind in kinds else float("nan")
        for kind in WRITE_KINDS
        for stat in ("max", "mean")
    }
    return {
        "accuracy": statistics.fmean(headline),
        "accuracy_std": statistics.pstdev(headline) if len(headline) > 1 else 0.0,
        "accuracy_fp": acc_fp,
        **columns,
        "train_seconds": trained.seconds,
        "calibration_seconds": trained.calibration_seconds,
        "eval_seconds": eval_seconds,
        "extra_devices": trained.extra_devices,
        **writes,
        "cache_hit": hit is not None,
        "eval_chip": inference.eval_chip(model),
        **cost.as_row(),
    }


def data_fingerprint(data: Dataset) -> str:
    """The dataset's name and a hash of its training split (its order and labels depend on the
    split seed), so cached weights are never shared across different splits."""
    digest = hashlib.sha256(data.y_train.tobytes() + data.x_train[:8].tobytes()).hexdigest()[:12]
    return f"{data.name}-{digest}"


def _mean_conductance_fraction(model: torch.nn.Module) -> float:
    """Mean |w|/w_max over all weights: where the weight's device sits above g_min."""
    total, count = 0.0, 0
    for layer in analog_layers(model):
        w = layer.weight.detach()
        total += float((w.abs() / layer.w_max()).sum())
        count += w.numel()
    return total / max(1, count)
