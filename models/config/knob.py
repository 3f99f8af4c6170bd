"""How a parameter is declared: :func:`knob` (searchable) and :func:`derived` (set from the data),
and the constants the declarations share."""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import Any

READ_TIMES: dict[str, float] = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 365.0 * 86400.0}
"""Evaluation read times after programming, by label (the ``accuracy_t_<label>`` columns)."""
FLOAT_UPDATE_BITS = 32
"""``update_bits`` of 32 or more means floating-point updates."""
ON_CHIP = ("onchip_sgd", "mixed_precision", "hic", "qnn", "pcm_2t1c")
"""Training modes that write the devices while training (knobs that act only there name these)."""


def knob(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    choices: type[StrEnum] | str | None = None,
    cached: bool = True,
    modes: tuple[str, ...] = (),
    analog_only: bool = False,
    acts_if: tuple[str, tuple[str, ...]] | None = None,
) -> Any:
    """A searchable parameter: a config field whose metadata the engine's registry reads.

    Args:
        default: the value when a space does not set it (it must itself validate).
        doc: one line for error messages, ``dse params`` and the docs.
        lo: inclusive lower bound of a number (``lo_open``: excluded); NaN never passes.
        hi: inclusive upper bound of a number.
        lo_open: exclude ``lo`` itself.
        choices: an enum (its values are allowed), or ``"module:NAME"`` naming a registry (a
            dict or sequence) whose keys are the allowed values, looked up only when asked, so
            this module imports none of the modules that consume it.
        cached: False for training knobs that act after the cacheable training stage (apt's
            calibration), so the weights cache ignores them.
        modes: the training modes in which this knob acts; empty means every mode.
        analog_only: the knob acts only on analog devices (the SRAM baseline ignores it).
        acts_if: ``(other, values)``: the knob acts only when the choice knob ``other`` holds one
            of ``values`` (e.g. a fixed figure that a measurement replaces otherwise).

    A knob a design ignores (``modes``, ``analog_only``, ``acts_if``) is neither sampled nor
    recorded for that design: the engine resets it to its default and stores null.
    """
    meta = {
        "doc": doc,
        "lo": lo,
        "hi": hi,
        "lo_open": lo_open,
        "choices": choices,
        "cached": cached,
        "modes": modes,
        "analog_only": analog_only,
        "acts_if": acts_if,
    }
    return field(default=default, metadata=meta)


def derived(default: Any, doc: str) -> Any:
    """A config field the engine sets from the data: never searched, never recorded."""
    return field(default=default, metadata={"doc": doc, "derived": True})
