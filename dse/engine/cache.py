"""Train once, evaluate many: a content-addressed cache of trained weights.

Off-chip modes (hwa, apt before calibration) train weights that depend only on the
training-relevant part of a design point, so points that differ only in hardware knobs
(device, ADC/DAC bits, tile size, read times, hardware seeds) load them instead of training.
The key is :meth:`DesignPoint.training_key` plus the dataset's identity. Entries are
written atomically (temp file, then ``os.replace``), so workers on several nodes may share
one folder: two that miss at once both train and write the same content.
"""

from __future__ import annotations

import os
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.nn.networks import analog_layers

CONVERTER_BUFFERS = ("dac_range", "adc_range")
"""Analog-layer buffers sized by the hardware and re-calibrated at evaluation: never cached."""


@dataclass(frozen=True)
class CachedTraining:
    """What a hit restores: the hardware-independent outcome of training."""

    seconds: float
    steps: int
    final_loss: float


class WeightCache:
    """A folder of ``<key>.pt`` files, each the trainable state of one trained network.

    Entries hold CPU tensors and load onto the CPU, then into the model wherever it lives, so an
    entry written by a GPU trial serves a CPU trial and vice versa.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def load(self, key: str, model: nn.Module) -> CachedTraining | None:
        """Load the weights of ``key`` into ``model`` (on its torch device); None on a miss (or an
        unreadable entry)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
            return None  # a damaged entry is a miss; the trial retrains and rewrites it
        missing, unexpected = model.load_state_dict(blob["state"], strict=False)
        if unexpected or any(not _converter(name) for name in missing):
            return None  # an architecture change under the same key: retrain
        return CachedTraining(float(blob["seconds"]), int(blob["steps"]), float(blob["final_loss"]))

    def save(self, key: str, model: nn.Module, seconds: float, steps: int, final_loss: float) -> Path:
        """Store ``model``'s trained state under ``key`` atomically, as CPU tensors."""
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items() if not _converter(k)}
        tmp = self.folder / f".tmp-{uuid.uuid4().hex[:8]}.partial"
        torch.save({"state": state, "seconds": seconds, "steps": steps, "final_loss": final_loss}, tmp)
        os.replace(tmp, self.path(key))
        return self.path(key)


def _converter(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in CONVERTER_BUFFERS


def converter_buffer_names(model: nn.Module) -> set[str]:
    """Names of converter buffers in ``model`` (for tests)."""
    names = {id(m) for m in analog_layers(model)}
    return {f"{n}.{b}" for n, m in model.named_modules() if id(m) in names for b in CONVERTER_BUFFERS}
