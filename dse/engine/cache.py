"""Train once, evaluate many: a content-addressed cache of trained weights.

Off-chip modes (hwa, apt before calibration) train weights that depend only on the
training-relevant part of a design point, so points that differ only in hardware knobs
(device, ADC/DAC bits, tile size, read times, hardware seeds) load them instead of training.
The key is :meth:`DesignPoint.training_key` plus the dataset's identity. Entries are
written atomically (temp file, fsync, then ``os.replace``), so workers on several nodes may
share one folder: two that miss at once both train and write the same content.

Each entry carries a SHA-256 of its content (every tensor's name, dtype, shape and bytes, and
the training outcome), checked on load together with the shapes the model expects. An entry
that cannot be read, fails its hash, lacks it (an older format) or does not fit the model is
a miss: the trial retrains and :meth:`WeightCache.save` replaces the entry. Nothing is copied
into the model before every check has passed.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        """Load the weights of ``key`` into ``model`` (on its torch device); None on a miss.

        A miss leaves ``model`` untouched: an absent, unreadable or tampered entry (its SHA-256
        does not match), or one whose tensors do not fit ``model`` (another architecture under
        the same key).
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # whatever a damaged file makes torch.load raise: a miss, retrain
            return None
        outcome = _verified(blob)
        if outcome is None or not _fits(blob["state"], model):
            return None
        model.load_state_dict(blob["state"], strict=False)
        return outcome

    def save(self, key: str, model: nn.Module, seconds: float, steps: int, final_loss: float) -> Path:
        """Store ``model``'s trained state under ``key`` atomically, as CPU tensors, with its SHA-256;
        an existing entry is replaced."""
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items() if not _converter(k)}
        outcome = {"seconds": float(seconds), "steps": int(steps), "final_loss": float(final_loss)}
        blob = {"state": state, **outcome, "sha256": content_sha256(state, outcome)}
        tmp = self.folder / f".tmp-{uuid.uuid4().hex[:8]}.partial"
        with open(tmp, "wb") as fh:
            torch.save(blob, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path(key))
        return self.path(key)


def content_sha256(state: Mapping[str, torch.Tensor], outcome: Mapping[str, float | int]) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes, in name order) and the training outcome."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(repr(sorted(outcome.items())).encode())
    return digest.hexdigest()


def _verified(blob: Any) -> CachedTraining | None:
    """The training outcome of a well-formed entry whose hash matches its content, else None."""
    if not isinstance(blob, dict) or not isinstance(blob.get("state"), dict):
        return None
    state = blob["state"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return None
    try:
        outcome = {"seconds": float(blob["seconds"]), "steps": int(blob["steps"])}
        outcome["final_loss"] = float(blob["final_loss"])
    except (KeyError, TypeError, ValueError):
        return None
    if blob.get("sha256") != content_sha256(state, outcome):
        return None
    return CachedTraining(outcome["seconds"], int(outcome["steps"]), outcome["final_loss"])


def _fits(state: Mapping[str, torch.Tensor], model: nn.Module) -> bool:
    """Whether ``state`` holds exactly ``model``'s trainable state (converter buffers aside) with the
    same shapes and dtypes, so ``load_state_dict`` cannot fail halfway."""
    expected = {k: v for k, v in model.state_dict().items() if not _converter(k)}
    if set(state) != set(expected):
        return False
    return all(state[k].shape == v.shape and state[k].dtype == v.dtype for k, v in expected.items())


def _converter(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in CONVERTER_BUFFERS


def converter_buffer_names(model: nn.Module) -> set[str]:
    """Names of converter buffers in ``model`` (for tests)."""
    names = {id(m) for m in analog_layers(model)}
    return {f"{n}.{b}" for n, m in model.named_modules() if id(m) in names for b in CONVERTER_BUFFERS}
