"""A training run that can stop after any whole epoch, be saved, and continue later.

Multi-fidelity search trains a design to a rung (1 epoch, say), evaluates it and, if it is
promoted, trains on to the next rung from where it stopped. :class:`TrainingRun` is that
run: :meth:`TrainingRun.start` builds the mode's epoch loop (:data:`TRAINERS`),
:meth:`~TrainingRun.advance` trains to a number of epochs, :meth:`~TrainingRun.save` writes
a checkpoint, :meth:`~TrainingRun.load` reads it back, and :meth:`~TrainingRun.finish` ends
training and reports over all epochs so far. A run stopped and resumed is bit-identical to
one that never stopped: the checkpoint holds the model, the loop's generator, momentum
buffers, step count, the updater's device state and counters, the training chip's converter
calibration, and the global torch random streams (training read noise draws from them).

To evaluate at a rung and go on later: ``save``, then ``finish`` and evaluate; a promotion
``load``s the checkpoint (``finish`` ends a run for good: on-chip modes hand their trained
chip to the layers, ``pcm_2t1c`` empties its capacitors).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from models import allocator
from models.config import TrainConfig, TrainMode
from models.training import apt
from models.training.digital import fp_loop, hwa_loop
from models.training.hic import Hic
from models.training.onchip import MixedPrecision, PulsedSGD, onchip_loop
from models.training.outcome import TrainingDiverged, TrainResult
from models.training.pcm_2t1c import Pcm2T1CLoop
from models.training.qnn import Qnn

FORMAT = "dse-training-run"
"""The tag every checkpoint carries (a file without it is foreign)."""
VERSION = 1
"""The checkpoint layout; a file of another version is refused."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, foreign or of another configuration; the message
    names the file and the reason."""


class EpochLoop(Protocol):
    """One training mode's loop, one whole epoch at a time.

    Contract: built before the first epoch (it seeds its generator and the global stream from
    ``cfg.seed`` and programs the initial state); :meth:`epoch` trains one pass over (x, y) and
    returns its mean loss; :attr:`steps` counts optimizer steps so far; :meth:`end` ends
    training, leaves the model ready to evaluate and returns the result; it is called once.
    Everything the loop keeps is picklable and none of it is training data (a checkpoint
    pickles the loop; the data come back with :meth:`TrainingRun.load`).
    """

    model: nn.Module
    steps: int

    def epoch(self, x: Tensor, y: Tensor) -> float: ...

    def end(self, seconds: float, final_loss: float, samples: int) -> TrainResult: ...


LoopFactory = Callable[[nn.Module, Tensor, Tensor, TrainConfig], EpochLoop]
"""Builds a mode's epoch loop on ``model`` (it may read (x, y) once, e.g. a calibration batch)."""

TRAINERS: dict[TrainMode, LoopFactory] = {
    TrainMode.HWA: hwa_loop,
    TrainMode.APT: fp_loop,
    TrainMode.ONCHIP_SGD: onchip_loop(PulsedSGD),
    TrainMode.MIXED_PRECISION: onchip_loop(MixedPrecision),
    TrainMode.HIC: onchip_loop(Hic),
    TrainMode.QNN: onchip_loop(Qnn),
    TrainMode.PCM_2T1C: Pcm2T1CLoop,
}
"""Training mode → its epoch loop. A new mode is one entry here and one ``TrainMode`` value."""


def hardware_stage(
    model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, result: TrainResult
) -> TrainResult:
    """The hardware-dependent stage after training (apt's calibration; else nothing)."""
    if cfg.mode is not TrainMode.APT:
        return result
    return dataclasses.replace(result, calibration_seconds=apt.calibrate(model, x, y, cfg))


SIGNATURE_ROWS = 1024
"""Evenly spaced samples of the training inputs hashed into :func:`data_signature` (labels: all)."""


