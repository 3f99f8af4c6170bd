"""Checks of one TOML field of a search space: each error names the file, the field and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SpaceError", "_int", "_num", "_table", "_unknown"]


class SpaceError(ValueError):
    """A search space is invalid; the message names the file and the field."""

    def __init__(self, file: str, field: str, message: str) -> None:
        super().__init__(f"{file}: {field}: {message}")
        self.file, self.field = file, field


def _table(file: str, field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpaceError(file, field, f"must be a table, got {type(value).__name__}")
    return value


def _unknown(file: str, field: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            raise SpaceError(
                file,
                f"{field}.{key}" if field != "top level" else key,
                f"unknown key; allowed: {', '.join(allowed)}",
            )


def _int(file: str, field: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise SpaceError(file, field, f"{value!r} must be an integer ≥ {lo}")
    return value


def _num(file: str, field: str, value: Any, lo: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < lo
    ):
        raise SpaceError(file, field, f"{value!r} must be a finite number ≥ {lo}")
    return float(value)
