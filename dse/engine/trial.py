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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from dse.engine.cache import WeightCache
from dse.engine.data import Dataset
from dse.engine.interval import accuracy_interval
from dse.schema.point import READ_TIMES, DesignPoint
from dse.schema.record import WRITE_KINDS, TrialRecord
from models.config import AptTarget, TrainConfig, TrainMode
from models.cost.breakdown import LayerReads, LayerShape
from models.cost.model import hardware_cost
from models.cost.reads import input_duty, layer_reads, pair_conductance_us
from models.nn import inference
from models.nn.networks import analog_layers, build_network, layer_shapes
from models.nn.read_activity import LayerActivity, ReadActivity
from models.physics.devices import get_device
from models.training import apt
from models.training.modes import check_mode
from models.training.session import CheckpointError, TrainingRun
from models.training.trainers import TrainResult, cacheable, finish, one_programming, pretrain

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""Errors worth retrying (infrastructure, not the design point). Everything else fails the trial."""

CALIBRATION_SAMPLES = 256
"""Training samples used to calibrate converter ranges after programming."""

"""Device subsets with their own write columns (``max_writes_<kind>``, ``mean_writes_<kind>``)."""


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
    repeats: int = 1
    """Training repeats of the design (seeds ``seed`` … ``seed + repeats - 1``): ``[study] repeats``."""
    rung_epochs: int | None = None
    """Multi-fidelity: train to this many epochs (a rung), resuming from :attr:`checkpoint`, and save
    it there; None trains the point's ``epochs`` with no checkpoint."""
    checkpoint: str | None = None
    """The trial's checkpoint file (repeat ``r`` > 0 adds ``.r<r>`` before the suffix)."""
    resume: bool = False
    """The driver expects :attr:`checkpoint` to exist (a promotion): its absence is warned about."""


