"""Exact tests of ``models/physics/converters.py``, written from its mutation survivors (issue 16).

Each expectation is a closed form or a brute force written here: quantizer codes ``clip(round(x/Δ))``
with Δ = r/n for the top code n of a hand-written table, per-tile maxima by loops. Inputs sit 0.3 steps
or more from a rounding tie, so the expected codes do not depend on the order of the floating-point
operations; float64 inputs then give the outputs ``code·(r/n)`` to the last bit. Tensors stay tiny: the
whole file runs in about a second. The percentiles are in ``test_converters_percentile.py``.
"""

from __future__ import annotations

import random

import pytest
import torch

from models.physics import converters

# ---------------------------------------------------------------- quantizers: closed forms

TOP_CODE = {
    (True, 2): 1,
    (True, 3): 3,
    (True, 4): 7,
    (True, 5): 15,
    (False, 1): 1,
    (False, 2): 3,
    (False, 3): 7,
}
"""The top code n by hand: signed b bits → 2^(b−1) − 1 (mid-tread), unsigned → 2^b − 1."""
R = 0.3
"""A range that is not a power of two (r·n and r/n differ, float32 and float64 roundings of r too)."""


def _codes_and_inputs(n: int, signed: bool) -> tuple[list[int], list[float]]:
    """Codes from beyond −n (or below 0) to beyond n, and inputs 0.3 steps either side of each."""
    codes, inputs = [], []
    for c in range(-n - 2, n + 3):
        for off in (-0.3, 0.0, 0.3):
            codes.append(c)
            inputs.append((c + off) * R / n)
    codes += [-10 * n, 10 * n]
    inputs += [-10 * R, 10 * R]
    return codes, inputs


def _expected(n: int, signed: bool, codes: list[int], r: float = R) -> list[float]:
    """clip(code)·(r/n), in float64."""
    lo = -n if signed else 0
    return [min(max(c, lo), n) * (r / n) for c in codes]


@pytest.mark.parametrize(("signed", "bits"), sorted(TOP_CODE))
def test_quantize_uniform_rounds_to_codes_and_clips(signed: bool, bits: int) -> None:
    n = TOP_CODE[(signed, bits)]
    codes, inputs = _codes_and_inputs(n, signed)
    want = _expected(n, signed, codes)
    x = torch.tensor(inputs, dtype=torch.float64)
    assert converters.quantize_uniform(x, bits, R, signed).tolist() == want
    assert converters.quantize_uniform(x, bits, torch.tensor(R, dtype=torch.float64), signed).tolist() == want
    assert converters.quantize_scalar_range(x, bits, R, signed).tolist() == want  # clip by default
    assert converters.fake_quant(x, bits, R, signed).tolist() == want
    if signed:
        assert converters.quantize_uniform_(x.clone(), bits, R).tolist() == want
    x32 = torch.tensor(inputs, dtype=torch.float32)
    for q in (
        converters.quantize_uniform(x32, bits, R, signed),
        converters.quantize_scalar_range(x32, bits, R, signed),
    ):
        assert q.dtype == torch.float32
        torch.testing.assert_close(q.double(), torch.tensor(want, dtype=torch.float64), rtol=0, atol=1e-7)


@pytest.mark.parametrize(("signed", "bits"), sorted(TOP_CODE))
def test_a_covering_range_needs_no_clamp(signed: bool, bits: int) -> None:
    """``clip=False`` with |x| ≤ r (0 ≤ x ≤ r unsigned), as the dynamic DAC range: the same codes."""
    n = TOP_CODE[(signed, bits)]
    codes, inputs = _codes_and_inputs(n, signed)
    inside = [(c, x) for c, x in zip(codes, inputs, strict=True) if (-R if signed else 0.0) <= x <= R]
    x = torch.tensor([x for _, x in inside], dtype=torch.float64)
    got = converters.quantize_scalar_range(x, bits, R, signed, clip=False)
    assert got.tolist() == _expected(n, signed, [c for c, _ in inside])


