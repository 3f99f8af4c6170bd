"""Multi-objective asynchronous successive halving (MO-ASHA [MOASHA]): which trials earn more epochs.

Rungs are epoch counts: ``min_epochs · η^k`` below ``epochs``, then ``epochs`` itself (η is the
reduction factor). A trial that reaches a rung is ranked among every trial seen at that rung so
far: by non-dominated sorting of the rung's objective vectors, and inside one front by exclusive
hypervolume contribution (larger first), the ordering of [MOASHA]. It continues to the next
rung when its place is within the top ⌈n/η⌉ of the n trials seen there, else it stops there.

This is the *stopping* form of asynchronous successive halving: the decision is made as the
trial arrives, from what the rung has seen, so no worker ever waits for a rung to fill (the
*promotion* form pauses trials and resumes them later, which needs a free worker per resume).
The first trials at a rung always continue (⌈n/η⌉ ≥ 1), as in ASHA.

Pure and deterministic; it imports numpy and moocore only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import moocore
import numpy as np


def rung_epochs(min_epochs: int, epochs: int, reduction_factor: int) -> tuple[int, ...]:
    """The rungs: ``min_epochs · η^k`` below ``epochs``, then ``epochs``.

    Raises:
        ValueError: ``min_epochs`` < 1 or > ``epochs``, or ``reduction_factor`` < 2.
    """
    if reduction_factor < 2:
        raise ValueError(f"reduction_factor must be ≥ 2, got {reduction_factor}")
    if not 1 <= min_epochs <= epochs:
        raise ValueError(f"min_epochs must be in [1, epochs = {epochs}], got {min_epochs}")
    out, r = [], min_epochs
    while r < epochs:
        out.append(r)
        r *= reduction_factor
    return (*out, epochs)


def promotion_order(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Indices of ``values`` (n, m), best first: non-domination rank, then within a rank the
    exclusive hypervolume contribution, larger first; ties keep arrival order.

    Each objective is scaled to [0, 1] over the rows (best 0, worst 1) and the reference point is
    1.1 in every objective, so the rung's extreme points still contribute volume.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=int)
    signed = np.where(np.asarray(maximise), -values, values)  # everything minimised
    if signed.shape[1] == 1:  # one objective: plain order (ASHA)
        return np.argsort(signed[:, 0], kind="stable")
    lo, hi = signed.min(axis=0), signed.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (signed - lo) / span
    ranks = np.asarray(moocore.pareto_rank(scaled), dtype=int)
    contribution = np.zeros(n)
    ref = np.full(scaled.shape[1], 1.1)
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        contribution[members] = moocore.hv_contributions(scaled[members], ref=ref)
    return np.lexsort((np.arange(n), -contribution, ranks))


@dataclass
class RungLedger:
    """The objective vectors seen at each rung, and the stop-or-continue decisions.

    Not thread-safe; the driver alone calls it. Rebuilt after a restart by replaying
    :meth:`report` over the recorded rung results in their recorded order.
    """

    rungs: tuple[int, ...]
    maximise: tuple[bool, ...]
    reduction_factor: int
    seen: dict[int, list[tuple[int, tuple[float, ...]]]] = field(default_factory=dict)
    """Rung epochs → (trial number, objective vector) in arrival order."""

    def report(self, trial: int, epochs: int, vector: Sequence[float]) -> int | None:
        """Record ``trial``'s objectives after ``epochs`` (a rung); return the epochs it should
        train to next, or None when it stops here (the last rung, or not in the top ⌈n/η⌉).

        A vector with a NaN or infinite value ranks last (the trial failed to learn at this rung).
        """
        if epochs not in self.rungs:
            raise ValueError(f"{epochs} epochs is not a rung; rungs: {self.rungs}")
        vec = tuple(float(v) for v in vector)
        if len(vec) != len(self.maximise):
            raise ValueError(f"expected {len(self.maximise)} objective values, got {len(vec)}")
        at = self.seen.setdefault(epochs, [])
        at = [(t, v) for t, v in at if t != trial]  # a re-reported trial (a retry) counts once
        at.append((trial, vec))
        self.seen[epochs] = at
        k = self.rungs.index(epochs)
        if k == len(self.rungs) - 1:
            return None
        finite = [(t, v) for t, v in at if all(math.isfinite(x) for x in v)]
        if (trial, vec) not in finite:
            return None
        order = promotion_order(np.array([v for _, v in finite]), self.maximise)
        place = [finite[i][0] for i in order].index(trial)
        keep = math.ceil(len(at) / self.reduction_factor)
        return self.rungs[k + 1] if place < keep else None
