"""The accuracy interval: closed forms, its edge cases, and its coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.engine.interval import Z_95, accuracy_interval, t_quantile_975


def test_identical_runs_leave_only_the_test_set_error() -> None:
    iv = accuracy_interval([[0.8, 0.8], [0.8, 0.8]], 100)
    p = (0.8 * 100 + 2) / 104  # Agresti–Coull
    half = Z_95 * math.sqrt(p * (1 - p) / 104)
    assert iv.mean == pytest.approx(0.8, abs=1e-15) and iv.std == 0.0
    assert iv.low == pytest.approx(0.8 - half, abs=1e-12) and iv.high == pytest.approx(0.8 + half, abs=1e-12)
    assert half == pytest.approx(0.0785, abs=5e-4)  # ±7.8 points on 100 samples at 80 %


def test_three_repeats_use_student_t_with_two_degrees_of_freedom() -> None:
    """With a huge test set the binomial term vanishes: the half-width is t(0.975, 2)·s/√3."""
    iv = accuracy_interval([[0.9], [0.8], [0.85]], 10**12)
    half = 4.302652729749464 * math.sqrt(0.0025 / 3)  # t quantile from tables; s² = 0.0025
    assert iv.low == pytest.approx(0.85 - half, abs=1e-6) and iv.high == pytest.approx(0.85 + half, abs=1e-6)
    assert t_quantile_975(2) == pytest.approx(4.302652729749464, rel=1e-9)


def test_repeats_are_the_unit_and_chips_are_nested_in_them() -> None:
    """Chips of one repeat do not count as independent runs once there are two or more repeats:
    spreading the same repeat means over more chips leaves the run term unchanged."""
    n = 10**12
    two = accuracy_interval([[0.80, 0.90], [0.70, 0.80]], n)
    four = accuracy_interval([[0.80, 0.90, 0.80, 0.90], [0.70, 0.80, 0.70, 0.80]], n)
    assert (two.low, two.high) == pytest.approx((four.low, four.high), abs=1e-9)
    one_repeat = accuracy_interval([[0.80, 0.90, 0.70, 0.80]], n)  # one repeat: the chips are the unit
    s2 = np.var([0.80, 0.90, 0.70, 0.80], ddof=1)
    assert one_repeat.high - one_repeat.mean == pytest.approx(t_quantile_975(3) * math.sqrt(s2 / 4), rel=1e-6)
    assert two.std == pytest.approx(np.std([0.80, 0.90, 0.70, 0.80]), abs=1e-15)


def test_interval_is_clipped_to_probabilities_and_never_empty() -> None:
    iv = accuracy_interval([[1.0, 1.0]], 50)
    assert iv.high == 1.0 and 0.9 < iv.low < 1.0  # Agresti–Coull keeps a width at 100 %
    iv = accuracy_interval([[0.0]], 50)
    assert iv.low == 0.0 and 0.0 < iv.high < 0.1
    with pytest.raises(ValueError, match="at least one run"):
        accuracy_interval([[]], 10)


def test_coverage_of_the_expected_accuracy_is_95_percent_by_simulation() -> None:
    """Brute force: a design whose expected accuracy is 0.8, seeds spread with sd 0.02, one shared
    test set of 500 samples; 3 repeats of 2 chips. The interval must cover 0.8 in ~95 % of studies."""
    rng = np.random.default_rng(0)
    p, n, sims, hits = 0.8, 500, 4000, 0
    for _ in range(sims):
        test_error = (rng.binomial(n, p) / n) - p  # shared by every run on this test set
        repeat = rng.normal(0.0, 0.02, size=3)
        chips = rng.normal(0.0, 0.005, size=(3, 2))
        runs = (p + test_error + repeat[:, None] + chips).tolist()
        iv = accuracy_interval(runs, n)
        hits += iv.low <= p <= iv.high
    assert 0.93 <= hits / sims <= 0.975