def test_one_signed_bit_is_plus_or_minus_the_range() -> None:
    """Signed 1-bit: +r for x ≥ 0 (zero included, −0.0 too), −r below; also through the ADC."""
    x = [-2.0, -0.1, -0.0, 0.0, 0.1, 0.7, 3.0]
    want = [-R, -R, R, R, R, R, R]
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor(x, dtype=dtype)
        r = float(torch.tensor(R, dtype=dtype))
        expect = [r if v > 0 else -r for v in want]
        assert converters.quantize_uniform(t, 1, R, True).tolist() == expect
        assert converters.quantize_uniform_(t.clone(), 1, R).tolist() == expect
        assert converters.quantize_scalar_range(t, 1, R, True).tolist() == expect
        assert converters.quantize_scalar_range(t, 1, R, True, clip=False).tolist() == expect
        assert converters.fake_quant(t, 1, R, True).tolist() == expect
        parts = t.view(1, 1, -1).clone()
        ranges = torch.full((1, 1, len(x)), R, dtype=dtype)
        assert converters.adc_(parts, 1, ranges, None, clip=True).view(-1).tolist() == expect
        scale = torch.full((1, 1, len(x)), 2.0, dtype=dtype)
        got = converters.adc_(t.view(1, 1, -1).clone(), 1, ranges, scale, clip=False)
        assert got.view(-1).tolist() == [2 * v for v in expect]


@pytest.mark.parametrize("r", [0.3, 0.7, 1.9])
def test_float64_inputs_round_with_float64_factors(r: float) -> None:
    """Inputs 1e-9 steps either side of each half step round down, then up: the factor n/r must
    carry float64's precision (float32's 6e-8 would move a code)."""
    for signed, bits in ((True, 4), (False, 3)):
        n = TOP_CODE[(signed, bits)]
        codes = [c + up for c in range(n) for up in (0, 1)]
        inputs = [(c + 0.5 + (1e-9 if up else -1e-9)) * r / n for c in range(n) for up in (0, 1)]
        want = [c * (r / n) for c in codes]
        x = torch.tensor(inputs, dtype=torch.float64)
        assert converters.quantize_scalar_range(x, bits, r, signed).tolist() == want
        assert converters.quantize_scalar_range(x, bits, r, signed, clip=False).tolist() == want
        assert converters.quantize_uniform(x, bits, r, signed).tolist() == want
        if signed:
            assert converters.quantize_uniform_(x.clone(), bits, r).tolist() == want
            ranges = torch.full((1, 1, len(inputs)), r, dtype=torch.float64)
            got = converters.adc_(x.view(1, 1, -1).clone(), bits, ranges, None, clip=True)
            assert got.view(-1).tolist() == want


@pytest.mark.parametrize("signed", [True, False])
def test_a_zero_range_becomes_the_floor(signed: bool) -> None:
    """r = 0 (an all-zero tile): the range is RANGE_FLOOR = 1e-30 in float64 itself, so x > 0
    gives n·(1e-30/n) and zero stays zero."""
    x = torch.tensor([0.0, 0.5, -0.5], dtype=torch.float64)
    n = 7
    got = converters.quantize_scalar_range(x, 3 if not signed else 4, 0.0, signed)
    low = -n if signed else 0
    assert got.tolist() == [0.0, n * (1e-30 / n), low * (1e-30 / n)]
    assert converters.quantize_uniform(x, 3 if not signed else 4, 0.0, signed).tolist() == got.tolist()


@pytest.mark.parametrize(
    ("bits", "signed", "levels"),
    [
        (1, True, 1),
        (2, True, 1),
        (3, True, 3),
        (4, True, 7),
        (6, True, 31),
        (1, False, 1),
        (3, False, 7),
        (5, False, 31),
    ],
)
def test_quant_step_is_the_range_over_the_top_code(bits: int, signed: bool, levels: int) -> None:
    """Δ = r/n (signed 1-bit: r, the distance to zero), and the outputs of quantize_uniform are
    multiples of it."""
    assert converters.quant_step(bits, 1.5, signed) == 1.5 / levels
    x = torch.linspace(-1.5 if signed else 0.0, 1.5, 101, dtype=torch.float64)
    codes = converters.quantize_uniform(x, bits, 1.5, signed) / converters.quant_step(bits, 1.5, signed)
    torch.testing.assert_close(codes, codes.round(), rtol=0.0, atol=1e-12)
    assert round(codes.max().item()) == levels


def test_round_to_dtype_rounds_to_the_nearest_value_of_that_dtype() -> None:
    """0.1 in float64, float32 (13421773·2⁻²⁷), float16 (1638·2⁻¹⁴) and bfloat16 (205·2⁻¹¹)."""
    assert converters.round_to_dtype(0.1, torch.float64) == 0.1
    assert converters.round_to_dtype(0.1, torch.float32) == 13421773 / 2**27
    assert converters.round_to_dtype(0.1, torch.float16) == 1638 / 2**14
    assert converters.round_to_dtype(0.1, torch.bfloat16) == 205 / 2**11


# ---------------------------------------------------------------- fake_quant: straight-through


