"""One parameter's domain in a search space: fixed, categorical, or an integer or float range."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Domain", "DomainKind", "optuna_label"]


class DomainKind(StrEnum):
    """How a parameter is searched."""

    FIXED = "fixed"
    CATEGORICAL = "categorical"
    INT = "int"
    FLOAT = "float"


@dataclass(frozen=True)
class Domain:
    """One parameter's domain."""

    name: str
    kind: DomainKind
    value: Any = None
    """FIXED: the value."""
    choices: tuple[Any, ...] = ()
    """CATEGORICAL: the options."""
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    """INT/FLOAT: step (int default 1; float None = continuous)."""
    log: bool = False

    def grid_values(self) -> list[Any]:
        """Every value of a finite domain, for the grid sampler."""
        if self.kind is DomainKind.CATEGORICAL:
            return list(self.choices)
        if self.kind is DomainKind.INT:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind is DomainKind.FLOAT and self.step is not None:
            n = round((self.high - self.low) / self.step)
            return [self.low + i * self.step for i in range(n + 1)]
        raise ValueError(f"{self.name}: a continuous domain has no grid; give choices or a step")


def optuna_label(value: Any) -> Any:
    """Optuna's categorical label of a value: lists and tuples as JSON text."""
    return json.dumps(list(value)) if isinstance(value, list | tuple) else value
