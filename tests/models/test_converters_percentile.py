"""Exact tests of ``models/physics/converters.percentile``, written from its mutation survivors (issue 16).

Every expectation comes from Python's ``sorted`` with linear interpolation between order statistics
(``torch.quantile``'s default), at positions that are exact in binary, so every branch (``torch.quantile``,
top-k, the two largest values by maxima or by the tournament, the maximum) must match it to the bit.
"""

from __future__ import annotations

import random

import pytest
import torch

from models.physics import converters


def _sorted_percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (``torch.quantile``'s default), by sorting."""
    s = sorted(values)
    pos = q / 100.0 * (len(s) - 1)
    lo = int(pos)
    if lo == len(s) - 1:
        return s[lo]
    return s[lo] + (pos - lo) * (s[lo + 1] - s[lo])


# ---------------------------------------------------------------- percentile: subsampling


@pytest.mark.parametrize("dim", [0, 1])
def test_a_subsampled_percentile_is_the_percentile_of_its_samples(dim: int) -> None:
    """n = 9 > max_samples = 5 keeps entries 0, 2, 4, 6, 8 (exact strides); the odd entries are
    decoys of 1000. Every q = 100·k/16 (positions k/4 among 5 samples, exact in binary) gives the
    samples' own percentile, in every branch (quantile, top-k and the two-maxima rule)."""
    rows = [[3.0, 1000, -2, 1000, 7, 1000, 5, 1000, 1], [0.0, 1000, 4, 1000, 4, 1000, -8, 1000, 9]]
    values = torch.tensor(rows)
    values = values if dim == 1 else values.T.contiguous()
    for k in range(17):
        q = 100.0 * k / 16
        got = converters.percentile(values, q, dim=dim, max_samples=5)
        want = [_sorted_percentile(row[::2], q) for row in rows]
        assert got.tolist() == want, (q, got.tolist(), want)


def test_the_default_sample_count_is_65536() -> None:
    """arange(65537) has one entry more than the default 65536 samples: the even stride
    k·65536/65535 skips one entry above the middle, so the median of the samples is 32767.5, where
    the full median is 32768. With exactly 65536 entries nothing is skipped."""
    over = torch.arange(65537, dtype=torch.float32).view(1, -1)
    assert converters.percentile(over, 50.0, dim=1).tolist() == [32767.5]
    exact = torch.arange(65536, dtype=torch.float32).view(1, -1)
    assert converters.percentile(exact, 50.0, dim=1).tolist() == [32767.5]
    assert converters.percentile(exact, 100.0, dim=1).tolist() == [65535.0]


# ---------------------------------------------------------------- percentile: every branch

_Q_BY_64THS = [100.0 * k / 64 for k in range(65)]
"""q = 100·k/64: with n = 9 the position q/100·8 = k/8 is exact, and so is the interpolation of
small integers. k < 8 takes ``torch.quantile``, 8–55 top-k, 56–63 the two largest, 64 the maximum."""


def _rows(count: int, seed: int) -> list[list[float]]:
    """``count`` rows of 9 small integers; the first rows tie at the top (two, then three maxima)."""
    rng = random.Random(seed)
    rows = [[7.0, 7, 1, 2, 3, 4, 5, 6, 0], [-1.0, 9, 9, 9, 2, 2, 0, -5, 8], [4.0] * 9]
    rows += [[float(rng.randint(-20, 20)) for _ in range(9)] for _ in range(count - len(rows))]
    return rows


@pytest.mark.parametrize(("count", "dim"), [(3, 1), (3, 0), (768, 1), (768, 0)])
def test_percentiles_equal_sorting_in_every_branch(count: int, dim: int) -> None:
    """Narrow (3 rows) and wide (768 rows: the tournament for the two largest values), along either
    dimension; ties at the top included."""
    rows = _rows(count, seed=count)
    values = torch.tensor(rows)
    values = values if dim == 1 else values.T.contiguous()
    for q in _Q_BY_64THS:
        got = converters.percentile(values, q, dim=dim)
        assert got.tolist() == [_sorted_percentile(row, q) for row in rows], q


@pytest.mark.parametrize("count", [3, 768])
def test_percentiles_keep_a_float64_input_float64(count: int) -> None:
    """Every branch returns the input's dtype; the maximum (q = 100) is float64's own, 0.1 + 0.2
    and not its float32 rounding."""
    rows = _rows(count, seed=1)
    values = torch.tensor(rows, dtype=torch.float64)
    for q in (0.0, 25.0, 62.5, 93.75, 100.0):  # quantile, top-k, the two largest, the maximum
        got = converters.percentile(values, q, dim=1)
        assert got.dtype == torch.float64
        assert got.tolist() == [_sorted_percentile(row, q) for row in rows]
    tenths = torch.tensor([[0.1, 0.1 + 0.2, 0.2]] * count, dtype=torch.float64)
    assert converters.percentile(tenths, 100.0, dim=1).tolist() == [0.1 + 0.2] * count


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_subsampled_percentile_on_cuda_matches_the_cpu() -> None:
    """The sample indices are made on the input's device."""
    v = torch.tensor([[3.0, 1000, -2, 1000, 7, 1000, 5, 1000, 1]])
    for q in (50.0, 90.0, 100.0):
        cpu = converters.percentile(v, q, dim=1, max_samples=5)
        assert torch.equal(converters.percentile(v.cuda(), q, dim=1, max_samples=5).cpu(), cpu)
