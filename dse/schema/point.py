"""The parameter registry and the design point: one fully specified configuration.

Every searchable parameter is declared once, as a :func:`models.config.knob` field of one of
the model configs (hardware, network, training, cost) or of :class:`DataConfig` here. A
:class:`DesignPoint` is composed of those configs, so the configs the models consume are the
point itself, never a hand-written copy. :data:`PARAMETERS` reads their metadata: the TOML
loader validates against it, the store derives Parquet columns from it, and the weights cache
hashes the groups that shape the trained weights.

Importing this module loads neither torch, Optuna nor Ray: allowed values that live in
torch modules (the networks) are listed lazily.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from models.config import (
    FLOAT_UPDATE_BITS,
    READ_TIMES,
    AnalogConfig,
    CostConfig,
    NetworkConfig,
    TrainConfig,
    knob,
)

__all__ = [
    "FLOAT_UPDATE_BITS",
    "GROUPS",
    "PARAMETERS",
    "READ_TIMES",
    "DataConfig",
    "DesignPoint",
    "Param",
    "allowed_text",
    "check_value",
]


@dataclass(frozen=True)
class DataConfig:
    """Which data the network trains and is tested on."""

    dataset: str = knob(
        "digits", "dataset (bundled: digits; local files: see data_path)", choices="dse.engine.data:LOADERS"
    )
    data_path: str = knob("", "folder of a local dataset (MNIST, Fashion-MNIST, CIFAR-10); '' for bundled")


GROUPS: dict[str, type] = {
    "hardware": AnalogConfig,
    "network": NetworkConfig,
    "train": TrainConfig,
    "data": DataConfig,
    "cost": CostConfig,
}
"""Group name → the config holding its knobs. ``hardware`` shapes the trained weights only when
training sees the hardware; ``cost`` never does; the others always do."""
TRAINING_GROUPS = ("network", "train", "data")
"""Groups that always shape the trained weights (the weights-cache key)."""


@dataclass(frozen=True)
class Param:
    """One searchable parameter, read from its config field's metadata."""

    name: str
    group: str
    kind: str
    """'int', 'float', 'bool', 'str', 'choice' or 'ints' (a list of positive integers)."""
    default: Any
    """Flat form: enums as their string value, tuples as tuples."""
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    registry: str | None = None
    """``"module:NAME"`` of the registry whose keys are the allowed values (lazy)."""
    enum: type[StrEnum] | None = None
    cached: bool = True
    modes: tuple[str, ...] = ()
    analog_only: bool = False
    acts_if: tuple[str, tuple[str, ...]] | None = None
    """``(other, values)``: the knob acts only while choice knob ``other`` is one of ``values``."""

    def choices(self) -> list[Any]:
        """Allowed values of a 'choice' parameter (empty for other kinds)."""
        if self.enum is not None:
            return [e.value for e in self.enum]
        if self.registry is None:
            return []
        module, _, name = self.registry.partition(":")
        return list(getattr(importlib.import_module(module), name))


def _kind(annotation: str, choices: Any) -> str:
    if choices is not None:
        return "choice"
    return {"int": "int", "int | None": "int", "float": "float", "bool": "bool", "str": "str"}.get(
        annotation, "ints" if annotation.startswith("tuple[int") else "str"
    )


def _registry() -> dict[str, Param]:
    out: dict[str, Param] = {}
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if "doc" not in meta or meta.get("derived"):
                continue
            if f.name in out:
                raise TypeError(f"parameter {f.name!r} is declared twice ({out[f.name].group}, {group})")
            choices = meta["choices"]
            enum = choices if isinstance(choices, type) and issubclass(choices, StrEnum) else None
            default = f.default.value if isinstance(f.default, StrEnum) else f.default
            out[f.name] = Param(
                name=f.name,
                group=group,
                kind=_kind(str(f.type), choices),
                default=default,
                doc=meta["doc"],
                lo=meta["lo"],
                hi=meta["hi"],
                lo_open=meta["lo_open"],
                registry=None if enum else choices,
                enum=enum,
                cached=meta["cached"],
                modes=tuple(meta["modes"]),
                analog_only=meta["analog_only"],
                acts_if=meta.get("acts_if"),
            )
    check_conditions(out)
    return out


