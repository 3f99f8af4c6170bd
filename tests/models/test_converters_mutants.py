"""Exact tests of ``models/physics/converters.py``, written from its mutation survivors (issue 16).

Each expectation is a closed form or a brute force written here: quantizer codes ``clip(round(x/Δ))``
with Δ = r/n for the top code n of a hand-written table, percentiles from Python's ``sorted`` with
linear interpolation, per-tile maxima by loops. Inputs sit 0.3 steps or more from a rounding tie, so
the expected codes do not depend on the order of the floating-point operations; float64 inputs then
give the outputs ``code·(r/n)`` to the last bit. Tensors stay tiny: the whole file runs in about a
second.
"""

from __future__ import annotations

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
