"""How values read in tables and figures meant for people: device names, unit prefixes, significant
figures and wrapped headers.

Machine formats (CSV, Parquet) never pass through here: they keep raw names and full precision.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dse.schema.record import label, unit_of

DEVICE_NAMES: dict[str, str] = {
    "pcm": "PCM",
    "rram": "RRAM",
    "stt_mram": "STT-MRAM",
    "fefet": "FeFET",
    "ecram": "ECRAM",
    "sram": "SRAM",
}
"""Display name of each device preset, as papers write them."""
MODE_NAMES: dict[str, str] = {
    "hwa": "HWA",
    "apt": "APT",
    "onchip_sgd": "on-chip SGD",
    "hic": "HIC",
    "mixed_precision": "mixed precision",
    "qnn": "QNN",
    "pcm_2t1c": "2PCM+3T1C",
}
"""Display name of each training mode."""
_VALUE_NAMES = {"device": DEVICE_NAMES, "mode": MODE_NAMES}

_PREFIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "pJ": (("pJ", 1.0), ("nJ", 1e3), ("µJ", 1e6), ("mJ", 1e9), ("J", 1e12)),
    "J": (("µJ", 1e-6), ("mJ", 1e-3), ("J", 1.0), ("kJ", 1e3)),
    "ns": (("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)),
    "bit": (("bit", 1.0), ("kbit", 1e3), ("Mbit", 1e6), ("Gbit", 1e9)),
}
"""Units a column may be shown in, smallest first, with the factor from the stored unit."""


def display_value(column: str, value: object) -> str:
    """A categorical cell as people read it (``stt_mram`` → ``STT-MRAM``); other values unchanged."""
    text = str(value)
    return _VALUE_NAMES.get(column, {}).get(text, text)


def unit_scale(column: str, values: pd.Series) -> tuple[float, str]:
    """(divisor, unit) that keeps the column's largest magnitude in [1, 1000) where a prefix allows:
    pJ → nJ → µJ, bit → kbit → Mbit. A column without a scalable unit keeps (1.0, its unit)."""
    unit = unit_of(column)
    steps = _PREFIXES.get(unit)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = np.abs(numbers[np.isfinite(numbers)])
    if steps is None or not len(numbers) or numbers.max() == 0:
        return 1.0, unit
    top = float(numbers.max())
    chosen = steps[0]
    for name, factor in steps:
        if top / factor >= 1.0:
            chosen = (name, factor)
    return chosen[1], chosen[0]


def scaled_label(column: str, unit: str) -> str:
    """:func:`dse.schema.record.label` with its unit replaced by ``unit`` (a prefixed one)."""
    text, stored = label(column), unit_of(column)
    if stored and f"({stored})" in text:
        return text.replace(f"({stored})", f"({unit})")
    return f"{text} ({unit})" if unit and unit != stored else text


def format_sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, never in exponent form between 1e-4 and 1e15.

    Integers of more digits print whole (rounding 123456 to 123000 would hide a real figure).
    """
    if not math.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else "nan"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if exponent >= digits - 1:
        return f"{value:.0f}" if exponent < 15 else f"{value:.{digits - 1}e}"
    if exponent >= -4:
        text = f"{value:.{digits - 1 - exponent}f}"
        # rounding may have added a digit (0.9996 → 1.000): recount
        return f"{float(text):.{max(digits - 1 - math.floor(math.log10(abs(float(text)))), 0)}f}"
    return f"{value:.{digits - 1}e}"


def integral(series: pd.Series) -> bool:
    """Integer dtype, or floats that are all whole numbers (ints that became float through a null)."""
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_integer_dtype(series):
        return True
    if not pd.api.types.is_float_dtype(series):
        return False
    finite = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    return (
        len(finite) > 0 and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))
    )


def wrap_header(text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` characters where it can break (spaces, after
    ``/``); a word longer than ``width`` stays whole, so the header never forces a cell to be cut."""
    spaced = text.replace("/", "/ ")
    lines = textwrap.wrap(spaced, max(width, 1), break_long_words=False, break_on_hyphens=False)
    return [line.replace("/ ", "/") for line in lines] or [text]


def header_lines(text: str, cells: Sequence[str]) -> list[str]:
    """A header wrapped to the width of its widest cell (at least 4 characters)."""
    return wrap_header(text, max([4, *(len(c) for c in cells)]))