def check_conditions(params: dict[str, Param]) -> None:
    """Every ``acts_if`` names another parameter's allowed choices (a declaration error else).

    Raises:
        TypeError: naming the parameter whose condition names no knob or a value it cannot take.
    """
    for p in params.values():
        if p.acts_if is not None:
            other, values = p.acts_if
            allowed = params[other].choices() if other in params and other != p.name else []
            if not allowed or not set(values) <= set(allowed):
                raise TypeError(
                    f"parameter {p.name!r}: acts_if names {other!r} {values}, not choices of a knob"
                )


PARAMETERS: dict[str, Param] = _registry()
"""Parameter name → :class:`Param`, in declaration order (hardware, network, train, data, cost)."""


@dataclass(frozen=True)
class DesignPoint:
    """One design: a config per group. Flat parameter names read through (``point.adc_bits``)."""

    hardware: AnalogConfig = field(default_factory=AnalogConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cost: CostConfig = field(default_factory=CostConfig)

    def __getattr__(self, name: str) -> Any:
        param = PARAMETERS.get(name)
        if param is None:
            raise AttributeError(f"DesignPoint has no parameter {name!r}")
        value = getattr(getattr(self, param.group), name)
        return value.value if isinstance(value, StrEnum) else value

    # ------------------------------------------------------------ building

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DesignPoint:
        """Build from a flat mapping (Optuna params plus fixed values, or a stored row).

        Lists become tuples and strings become enums; ``None`` (a knob the design ignored,
        stored as null) takes the default. Raises KeyError for unknown names and ValueError
        for values outside the allowed ones, naming the parameter.
        """
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise KeyError(f"unknown parameter(s) {unknown}; allowed: {', '.join(PARAMETERS)}")
        groups: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
        for name, value in params.items():
            if value is None:
                continue
            why = check_value(name, value)
            if why:
                raise ValueError(f"{name}: {why}; allowed: {allowed_text(name)}")
            param = PARAMETERS[name]
            if param.enum is not None:
                value = param.enum(value)
            elif isinstance(value, list):
                value = tuple(value)
            elif param.kind == "float":
                value = float(value)
            groups[param.group][name] = value
        return cls(**{g: GROUPS[g](**kw) for g, kw in groups.items()})

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DesignPoint:
        """The design point of a stored row (a dict of its columns, as pandas or pyarrow read it):
        nulls and NaN are knobs the design ignored (defaults), numpy scalars become Python values,
        integer columns read back as floats become ints, and list columns are their JSON text.
        Rows store the tile rows and columns that ran; equal to ``tile_size`` they are its default 0."""
        params: dict[str, Any] = {}
        for name, param in PARAMETERS.items():
            value = row.get(name)
            if hasattr(value, "item"):
                value = value.item()  # a numpy scalar
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if param.kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif param.kind == "ints" and isinstance(value, str):
                value = json.loads(value)
            params[name] = value
        for name in ("tile_rows", "tile_cols"):
            if params.get(name) == params.get("tile_size", PARAMETERS["tile_size"].default):
                params.pop(name, None)
        return cls.from_params(params)

    @classmethod
    def of(cls, **params: Any) -> DesignPoint:
        """``from_params`` with keyword arguments: ``DesignPoint.of(device="rram", epochs=2)``."""
        return cls.from_params(params)

    def replace(self, **changes: Any) -> DesignPoint:
        """A copy with some flat parameters changed, validated like :meth:`from_params`."""
        return DesignPoint.from_params({**self.as_dict(), **changes})

    # ------------------------------------------------------------ derived configs

    @property
    def rows(self) -> int:
        """Effective tile rows."""
        return self.hardware.rows

    @property
    def cols(self) -> int:
        """Effective tile columns."""
        return self.hardware.cols

    def analog_config(self) -> AnalogConfig:
        """The hardware mapping of this point."""
        return self.hardware

    def train_config(self) -> TrainConfig:
        """The training run of this point."""
        return self.train

    def cost_config(self) -> CostConfig:
        """The cost-only knobs of this point."""
        return self.cost

    def network_config(self, in_shape: tuple[int, ...], classes: int) -> NetworkConfig:
        """The network of this point for a dataset of the given input shape and classes."""
        return dataclasses.replace(
            self.network, in_features=math.prod(in_shape), in_shape=tuple(in_shape), classes=classes
        )

    def hardware_seeds_list(self) -> list[int]:
        """Seeds of the independently programmed chips (derived from the training seed)."""
        return [self.seed * 1000 + 1 + i for i in range(self.hardware_seeds)]

    # ------------------------------------------------------------ knobs the design ignores

    def ignores(self, name: str) -> bool:
        """Whether this design ignores parameter ``name``: a knob of other training modes, an
        analog-only knob on a digital device, or a knob whose ``acts_if`` condition fails."""
        param = PARAMETERS[name]
        if param.modes and self.mode not in param.modes:
            return True
        if param.acts_if is not None:
            other, values = param.acts_if
            if self.ignores(other) or str(getattr(self, other)) not in values:
                return True
        return param.analog_only and not self.is_analog

    @property
    def is_analog(self) -> bool:
        """Whether the device computes in analog (False for the SRAM digital baseline)."""
        from models.physics.devices import get_device

        return get_device(self.device).analog

    def ignored(self) -> list[str]:
        """Names of the parameters this design ignores."""
        return [name for name in PARAMETERS if self.ignores(name)]

    def normalized(self) -> DesignPoint:
        """The same design with every ignored knob at its default: designs that differ only in
        ignored knobs become equal (one training, one cache key)."""
        flat = self.as_dict()
        return DesignPoint.from_params({k: v for k, v in flat.items() if not self.ignores(k)})

    # ------------------------------------------------------------ flat forms

    def as_dict(self) -> dict[str, Any]:
        """Parameter name → value: enums as strings, tuples as lists."""
        out: dict[str, Any] = {}
        for name in PARAMETERS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def as_row(self) -> dict[str, Any]:
        """The design columns of a stored row: ignored knobs are null, lists are JSON, and tile
        rows and columns are the ones that ran (``tile_size`` where they were 0)."""
        row = {
            name: None if self.ignores(name) else json.dumps(v) if isinstance(v, list) else v
            for name, v in self.as_dict().items()
        }
        row["tile_rows"], row["tile_cols"] = self.rows, self.cols
        return row

    @property
    def hardware_in_training(self) -> bool:
        """True when training sees the hardware: on-chip modes, or hwa with converters in the loop."""
        from models.training.modes import cacheable

        return not cacheable(self.train)

    def training_key(self) -> str:
        """Stable hash of what the trained weights depend on (for train-once-evaluate-many).

        The network, training and data groups, less the knobs marked ``cached=False`` (apt's
        calibration, which acts after the cacheable stage) and the knobs this design ignores.
        When training sees the hardware (on-chip modes, ``hwa_converters_in_loop``) the hardware
        group too. The cost group never: it changes no weight.
        """
        groups = (*TRAINING_GROUPS, "hardware") if self.hardware_in_training else TRAINING_GROUPS
        part = {
            name: value
            for name, value in self.normalized().as_dict().items()
            if PARAMETERS[name].group in groups and PARAMETERS[name].cached
        }
        blob = json.dumps(part, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def allowed_text(name: str) -> str:
    """Human-readable allowed values of a parameter, for error messages."""
    param = PARAMETERS[name]
    if param.kind == "choice":
        return ", ".join(repr(c) for c in param.choices())
    if param.kind == "bool":
        return "true, false"
    if param.kind == "ints":
        return "a non-empty list of positive integers"
    if param.kind == "str" or param.lo is None:
        return "a string" if param.kind == "str" else f"a value of type {param.kind}"
    left = "(" if param.lo_open else "["
    noun = "integers" if param.kind == "int" else "finite numbers"
    return f"{noun} in {left}{param.lo:g}, {param.hi:g}]"


def check_value(name: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for parameter ``name``, or None if it is."""
    param = PARAMETERS[name]
    kind = param.kind
    if kind == "choice":
        return None if value in param.choices() else f"{value!r} is not allowed"
    if kind == "bool":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if kind == "str":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind == "ints":
        ok = (
            isinstance(value, list | tuple)
            and len(value) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        )
        return None if ok else f"{value!r} is not a non-empty list of positive integers"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not an integer"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{value!r} is not a number"
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    lo, hi = param.lo, param.hi
    if lo is not None and (value < lo or (param.lo_open and value == lo)):
        return f"{value!r} is out of range"
    if hi is not None and value > hi:
        return f"{value!r} is out of range"
    return None
