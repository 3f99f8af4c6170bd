"""The samplers a space may name: their options are checked when the space loads, and each is
built seeded by :func:`make_sampler`.

A grid is not Optuna's GridSampler: the driver enqueues each distinct design of the grid once
(:func:`dse.engine.study.enqueue_grid`), so designs that differ only in knobs they ignore run
once, and the sampler behind it never has to choose.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "nsga2", "random", "gp", "grid")
SAMPLER_CLASSES = {
    "tpe": "TPESampler",
    "nsga2": "NSGAIISampler",
    "random": "RandomSampler",
    "gp": "GPSampler",
    "grid": "RandomSampler",
}
"""Optuna's class behind each name (a grid's trials are enqueued; its sampler takes no options)."""


def option_problem(sampler: str, options: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) for the first ``[sampler]`` option the sampler does not accept, or whose
    type differs from its default's; None when all fit."""
    import optuna

    cls = getattr(optuna.samplers, SAMPLER_CLASSES[sampler])
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "seed", "search_space")]
    if sampler == "grid":
        accepted = []
    for key, value in options.items():
        if key not in accepted:
            allowed = ", ".join(accepted) or "none (a grid enqueues its designs)"
            return f"sampler.{key}", f"not an option of {sampler!r}; allowed: {allowed}"
        default = params[key].default
        if isinstance(default, bool | int | float) and not _same_kind(value, default):
            kind = "true or false" if isinstance(default, bool) else f"a {type(default).__name__}"
            return f"sampler.{key}", f"{value!r} must be {kind} (default {default!r})"
    return None


def _same_kind(value: Any, default: bool | int | float) -> bool:
    """Whether ``value`` has the type of a sampler option's default (an int passes for a float)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(default, int):
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


def make_sampler(name: str, seed: int, options: dict[str, Any]) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` (a space's ``[study] sampler``), seeded, with its ``[sampler]`` options."""
    import optuna

    opts = dict(options)
    s = seed
    factories: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=s, **opts),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=s, **opts),
        "random": lambda: optuna.samplers.RandomSampler(seed=s, **opts),
        "gp": lambda: optuna.samplers.GPSampler(seed=s, **opts),
        "grid": lambda: optuna.samplers.RandomSampler(seed=s),
    }
    try:
        return factories[name]()
    except TypeError as exc:
        raise ValueError(f"[sampler] options {opts} do not fit sampler {name!r}: {exc}") from None