def run_trial(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
    """Run one design point and return its record, complete or failed."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    status, error, metrics = "complete", None, {}
    try:
        cache = WeightCache(ctx.cache_dir) if ctx.cache_dir else None
        rung = Rung(ctx.rung_epochs, ctx.checkpoint, ctx.resume) if ctx.rung_epochs is not None else None
        metrics = evaluate_point(point, data, cache, ctx.device, ctx.repeats, rung)
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
        torch_device=str(ctx.device).split(":", 1)[0],  # the type: cuda:1 → cuda
        torch_threads=torch.get_num_threads(),
    )


def evaluate_point(
    point: DesignPoint,
    data: Dataset,
    cache: WeightCache | None = None,
    device: str | torch.device = "cpu",
    repeats: int = 1,
    rung: Rung | None = None,
) -> dict[str, Any]:
    """Train ``repeats`` times (training seeds ``seed``, ``seed + 1``, …), program each on
    ``hardware_seeds`` chips, read at every read time, and cost the first repeat.

    Every accuracy column is the mean over all repeats and chips, with its std and a 95 %
    interval (:func:`dse.engine.interval.accuracy_interval`). The repeats share the loaded data;
    each caches its own trained weights. The cost and write columns are those of the first
    repeat (training seed ``seed``), the design as its own seed trains it. The network is built on
    the CPU (the same initial weights everywhere) and moved to the torch ``device``.

    With a ``rung`` (multi-fidelity search), each repeat trains to ``rung.epochs`` from its
    checkpoint (:func:`_train_to_rung`) and no weights cache is used; the readings are those
    after ``rung.epochs`` epochs.
    """
    check_mode(point.device, point.mode)  # an invalid device × mode pair fails before any work
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    tensors = (
        torch.from_numpy(data.x_train).reshape(-1, *data.in_shape),
        torch.from_numpy(data.y_train),
        torch.from_numpy(data.x_test).reshape(-1, *data.in_shape),
        torch.from_numpy(data.y_test),
    )
    model, first = _train_and_read(point, data, tensors, cache, device, rung)  # costed: kept
    trained = first.trained
    runs = [first]
    for r in range(1, repeats):  # later repeats keep their readings, not their networks (memory)
        again = rung.repeat(r) if rung else None
        runs.append(
            _train_and_read(point.replace(seed=point.seed + r), data, tensors, cache, device, again)[1]
        )
    n_test = len(data.y_test)
    headline_key = (READ_TIMES[point.read_time], point.gdc)
    accuracy: dict[str, float] = {}
    for name, key in (
        ("accuracy", headline_key),
        *(
            (f"accuracy_t_{label}{'_gdc' if gdc else ''}", (t, gdc))
            for label, t in READ_TIMES.items()
            for gdc in (False, True)
        ),
    ):
        iv = accuracy_interval([run.by_time[key] for run in runs], n_test)
        accuracy |= {
            name: iv.mean,
            f"{name}_std": iv.std,
            f"{name}_ci_low": iv.low,
            f"{name}_ci_high": iv.high,
        }

    layers = analog_layers(model)
    shapes = layer_shapes(model, tensors[2][:2])
    reads, read_columns = cell_reads(first.activity, shapes, point)
    cost = hardware_cost(
        point.analog_config(),
        layers[0].device_spec,
        shapes,
        trained.writes.max_per_device,
        trained.writes.mean_per_device,
        reads=reads,
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
        **accuracy,
        "accuracy_fp": statistics.fmean(run.acc_fp for run in runs),
        "repeats": repeats,
        "train_seconds": sum(run.trained.seconds for run in runs),
        "calibration_seconds": sum(run.trained.calibration_seconds for run in runs),
        "eval_seconds": sum(run.eval_seconds for run in runs),
        "extra_devices": trained.extra_devices,
        **writes,
        "cache_hit": all(run.hit for run in runs),
        "eval_chip": inference.eval_chip(model),
        "data_fingerprint": data_fingerprint(data),
        "epochs_done": rung.epochs if rung else point.epochs,
        **(
            {
                "resumed_from_epochs": min(r.resumed_from for r in runs),
                "warning": "; ".join(r.warning for r in runs if r.warning) or None,
            }
            if rung
            else {}
        ),
        **read_columns,
        **cost.as_row(),
    }


def cell_reads(
    activity: list[LayerActivity], shapes: list[LayerShape], point: DesignPoint
) -> tuple[list[LayerReads] | None, dict[str, Any]]:
    """Each layer's charged cell reads (measured duty or the fixed knob, the evaluated chips'
    conductance), and the row's read columns: per layer and read-weighted (by MACs) over the
    network. None and null columns for the digital baseline, which has no cell reads."""
    analog, cost = point.analog_config(), point.cost_config()
    device = get_device(analog.device)
    if not device.analog or len(activity) != len(shapes):
        nulls = ("input_duty_measured", "cell_g_us", "input_duty_by_layer", "cell_g_us_by_layer")
        return None, dict.fromkeys(nulls)
    bits = analog.dac_bits
    duties = [input_duty(a.codes, bits, cost.input_encoding) if bits else None for a in activity]
    g = [pair_conductance_us(a.g_sum_us, a.chips, a.weights, analog, device) for a in activity]
    macs = [s.rows * s.cols * s.uses_per_inference for s in shapes]
    known = [d for d in duties if d is not None]
    return [layer_reads(d, gi, cost) for d, gi in zip(duties, g, strict=True)], {
        "input_duty_measured": _weighted(known, macs) if len(known) == len(duties) else None,
        "cell_g_us": _weighted(g, macs),
        "input_duty_by_layer": ",".join(repr(float("nan") if d is None else d) for d in duties),
        "cell_g_us_by_layer": ",".join(repr(v) for v in g),
    }


def _weighted(values: list[float], weights: list[int]) -> float:
    """Mean of ``values`` weighted by ``weights``, summed in order (the same at any thread count)."""
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


@dataclass(frozen=True)
class _Run:
    """One training repeat, programmed and read on every chip."""

    trained: TrainResult
    hit: bool
    acc_fp: float
    by_time: dict[tuple[float, bool], list[float]]
    """(read time in s, GDC) → one accuracy per chip."""
    eval_seconds: float
    activity: list[LayerActivity]
    """Each analog layer's DAC codes and chip conductances (``models.nn.read_activity``)."""
    resumed_from: int = 0
    """Epochs loaded from the checkpoint (multi-fidelity; 0: trained from scratch)."""
    warning: str | None = None
    """Why a checkpoint the driver expected was not used (it retrained from scratch)."""


@dataclass(frozen=True)
class Rung:
    """Multi-fidelity: train to ``epochs``, resuming from ``checkpoint`` when it is there, and save."""

    epochs: int
    checkpoint: str | None
    resume: bool = False
    """A checkpoint is expected (a promotion): its absence is warned about."""

    def repeat(self, r: int) -> Rung:
        """The rung of training repeat ``r`` (its own checkpoint file)."""
        if self.checkpoint is None or r == 0:
            return self
        p = Path(self.checkpoint)
        return replace(self, checkpoint=str(p.with_name(f"{p.stem}.r{r}{p.suffix}")))


