"""The 95 % interval of a design's accuracy: test-set sampling error plus the spread between runs.

A trial measures accuracy ``a[r][c]`` for training repeat ``r`` (its own training seed) and chip
``c`` (its own hardware seed: programming, faults, reads), every one on the same ``n`` test
samples. The row reports the mean over all runs and a 95 % interval for the design's *expected*
accuracy, i.e. over new training seeds, new chips and new test data drawn from the same
distribution. Two independent errors add:

- the spread between runs: the unit is a repeat (the mean over its chips) when there are two or
  more repeats, since chips are nested in a training run; with one repeat, a chip. With ``k``
  units of sample variance ``s²`` the mean's variance is ``s²/k``;
- the test set: all runs share one finite test set, so the mean carries its binomial sampling
  error, which no number of repeats removes. We use Agresti and Coull's adjusted proportion,
  ``p̃ = (p·n + 2)/(n + 4)`` and variance ``p̃(1-p̃)/(n + 4)``, so a perfect or null score
  still gets a non-zero width.

The half-width is ``t·√(s²/k + p̃(1-p̃)/(n+4))``, with the Student-t quantile at the
Welch–Satterthwaite degrees of freedom (``k-1`` for the run term, unbounded for the binomial
one), so three repeats are not treated as if their spread were known. The interval is clipped
to [0, 1].
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""


@dataclass(frozen=True)
class Interval:
    """Mean accuracy over every run, its spread and its 95 % interval."""

    mean: float
    std: float
    """Population standard deviation over every run (repeat × chip)."""
    low: float
    high: float


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (``inf``: normal)."""
    if math.isinf(df):
        return Z_95
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def accuracy_interval(runs: Sequence[Sequence[float]], n_test: int) -> Interval:
    """Mean, std and 95 % interval of accuracies ``runs[repeat][chip]`` on ``n_test`` samples."""
    flat = [a for repeat in runs for a in repeat]
    if not flat or n_test < 1:
        raise ValueError("an accuracy interval needs at least one run and one test sample")
    mean = statistics.fmean(flat)
    std = statistics.pstdev(flat) if len(flat) > 1 else 0.0
    units = [statistics.fmean(r) for r in runs] if len(runs) > 1 else list(runs[0])
    v_runs = statistics.variance(units) / len(units) if len(units) > 1 else 0.0
    p_adj = (mean * n_test + 2.0) / (n_test + 4.0)
    v_test = p_adj * (1.0 - p_adj) / (n_test + 4.0)
    total = v_runs + v_test
    df = math.inf if v_runs == 0.0 else total * total / (v_runs * v_runs / (len(units) - 1))
    half = t_quantile_975(df) * math.sqrt(total)
    return Interval(mean, std, max(0.0, mean - half), min(1.0, mean + half))