@pytest.mark.parametrize("as_tensor", [False, True])
def test_fake_quant_quantizes_forward_and_passes_the_gradient(as_tensor: bool) -> None:
    """Signed 3 bits with a float or a tensor range that itself needs a gradient (``w_max`` of
    the weights): the quantized values forward, the upstream gradient unchanged backward (not
    ``round``'s zero), and none to the range."""
    n = TOP_CODE[(True, 3)]
    codes, inputs = _codes_and_inputs(n, True)
    x = torch.tensor(inputs, dtype=torch.float64, requires_grad=True)
    r = torch.tensor(R, dtype=torch.float64, requires_grad=True) if as_tensor else R
    y = converters.fake_quant(x, 3, r, True)
    assert y.tolist() == _expected(n, True, codes)
    upstream = torch.linspace(-2.0, 3.0, len(inputs), dtype=torch.float64)
    y.backward(upstream)
    assert x.grad is not None and torch.equal(x.grad, upstream)
    if isinstance(r, torch.Tensor):
        assert r.grad is None


# ---------------------------------------------------------------- ranges: brute-force maxima


def test_abs_max_is_the_largest_magnitude_along_a_dimension() -> None:
    rows = [[4.0, -1.0], [1.0, -2.0], [-6.0, 0.5]]
    x = torch.tensor(rows)
    assert converters.abs_max(x, dim=1).tolist() == [max(abs(v) for v in row) for row in rows]
    assert converters.abs_max(x, dim=0).tolist() == [max(abs(row[j]) for row in rows) for j in range(2)]


def _tile_of(out: int, cols: int) -> list[int]:
    return [j // cols for j in range(out)]


@pytest.mark.parametrize(("out", "cols"), [(4, 4), (4, 8), (6, 2), (5, 2), (6, 3)])
def test_column_tile_maxima_by_loops(out: int, cols: int) -> None:
    """Per (row tile, column tile) maxima of per-column maxima: ``(tiles, 1, 1)`` when one column
    tile holds every output, else ``(tiles, 1, out)`` with each column tile's maximum repeated."""
    rng = random.Random(out * 10 + cols)
    per_col = [[float(rng.randint(0, 50)) for _ in range(out)] for _ in range(3)]
    got = converters.column_tile_max_fast(torch.tensor(per_col), cols)
    tile = _tile_of(out, cols)
    want = [
        [max(v for v, tj in zip(row, tile, strict=True) if tj == tile[j]) for j in range(out)]
        for row in per_col
    ]
    if out <= cols:
        assert got.shape == (3, 1, 1)
        assert got.view(3).tolist() == [max(row) for row in per_col]
    else:
        assert got.shape == (3, 1, out)
        assert got.view(3, out).tolist() == want


@pytest.mark.parametrize(("out", "cols"), [(4, 4), (4, 8), (6, 2), (5, 2), (6, 3)])
def test_tile_abs_maxima_by_loops(out: int, cols: int) -> None:
    """max |p| over the batch and the columns of each column tile, in the documented shapes:
    ``(1, 1, 1)`` per layer, ``(tiles, 1, 1)`` for one column tile, ``(tiles, 1, column tiles, 1)``
    for whole column tiles, ``(tiles, 1, out)`` for a ragged last one."""
    tiles, batch = 3, 4
    rng = random.Random(out * 7 + cols)
    p = [[[float(rng.randint(-60, 60)) for _ in range(out)] for _ in range(batch)] for _ in range(tiles)]
    parts = torch.tensor(p)
    layer = converters.tile_abs_max(parts, cols, layer=True)
    assert layer.shape == (1, 1, 1)
    assert layer.item() == max(abs(v) for t in p for row in t for v in row)
    tile = _tile_of(out, cols)
    n_ct = tile[-1] + 1
    want = [
        [max(abs(row[j]) for row in p[t] for j in range(out) if tile[j] == c) for c in range(n_ct)]
        for t in range(tiles)
    ]
    got = converters.tile_abs_max(parts, cols, layer=False)
    if out <= cols:
        assert got.shape == (tiles, 1, 1)
        assert got.view(tiles).tolist() == [w[0] for w in want]
    elif out % cols == 0:
        assert got.shape == (tiles, 1, n_ct, 1)
        assert got.view(tiles, n_ct).tolist() == want
    else:
        assert got.shape == (tiles, 1, out)
        assert got.view(tiles, out).tolist() == [[want[t][tile[j]] for j in range(out)] for t in range(tiles)]


# ---------------------------------------------------------------- adc_: per-element reference


def _adc_case(
    bits: int, out: int, cols: int, seed: int
) -> tuple[torch.Tensor, list[list[float]], list[list[float]], list[list[list[int]]]]:
    """Partial sums ``(2 tiles, 3, out)`` built from codes (two beyond the top code either side)
    0.3 steps off, a range per (tile, column tile) and a GDC scale per (tile, column)."""
    n = TOP_CODE[(True, bits)]
    rng = random.Random(seed)
    tile = _tile_of(out, cols)
    r_ct = [[rng.choice([0.3, 0.7, 1.9]) for _ in range(tile[-1] + 1)] for _ in range(2)]
    r = [[r_ct[t][tile[j]] for j in range(out)] for t in range(2)]
    scale = [[rng.choice([0.5, 1.25, 3.0]) for _ in range(out)] for _ in range(2)]
    codes = [[[rng.randint(-n - 2, n + 2) for _ in range(out)] for _ in range(3)] for _ in range(2)]
    parts = [
        [
            [(codes[t][i][j] + rng.choice([-0.3, 0.0, 0.3])) * r[t][j] / n for j in range(out)]
            for i in range(3)
        ]
        for t in range(2)
    ]
    return torch.tensor(parts, dtype=torch.float64), r, scale, codes


def _adc_expected(
    bits: int, r: list[list[float]], scale: list[list[float]] | None, codes: list, clip: bool
) -> list:
    n = TOP_CODE[(True, bits)]
    lim = n if clip else 10**9
    return [
        [
            [
                max(-lim, min(lim, c)) * r[t][j] / n * (1.0 if scale is None else scale[t][j])
                for j, c in enumerate(row)
            ]
            for row in codes[t]
        ]
        for t in range(len(codes))
    ]


@pytest.mark.parametrize("bits", [2, 4, 5])
@pytest.mark.parametrize("per_column_tile", [False, True])
@pytest.mark.parametrize("with_scale", [False, True])
def test_adc_codes_clip_and_scale(bits: int, per_column_tile: bool, with_scale: bool) -> None:
    """Static ranges (clip) per column, as ``(tiles, 1, out)``, or per column tile, as ``(tiles, 1,
    column tiles, 1)`` (4 outputs in 2 column tiles): code = clip(round(p·n/r)), output code·(r/n)·s."""
    out, cols = 4, 2
    parts, r, scale, codes = _adc_case(bits, out, cols, seed=bits)
    if per_column_tile:
        ranges = torch.tensor([[r[t][0], r[t][2]] for t in range(2)], dtype=torch.float64).view(2, 1, 2, 1)
    else:
        ranges = torch.tensor(r, dtype=torch.float64).view(2, 1, out)
    s = torch.tensor(scale, dtype=torch.float64).view(2, 1, out) if with_scale else None
    got = converters.adc_(parts, bits, ranges, s, clip=True)
    assert got.shape == (2, 3, out)
    want = torch.tensor(
        _adc_expected(bits, r, scale if with_scale else None, codes, clip=True), dtype=torch.float64
    )
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0)
    assert torch.equal(parts, got)  # in place