def _train_and_read(
    point: DesignPoint,
    data: Dataset,
    tensors: tuple[torch.Tensor, ...],
    cache: WeightCache | None,
    device: str | torch.device,
    rung: Rung | None = None,
) -> tuple[torch.nn.Module, _Run]:
    """Train (or load) the point's weights with its training seed; evaluate on its chips.
    Returns the trained network and the run's readings."""
    x_train, y_train, x_test, y_test = tensors
    cfg = point.train_config()
    torch.manual_seed(point.seed)
    model = build_network(point.network_config(data.in_shape, data.classes), point.analog_config()).to(device)
    key = (
        f"{point.training_key()}-{data_fingerprint(data)}" if cache and cacheable(cfg) and not rung else None
    )
    hit = cache.load(key, model) if cache and key else None
    resumed_from, warning = 0, None
    per_chip = None
    if rung is not None:
        run, resumed_from, warning = _train_to_rung(model, x_train, y_train, cfg, rung)
        model = run.model
        if _apt_on_each_chip(cfg):  # each chip calibrates itself: end without the run's calibration
            trained = run.trained()
            per_chip = apt.PerChip(model, x_train, y_train, cfg)
        else:
            trained = run.finish()  # cumulative over every epoch, hardware stage included
    else:
        if hit is not None:
            trained = TrainResult(hit.seconds, hit.steps, hit.final_loss, one_programming(model))
        else:
            trained = pretrain(model, x_train, y_train, cfg)  # off-chip: depends only on the training key
            if cache and key:
                cache.save(key, model, trained.seconds, trained.steps, trained.final_loss)
        per_chip = apt.PerChip(model, x_train, y_train, cfg) if _apt_on_each_chip(cfg) else None
        if per_chip is None:
            trained = finish(model, x_train, y_train, cfg, trained)  # apt's calibration on this hardware

    t_eval = time.perf_counter()
    acc_fp = inference.digital_accuracy(model, x_test, y_test)
    # apt touches only its apt_data_fraction subset, converter ranges included
    x_cal = apt.calibration_subset(x_train, y_train, cfg)[0] if cfg.mode is TrainMode.APT else x_train
    activity = ReadActivity(model, (READ_TIMES[point.read_time], point.gdc))  # the headline reading
    by_time = inference.evaluate_read_times(
        model,
        x_cal[:CALIBRATION_SAMPLES],
        x_test,
        y_test,
        point.hardware_seeds_list(),
        tuple(READ_TIMES.values()),
        prepare=per_chip,
        activity=activity,
    )
    if per_chip is not None:  # each chip was calibrated on itself; its time is APT's
        per_chip.restore()
        trained = replace(trained, calibration_seconds=per_chip.seconds)
    seconds = time.perf_counter() - t_eval
    result = _Run(
        trained, hit is not None, acc_fp, by_time, seconds, activity.result(), resumed_from, warning
    )
    return model, result


def _train_to_rung(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, rung: Rung
) -> tuple[TrainingRun, int, str | None]:
    """Resume the run from the rung's checkpoint when there is one (else start it on ``model``),
    train it to ``rung.epochs`` and save it back. Returns the run, the epochs it resumed from and,
    when an expected checkpoint could not be used, a warning naming the file (it retrained)."""
    path = Path(rung.checkpoint) if rung.checkpoint else None
    run, warning = None, None
    if path is not None and (rung.resume or path.exists()):
        try:
            run = TrainingRun.load(path, x, y, cfg)
            if run.epochs_done > rung.epochs:
                raise CheckpointError(
                    f"checkpoint {path}: holds {run.epochs_done} epochs, past {rung.epochs}"
                )
        except CheckpointError as exc:
            warning, run = f"{exc}; retrained from scratch", None
    if run is None:
        run = TrainingRun.start(model, x, y, cfg)
    resumed = run.epochs_done
    run.advance(rung.epochs)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        run.save(path)
    return run, resumed, warning


def _apt_on_each_chip(cfg: TrainConfig) -> bool:
    """APT against the chip: calibrated on each evaluated chip, as a deployment does (source 000).
    Against the noise statistics it calibrates once and every chip uses the result."""
    return cfg.mode is TrainMode.APT and cfg.apt_target is AptTarget.CHIP


def data_fingerprint(data: Dataset) -> str:
    """The dataset's name and a hash of its training split (its order and labels depend on the
    split seed), so cached weights are never shared across different splits."""
    digest = hashlib.sha256(data.y_train.tobytes() + data.x_train[:8].tobytes()).hexdigest()[:12]
    return f"{data.name}-{digest}"
