"""Multi-fidelity settings of a space (``[study] fidelity``, ``min_epochs``, ``reduction_factor``,
``budget_epochs``): which combinations can work.

A fidelity of ``"epochs"`` runs MO-ASHA (``dse.engine.asha``): each trial trains to the first rung,
and continues from its checkpoint to the next one only while it ranks in the top 1/η of its rung
(``dse.engine.rungs`` drives it). Every problem is returned as (field, message) before any work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dse.engine.domain import Domain, DomainKind
from dse.engine.samplers import SAMPLERS

FIDELITIES = ("epochs",)
"""What ``[study] fidelity`` may name: rungs in training epochs."""
NO_FIDELITY_SAMPLERS = {
    "grid": "a grid measures every design at full fidelity to compare them all; stopping designs "
    "early would leave holes in it",
}
"""Samplers that cannot be combined with a fidelity, and why."""


class FidelitySpace(Protocol):
    """What the checks read of a search space (``dse.engine.space.SearchSpace``)."""

    fidelity: str | None
    min_epochs: int
    sampler: str
    budget_epochs: int | None
    domains: Sequence[Domain]

    @property
    def full_epochs(self) -> int: ...


def allowed_samplers() -> str:
    """The samplers a fidelity works with, as a list for messages."""
    return ", ".join(s for s in SAMPLERS if s not in NO_FIDELITY_SAMPLERS)


def fidelity_problem(space: FidelitySpace, study: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, message) for the first fidelity setting that cannot work; None when all can.
    ``study`` is the raw ``[study]`` table (to tell a key given from its default)."""
    given = [k for k in ("min_epochs", "reduction_factor") if k in study]
    if space.fidelity is None:
        if given:
            return f"study.{given[0]}", 'applies only with fidelity = "epochs"; add it or drop this'
        return None
    if space.fidelity not in FIDELITIES:
        return "study.fidelity", f"{space.fidelity!r}; allowed: {', '.join(map(repr, FIDELITIES))}"
    epochs = next((d for d in space.domains if d.name == "epochs"), None)
    if epochs is not None and epochs.kind is not DomainKind.FIXED:
        return (
            "params.epochs",
            "is searched, but a fidelity needs one full-fidelity epoch count (the last rung); "
            "fix it, e.g. epochs = 9",
        )
    if space.min_epochs > space.full_epochs:
        return (
            "study.min_epochs",
            f"{space.min_epochs} must be an integer in [1, epochs = {space.full_epochs}] (the first rung)",
        )
    if space.sampler in NO_FIDELITY_SAMPLERS:
        return (
            "study.sampler",
            f"{space.sampler!r} cannot use fidelity = {space.fidelity!r}: "
            f"{NO_FIDELITY_SAMPLERS[space.sampler]}; allowed with a fidelity: {allowed_samplers()}",
        )
    if space.budget_epochs is not None and space.budget_epochs < space.min_epochs:
        return (
            "study.budget_epochs",
            f"{space.budget_epochs} is below the first rung (min_epochs = {space.min_epochs}): "
            "no trial could start",
        )
    return None