def data_signature(x: Tensor, y: Tensor) -> str:
    """A hash of the training split's shapes and dtypes, all its labels in order and
    :data:`SIGNATURE_ROWS` evenly spaced inputs: a resumed run must see the data it started on.
    Exact bytes, so no thread count or reduction order can change it."""
    rows = torch.linspace(0, x.shape[0] - 1, min(SIGNATURE_ROWS, x.shape[0]), device=x.device).long()
    digest = hashlib.sha256(f"{tuple(x.shape)} {x.dtype} {tuple(y.shape)} {y.dtype}".encode())
    for t in (y, x.index_select(0, rows)):
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """A hash of every source file of ``models/``: a checkpoint resumes bit-identically only
    under the code that wrote it (and its pickled objects may not fit other code)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for source in sorted(root.rglob("*.py")):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def _rng_state() -> dict[str, Any]:
    """The global torch random streams (CPU, and every CUDA device once CUDA is in use)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingRun:
    """Training of one design that can stop after any whole epoch and continue later.

    The run owns the global torch random streams while it trains: each :meth:`advance`
    restores them as the previous one left them, so whatever runs between two calls
    (an evaluation) changes nothing. Between calls an on-chip model is still in training
    (chip reads on): evaluate only after :meth:`finish`.
    """

    def __init__(self, loop: EpochLoop, cfg: TrainConfig, x: Tensor, y: Tensor, seconds: float) -> None:
        self.loop, self.cfg = loop, cfg
        self.model: nn.Module = loop.model
        self.epochs_done = 0
        self.seconds = seconds
        """Wall time spent training so far, summed over every resume."""
        self.final_loss = math.nan
        """Mean training loss of the last epoch run (NaN before the first)."""
        self._x, self._y = x, y
        self._data = data_signature(x, y)
        self._rng = _rng_state()
        self._ended: TrainResult | None = None
        self._finished = False
        self._failed: str | None = None

    @classmethod
    def start(
        cls, model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, make: LoopFactory | None = None
    ) -> TrainingRun:
        """A run of ``cfg.mode`` on ``model`` (trained in place) with 0 epochs done; ``make``
        replaces the mode's loop (:data:`TRAINERS`)."""
        begin = time.perf_counter()
        loop = (make or TRAINERS[cfg.mode])(model, x, y, cfg)
        return cls(loop, cfg, x, y, time.perf_counter() - begin)

    def advance(self, epochs: int) -> None:
        """Train until ``epochs_done == epochs`` (``epochs_done <= epochs <= cfg.epochs``; equal:
        nothing to do).

        Raises:
            TrainingDiverged: the loss of an epoch is NaN or infinite. After it, or any other
                error inside an epoch, the run can neither advance, end nor be saved (a
                checkpoint of a half-trained epoch would resume wrongly).
        """
        self._check_open("advance")
        allocator.keep_freed_memory()  # steps reuse their freed pages (models/allocator.py)
        if not self.epochs_done <= epochs <= self.cfg.epochs:
            raise ValueError(
                f"advance to epochs={epochs}: must be in {self.epochs_done}..{self.cfg.epochs} "
                f"(epochs_done={self.epochs_done}, cfg.epochs={self.cfg.epochs})"
            )
        _set_rng_state(self._rng)
        begin = time.perf_counter()
        try:
            while self.epochs_done < epochs:
                loss = self.loop.epoch(self._x, self._y)
                self.epochs_done += 1
                self.final_loss = loss
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"training loss is {loss} after {self.loop.steps} steps (lr={self.cfg.lr})"
                    )
        except BaseException as e:  # diverged, or stopped inside an epoch: its state is no checkpoint
            self._failed = f"{type(e).__name__}: {e}"
            raise
        finally:
            self.seconds += time.perf_counter() - begin
            self._rng = _rng_state()

    def trained(self) -> TrainResult:
        """End training without the hardware-dependent stage (what :func:`pretrain` reports: for
        off-chip modes it depends only on ``cfg``); cumulative over every epoch run. On-chip
        modes hand the trained chip to the layers; ``pcm_2t1c`` runs its last transfer."""
        self._check_open("end")
        _set_rng_state(self._rng)
        begin = time.perf_counter()
        samples = self.epochs_done * self._x.shape[0]
        partial = self.loop.end(0.0, self.final_loss, samples)
        seconds = self.seconds + time.perf_counter() - begin
        self._ended = dataclasses.replace(partial, seconds=seconds)
        self._rng = _rng_state()
        return self._ended

    def finish(self) -> TrainResult:
        """The cumulative result over all epochs so far (time and steps summed across resumes,
        writes from the device counters, ``train_samples`` = epochs_done · n for on-chip modes),
        with the model ready to evaluate (on-chip: the trained chip; ``pcm_2t1c``: last transfer;
        ``apt``: calibration). The run cannot advance afterwards."""
        if self._finished:
            raise RuntimeError("this training run is finished already")
        result = self._ended if self._ended is not None else self.trained()
        _set_rng_state(self._rng)
        self._finished = True
        return hardware_stage(self.model, self._x, self._y, self.cfg, result)

    def _check_open(self, what: str) -> None:
        if self._failed is not None:
            raise RuntimeError(f"cannot {what} a training run whose last advance failed ({self._failed})")
        if self._ended is not None:
            raise RuntimeError(
                f"cannot {what} a training run that has ended (after {self.epochs_done} epochs)"
            )

    def save(self, path: str | Path) -> None:
        """Write the run to ``path`` atomically (a temp file beside it, then ``os.replace``), so a
        killed worker never leaves half a file. Holds no training data."""
        self._check_open("save")
        path = Path(path)
        state = {
            "format": FORMAT,
            "version": VERSION,
            "code": code_version(),
            "cfg": self.cfg,
            "epochs_done": self.epochs_done,
            "seconds": self.seconds,
            "final_loss": self.final_loss,
            "data": self._data,
            "rng": self._rng,
            "loop": self.loop,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainingRun:
        """The run saved at ``path``, to continue on the same training split (x, y) and ``cfg``.

        The file is unpickled (``torch.load(..., weights_only=False)``): it holds the model, the
        loop and the updater as objects. That is safe only because the file is the study's own,
        written by :meth:`save`; never load a checkpoint from elsewhere.

        Raises:
            CheckpointError: the file is missing, truncated or not a checkpoint; or it was written
                by other code (another :func:`code_version`), with another ``cfg`` (naming the
                first differing field) or on other training data.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path}: missing (no such file)")
        try:
            state = torch.load(path, map_location=None, weights_only=False)
        except Exception as e:  # truncated zip, random bytes, a pickle of missing classes …
            raise CheckpointError(
                f"checkpoint {path}: damaged or not a checkpoint ({type(e).__name__}: {e})"
            ) from e
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint {path}: not a training-run checkpoint (no {FORMAT!r} tag)")
        if state.get("version") != VERSION:
            raise CheckpointError(
                f"checkpoint {path}: layout version {state.get('version')!r}, expected {VERSION}"
            )
        if state.get("code") != code_version():
            raise CheckpointError(
                f"checkpoint {path}: written by other code (models/ source hash {state.get('code')}, "
                f"this is {code_version()})"
            )
        saved = state["cfg"]
        for field in dataclasses.fields(TrainConfig):
            was, now = getattr(saved, field.name), getattr(cfg, field.name)
            if was != now:
                raise CheckpointError(
                    f"checkpoint {path}: saved with cfg.{field.name}={was!r}, but this run has {now!r}"
                )
        if state["data"] != data_signature(x, y):
            raise CheckpointError(
                f"checkpoint {path}: trained on other data (split signature {state['data']}, "
                f"this split's is {data_signature(x, y)})"
            )
        loop = state["loop"]
        chip = getattr(loop, "chip", None)
        if chip is not None:
            chip.attach(x, y)
        run = cls(loop, cfg, x, y, state["seconds"])
        run.epochs_done, run.final_loss, run._rng = state["epochs_done"], state["final_loss"], state["rng"]
        return run


__all__ = [
    "TRAINERS",
    "CheckpointError",
    "EpochLoop",
    "LoopFactory",
    "TrainingRun",
    "code_version",
    "hardware_stage",
]
