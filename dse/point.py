"""A design point: one fully specified configuration of hardware, network and training.

:class:`DesignPoint` is the single registry of search parameters. Each field's metadata
gives its allowed values and its group (``hardware`` or ``training``), so the TOML loader
validates against it, the store derives Parquet columns from it, and the training cache
(train once, evaluate many) hashes only the training group.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.config import (
    AdcRange,
    AnalogConfig,
    MomentumPlacement,
    NetworkConfig,
    QnnWeights,
    RangeScope,
    TrainConfig,
    TrainMode,
)
from models.config import Mapping as WeightMapping
from models.devices import DEVICES
from models.inference import READ_TIMES_S
from models.networks import NETWORKS
from models.training import cacheable

READ_TIMES: dict[str, float] = dict(zip(("1s", "1h", "1d", "1y"), READ_TIMES_S, strict=True))
"""Evaluation read times after programming and their column labels (accuracy_t_<label>)."""

HARDWARE = "hardware"
TRAINING = "training"
FLOAT_UPDATE_BITS = 32
"""``update_bits`` of 32 or more means floating-point updates."""


def _choices(values: Callable[[], list[str]]) -> dict[str, Any]:
    return {"choices": values}


def _param(
    default: Any,
    group: str,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: Callable[[], list[str]] | None = None,
    lo_open: bool = False,
    cached: bool = True,
) -> Any:
    meta: dict[str, Any] = {
        "group": group,
        "doc": doc,
        "lo": lo,
        "hi": hi,
        "lo_open": lo_open,
        "cached": cached,
    }
    if choices is not None:
        meta["choices"] = choices
    return field(default=default, metadata=meta)


def _datasets() -> list[str]:
    from dse.data import LOADERS

    return sorted(LOADERS)


@dataclass(frozen=True)
class DesignPoint:
    """Every searchable parameter, with defaults. Unknown names are rejected by the loader."""

    device: str = _param("pcm", HARDWARE, "device technology", choices=lambda: sorted(DEVICES))
    tile_size: int = _param(256, HARDWARE, "crossbar rows and columns per tile", lo=8, hi=4096)
    tile_rows: int = _param(0, HARDWARE, "rows per tile; 0 = tile_size", lo=0, hi=4096)
    tile_cols: int = _param(0, HARDWARE, "columns per tile; 0 = tile_size", lo=0, hi=4096)
    adc_bits: int = _param(8, HARDWARE, "ADC resolution (bits)", lo=1, hi=16)
    dac_bits: int = _param(8, HARDWARE, "DAC resolution (bits)", lo=1, hi=16)
    adc_range: str = _param("calibrated", HARDWARE, "ADC range", choices=lambda: [r.value for r in AdcRange])
    prog_noise_scale: float = _param(1.0, HARDWARE, "multiplier on programming noise", lo=0.0, hi=10.0)
    read_noise_scale: float = _param(1.0, HARDWARE, "multiplier on read noise", lo=0.0, hi=10.0)
    adc_scope: str = _param(
        "tile", HARDWARE, "which outputs share an ADC range", choices=lambda: [r.value for r in RangeScope]
    )
    dac_range: str = _param("calibrated", HARDWARE, "DAC range", choices=lambda: [r.value for r in AdcRange])
    mapping: str = _param(
        "sign_pair", HARDWARE, "weight-to-conductance mapping", choices=lambda: [m.value for m in Mapping]
    )
    binary_devices: int = _param(
        0, HARDWARE, "bit slicing: binary (most significant) device pairs per weight", lo=0, hi=16
    )
    multilevel_devices: int = _param(
        1, HARDWARE, "bit slicing: multi-level device pairs per weight", lo=0, hi=16
    )
    slice_levels: int = _param(
        0, HARDWARE, "levels of each multi-level slice; 0 = the device's", lo=0, hi=4096
    )
    slice_base: float = _param(
        0.0, HARDWARE, "significance base between slices; 0 = positional", lo=0.0, hi=4096.0
    )
    gdc: bool = _param(True, HARDWARE, "global drift compensation for the headline accuracy")
    drift: bool = _param(True, HARDWARE, "apply the device's drift law at read times")
    stuck_off_fraction: float = _param(0.0, HARDWARE, "devices stuck at g_min", lo=0.0, hi=1.0)
    stuck_on_fraction: float = _param(0.0, HARDWARE, "devices stuck at g_max", lo=0.0, hi=1.0)
    ir_drop: float = _param(0.0, HARDWARE, "first-order IR-drop strength (0 = off)", lo=0.0, hi=1.0)
    read_time: str = _param(
        "1s", HARDWARE, "read time of the headline accuracy", choices=lambda: list(READ_TIMES)
    )
    hardware_seeds: int = _param(3, HARDWARE, "independently programmed chips averaged", lo=1, hi=1000)
    mode: str = _param("hwa", TRAINING, "training mode", choices=lambda: [m.value for m in TrainMode])
    model: str = _param("mlp", TRAINING, "network architecture", choices=lambda: sorted(NETWORKS))
    dataset: str = _param("digits", TRAINING, "dataset", choices=_datasets)
    data_path: str = _param("", TRAINING, "folder of a local dataset (MNIST/CIFAR-10); '' for bundled")
    width_mult: float = _param(
        1.0, TRAINING, "width multiplier of hidden layers", lo=0.0, hi=16.0, lo_open=True
    )
    hidden: tuple[int, ...] = _param((128, 128), TRAINING, "MLP hidden widths at width_mult 1")
    update_bits: int = _param(
        FLOAT_UPDATE_BITS, TRAINING, "weight-update precision (bits; 32 = float)", lo=1, hi=64
    )
    epochs: int = _param(10, TRAINING, "training epochs", lo=1, hi=10_000)
    batch_size: int = _param(64, TRAINING, "mini-batch size", lo=1, hi=65_536)
    lr: float = _param(0.05, TRAINING, "learning rate", lo=0.0, hi=10.0, lo_open=True)
    momentum: float = _param(0.9, TRAINING, "SGD momentum", lo=0.0, hi=0.999)
    eta_train: float = _param(0.04, TRAINING, "hwa injected weight noise (fraction of w_max)", lo=0.0, hi=1.0)
    seed: int = _param(0, TRAINING, "training seed (the study seed unless set)", lo=0, hi=2**31 - 1)
    train_weight_bits: int = _param(
        0, TRAINING, "hwa: fake-quantize weights to these signed bits while training; 0 = off", lo=0, hi=16
    )
    hwa_converters_in_loop: bool = _param(
        False, TRAINING, "hwa: train through the point's analog forward (weights then depend on hardware)"
    )
    momentum_placement: str = _param(
        "digital",
        TRAINING,
        "on-chip modes: momentum none, digital (beside the array) or in_memory (onchip_sgd only)",
        choices=lambda: [m.value for m in MomentumPlacement],
    )
    apt_data_fraction: float = _param(
        0.01,
        TRAINING,
        "apt: fraction of training data for calibration",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        cached=False,
    )
    apt_steps: int = _param(100, TRAINING, "apt: calibration steps", lo=1, hi=100_000, cached=False)
    apt_lr: float = _param(
        0.001, TRAINING, "apt: calibration learning rate (Adam)", lo=0.0, hi=1.0, lo_open=True, cached=False
    )
    qnn_weights: str = _param(
        "ternary", TRAINING, "qnn: binary or ternary weights", choices=lambda: [q.value for q in QnnWeights]
    )

    # ------------------------------------------------------------ derived configs

    @property
    def rows(self) -> int:
        """Effective tile rows."""
        return self.tile_rows or self.tile_size

    @property
    def cols(self) -> int:
        """Effective tile columns."""
        return self.tile_cols or self.tile_size

    def analog_config(self) -> AnalogConfig:
        """The hardware mapping of this point."""
        return AnalogConfig(
            device=self.device,
            tile_rows=self.rows,
            tile_cols=self.cols,
            adc_bits=self.adc_bits,
            dac_bits=self.dac_bits,
            adc_range=AdcRange(self.adc_range),
            prog_noise_scale=self.prog_noise_scale,
            read_noise_scale=self.read_noise_scale,
            drift=self.drift,
            adc_scope=RangeScope(self.adc_scope),
            dac_range=AdcRange(self.dac_range),
            mapping=WeightMapping(self.mapping),
            binary_devices=self.binary_devices,
            multilevel_devices=self.multilevel_devices,
            slice_levels=self.slice_levels or None,
            slice_base=self.slice_base or None,
            read_time_s=READ_TIMES[self.read_time],
            gdc=self.gdc,
            stuck_off_fraction=self.stuck_off_fraction,
            stuck_on_fraction=self.stuck_on_fraction,
            ir_drop=self.ir_drop,
        )

    def network_config(self, in_shape: tuple[int, ...], classes: int) -> NetworkConfig:
        """The network of this point for a dataset of the given input shape and classes."""
        in_features = 1
        for d in in_shape:
            in_features *= d
        return NetworkConfig(
            model=self.model,
            width_mult=self.width_mult,
            hidden=tuple(self.hidden),
            in_features=in_features,
            in_shape=in_shape,
            classes=classes,
        )

    def train_config(self) -> TrainConfig:
        """The training run of this point."""
        bits = None if self.update_bits >= FLOAT_UPDATE_BITS else self.update_bits
        return TrainConfig(
            mode=TrainMode(self.mode),
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            eta_train=self.eta_train,
            update_bits=bits,
            seed=self.seed,
            train_weight_bits=self.train_weight_bits or None,
            hwa_converters_in_loop=self.hwa_converters_in_loop,
            momentum_placement=MomentumPlacement(self.momentum_placement),
            apt_data_fraction=self.apt_data_fraction,
            apt_steps=self.apt_steps,
            apt_lr=self.apt_lr,
            qnn_weights=QnnWeights(self.qnn_weights),
        )

    def hardware_seeds_list(self) -> list[int]:
        """Seeds of the independently programmed chips (derived from the training seed)."""
        return [self.seed * 1000 + 1 + i for i in range(self.hardware_seeds)]

    def as_dict(self) -> dict[str, Any]:
        """Field name → value, tuples as lists."""
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in dataclasses.fields(self)
        }

    @property
    def hardware_in_training(self) -> bool:
        """True when training sees the hardware: on-chip modes, or hwa with converters in the loop."""
        return not cacheable(self.train_config())

    def training_key(self) -> str:
        """Stable hash of what the trained weights depend on (for train-once-evaluate-many).

        Off-chip modes (hwa, apt): the training group only, less the fields marked
        ``cached=False`` (apt's calibration knobs, which act after the cacheable stage:
        for apt the key names the floating-point model before calibration). When training
        sees the hardware (on-chip modes, ``hwa_converters_in_loop``) the hardware group too.
        """
        hardware = self.hardware_in_training
        part = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if (f.metadata["group"] == TRAINING and f.metadata["cached"])
            or (hardware and f.metadata["group"] == HARDWARE)
        }
        blob = json.dumps(part, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DesignPoint:
        """Build from a flat mapping (Optuna params plus fixed values); lists become tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise KeyError(f"unknown parameter(s) {unknown}; allowed: {', '.join(sorted(names))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


PARAMETERS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(DesignPoint)}
"""Parameter name → dataclass field (its metadata holds group, doc and allowed values)."""


