"""The cell reads a row charges are counted on what ran: the DAC codes the layers converted (their
input duty) and the conductances of the programmed chips, against brute force on tiny layers."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.config import AdcRange, AnalogConfig, CostConfig, InputDutySource, InputEncoding
from models.cost.breakdown import LayerReads, LayerShape
from models.cost.model import hardware_cost
from models.cost.reads import input_duty, layer_reads, pair_conductance_us
from models.nn import inference
from models.nn.conv import AnalogConv2d
from models.nn.layers import AnalogLinear
from models.nn.read_activity import ReadActivity
from models.physics import converters
from models.physics.crossbar import weight_to_slices
from models.physics.devices import DEVICES

FIXED_DAC = {"dac_range": AdcRange.FIXED, "dac_full_scale": 1.0}
"""A fixed DAC range of ±1: an input k/7 is the signed 4-bit code k."""


def _count(model: nn.Module, x: torch.Tensor) -> dict[int, tuple[int, ...]]:
    activity = ReadActivity(model, (0.0, False))
    model.eval()
    with torch.no_grad(), activity.counting():
        model(x)
    return activity.result()[0].codes


def test_every_signed_4_bit_code_is_counted_and_its_duty_is_the_brute_force() -> None:
    # 3 rows, every signed 4-bit code (−7 … 7) on each row once per vector: 15³ vectors
    layer = AnalogLinear(3, 2, AnalogConfig(device="pcm", dac_bits=4, **FIXED_DAC))
    vectors = list(itertools.product(range(-7, 8), repeat=3))
    codes = _count(layer, torch.tensor(vectors, dtype=torch.float32) / 7)
    assert list(codes) == [7]  # signed: full scale 2^3 − 1
    expected = [0] * 8
    for v in vectors:
        for c in v:
            expected[abs(c)] += 1
    assert codes[7] == tuple(expected)
    drives = 3 * len(vectors)
    ones = sum(bin(abs(c)).count("1") for v in vectors for c in v)  # sign-magnitude: ≤ 3 of 4 pulses
    width = sum(Fraction(abs(c), 7) for v in vectors for c in v)
    assert input_duty(codes, 4, InputEncoding.BIT_SERIAL) == float(Fraction(ones, 4 * drives)) == 0.4
    assert input_duty(codes, 4, InputEncoding.MULTI_BIT) == float(width / drives)
    assert input_duty({}, 4, InputEncoding.BIT_SERIAL) is None


def test_unsigned_and_one_bit_codes() -> None:
    # a calibrated DAC on non-negative inputs converts unsigned codes 0 … 2^b − 1
    layer = AnalogLinear(2, 1, AnalogConfig(device="pcm", dac_bits=3))
    x = torch.tensor([[0.0, 1.0], [3.0, 7.0], [5.0, 0.0]])
    codes = _count(layer, x)  # uncalibrated: the range is the batch's largest input, 7
    assert codes == {7: (2, 1, 0, 1, 0, 1, 0, 1)}
    assert input_duty(codes, 3, InputEncoding.BIT_SERIAL) == (0 + 1 + 2 + 3 + 2 + 0) / 18
    # a signed 1-bit DAC drives every row at ±full scale
    one = AnalogLinear(2, 1, AnalogConfig(device="pcm", dac_bits=1, **FIXED_DAC))
    codes = _count(one, torch.tensor([[0.2, -0.9]]))
    assert codes == {1: (0, 2)} and input_duty(codes, 1, InputEncoding.BIT_SERIAL) == 1.0


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 1), (1, 0)])
def test_a_convolutions_image_codes_count_as_its_im2col_rows(stride: int, padding: int) -> None:
    # The tiled convolution converts the image once; its rows are the im2col patches, where a
    # pixel drives one row of every patch holding it and the zero padding drives rows at code 0.
    torch.manual_seed(0)
    cfg = AnalogConfig(device="pcm", tile_size=64, dac_bits=4, **FIXED_DAC)
    conv = AnalogConv2d(3, 4, 3, cfg, stride=stride, padding=padding)
    assert conv.channels_per_tile  # the image path, not im2col
    x = torch.rand(2, 3, 7, 6) * 2 - 1
    patches = F.unfold(converters.quantize_uniform(x, 4, 1.0, True), 3, 1, padding, stride)
    brute = torch.bincount(torch.round(patches.abs() * 7).long().flatten(), minlength=8)
    assert _count(conv, x) == {7: tuple(brute.tolist())}


def test_the_summed_conductance_is_every_programmed_devices() -> None:
    torch.manual_seed(0)
    cfg = AnalogConfig(device="pcm", tile_size=64, stuck_on_fraction=0.1)
    model = nn.Sequential(AnalogLinear(5, 3, cfg), nn.ReLU(), AnalogLinear(3, 2, cfg))
    activity = ReadActivity(model, (1.0, False))
    totals = [0.0, 0.0]
    for seed in (3, 4):
        inference.program(model, seed)  # programming noise and stuck-on devices included
        activity.programmed()
        for i, layer in enumerate((model[0], model[2])):
            totals[i] += sum(float(v) for v in layer._g.double().flatten())  # type: ignore[union-attr]
    out = activity.result()
    assert [a.chips for a in out] == [2, 2] and [a.weights for a in out] == [15, 6]
    assert [a.g_sum_us for a in out] == pytest.approx(totals, rel=1e-12)


def test_binary_slices_hold_the_bits_of_the_code_not_its_magnitude() -> None:
    # 4 binary slices, codes 1, 2, 3 of 15 (|w|/w_max 0.067, 0.133, 0.2) set 1, 1 and 2 of 4 bits:
    # the pair conductance sits (1 + 1 + 2)/12 of the span above 2·g_min, not 0.133 of it [HIC]
    rram = DEVICES["rram"]
    span = rram.g_max_us - rram.g_min_us
    analog = AnalogConfig(device="rram", binary_devices=4, multilevel_devices=0)
    w = torch.tensor([[1.0, -2.0, 3.0]]) / 15
    g_sum = float(weight_to_slices(w, 1.0, rram, analog).double().sum())
    assert pair_conductance_us(g_sum, 1, 3, analog, rram) == pytest.approx(
        2 * rram.g_min_us + 4 / 12 * span, rel=1e-12
    )
    # Gaussian weights: the low bits of small weights are set half the time (0.30 vs 0.17)
    g = torch.randn(1, 100_000, generator=torch.Generator().manual_seed(0))
    total = float(weight_to_slices(g, g.abs().max(), rram, analog).double().sum())
    frac = (pair_conductance_us(total, 1, g.numel(), analog, rram) - 2 * rram.g_min_us) / span
    assert frac > 1.5 * float((g.abs() / g.abs().max()).mean())


def test_each_layer_charges_its_own_duty_and_conductance() -> None:
    # V²·t·duty·G per (row, physical column) entry and read pulse, layer by layer (0.5 V, 10 ns)
    analog, device = AnalogConfig(device="rram", tile_size=64, dac_bits=4), DEVICES["rram"]
    shapes = [LayerShape(12, 5, 3), LayerShape(5, 2, 1)]
    reads = [LayerReads(0.25, 30.0), LayerReads(0.1, 50.0)]
    c = hardware_cost(analog, device, shapes, 0.0, 0.0, reads=reads)
    brute_pj = sum(
        s.rows * s.cols * s.uses_per_inference * 4 * r.input_duty * r.g_pair_us
        for s, r in zip(shapes, reads, strict=True)
    )
    assert c.energy_array_pj == pytest.approx(brute_pj * 0.5**2 * 1e-6 * 10e-9 * 1e12, rel=1e-12)
    with pytest.raises(ValueError, match="1 layer reads for 2 layers"):
        hardware_cost(analog, device, shapes, 0.0, 0.0, reads=reads[:1])
    # a fixed duty overrides the measured one; without a DAC there is nothing measured
    fixed = CostConfig(input_duty_source=InputDutySource.FIXED, input_duty=0.7)
    assert layer_reads(0.2, 9.0, fixed) == LayerReads(0.7, 9.0)
    assert layer_reads(0.2, 9.0, CostConfig()) == LayerReads(0.2, 9.0)
    assert layer_reads(None, 9.0, CostConfig()) == LayerReads(0.5, 9.0)
    assert dataclasses.replace(fixed, input_duty_source=InputDutySource.MEASURED) == CostConfig(
        input_duty=0.7
    )