@pytest.mark.parametrize("per_column_tile", [False, True])
def test_adc_with_covering_ranges_skips_no_code(per_column_tile: bool) -> None:
    """Dynamic ranges (clip=False): max |p| per tile and column tile covers every partial sum, so
    the codes are the same as with the clamp."""
    bits, out, cols = 4, 4, 2
    parts, _, scale, _ = _adc_case(bits, out, cols, seed=11)
    p = parts.tolist()
    n = TOP_CODE[(True, bits)]
    r_ct = [
        [max(abs(row[j]) for row in p[t] for j in range(out) if j // cols == c) for c in range(2)]
        for t in range(2)
    ]
    r = [[r_ct[t][j // cols] for j in range(out)] for t in range(2)]
    codes = [[[round(row[j] * n / r[t][j]) for j in range(out)] for row in p[t]] for t in range(2)]
    if per_column_tile:
        ranges = torch.tensor(r_ct, dtype=torch.float64).view(2, 1, 2, 1)
    else:
        ranges = torch.tensor(r, dtype=torch.float64).view(2, 1, out)
    got = converters.adc_(
        parts, bits, ranges, torch.tensor(scale, dtype=torch.float64).view(2, 1, out), clip=False
    )
    want = torch.tensor(_adc_expected(bits, r, scale, codes, clip=True), dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0)


# ---------------------------------------------------------------- on a GPU (skipped without one)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_converters_on_cuda_match_the_cpu() -> None:
    """The range tensors are made on the input's device."""
    x = torch.linspace(-0.5, 0.5, 41, dtype=torch.float64)
    for bits in (1, 3):
        cpu = converters.quantize_uniform(x, bits, R, True)
        assert torch.equal(converters.quantize_uniform(x.cuda(), bits, R, True).cpu(), cpu)
        assert torch.equal(converters.quantize_uniform_(x.cuda(), bits, R).cpu(), cpu)