def allowed_text(name: str) -> str:
    """Human-readable allowed values of a parameter, for error messages."""
    meta = PARAMETERS[name].metadata
    if "choices" in meta:
        return ", ".join(repr(c) for c in meta["choices"]())
    kind = PARAMETERS[name].type
    lo, hi = meta["lo"], meta["hi"]
    if kind == "bool":
        return "true, false"
    if lo is None:
        return f"a value of type {kind}"
    left = "(" if meta["lo_open"] else "["
    noun = "integers" if kind == "int" else "numbers"
    return f"{noun} in {left}{lo}, {hi}]"


def check_value(name: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for parameter ``name``, or None if it is."""
    f = PARAMETERS[name]
    meta = f.metadata
    kind = f.type
    if "choices" in meta:
        return None if value in meta["choices"]() else f"{value!r} is not allowed"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not an integer"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{value!r} is not a number"
    if kind == "bool":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if kind == "str" and not isinstance(value, str):
        return f"{value!r} is not a string"
    if kind == "tuple[int, ...]":
        ok = isinstance(value, list | tuple) and value and all(isinstance(v, int) and v > 0 for v in value)
        return None if ok else f"{value!r} is not a non-empty list of positive integers"
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and (value < lo or value > hi or (meta["lo_open"] and value == lo)):
        return f"{value!r} is out of range"
    return None
