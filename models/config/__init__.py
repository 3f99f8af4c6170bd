"""Frozen configurations consumed by ``models/``: analog hardware, network, training and cost.

Every searchable parameter is declared once, here, as a field made by :func:`knob`: its type,
default, allowed values and doc. The engine's registry (``dse.schema.point``) composes its
design point from these configs and reads their metadata to validate spaces, build Parquet
columns and key the weights cache; nothing is copied by hand in between. The configs live
in ``models/`` because ``models/`` must not import the engine.
"""

from models.config.analog import AnalogConfig
from models.config.choices import (
    AdcRange,
    AptTarget,
    BackwardPass,
    InputDutySource,
    InputEncoding,
    Mapping,
    MomentumPlacement,
    QnnWeights,
    RangeScope,
    TrainMode,
)
from models.config.cost import CostConfig
from models.config.knob import FLOAT_UPDATE_BITS, ON_CHIP, READ_TIMES, derived, knob
from models.config.network import NetworkConfig
from models.config.train import TrainConfig

__all__ = [
    "FLOAT_UPDATE_BITS",
    "ON_CHIP",
    "READ_TIMES",
    "AdcRange",
    "AnalogConfig",
    "AptTarget",
    "BackwardPass",
    "CostConfig",
    "InputDutySource",
    "InputEncoding",
    "Mapping",
    "MomentumPlacement",
    "NetworkConfig",
    "QnnWeights",
    "RangeScope",
    "TrainConfig",
    "TrainMode",
    "derived",
    "knob",
]
