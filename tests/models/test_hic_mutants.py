"""HIC's arrays and updater [HIC] against by-hand cases: the ones its mutation run (issue 16) showed no
test held. The LSB is the range over the largest code, and the initial weights round to their nearest
level; the updater's range is the largest |w| over ``INIT_FRACTION``, its accumulator has the configured
bits, its step is −lr·g and its digital bits per weight are the accumulator's plus momentum's; a step
where exactly one weight carries, and one where every carried digit leaves the first slice's cap (the
carry chain must run); the write counters' tags.

The slices are two 3-level devices below one binary device (caps 2, 2, 1; significance 1, 3, 9; largest
code 17), on noise-free devices (``ideal_devices``), with a floating-point accumulator wherever the
rounding draws are not the point, so every digit, carry and pulse is known by hand.
"""

from __future__ import annotations

import pytest
import torch

from models import torch_device as placement
from models.config import AnalogConfig, MomentumPlacement, TrainConfig, TrainMode
from models.nn.layers import AnalogLinear
from models.training.hic import Hic, HicArray
from tests.torch_devices import TORCH_DEVICES

pytestmark = pytest.mark.usefixtures("ideal_devices")

TOP = 17
"""The largest code of the slices below, Σ cap_k·s_k = 2·1 + 2·3 + 1·9 (LSB levels)."""


def _config(device: str = "ideal_bi", multilevel: int = 2, binary: int = 1) -> AnalogConfig:
    """3-level multi-level slices (caps 2) below binary ones: positional significance 1, 3, 9, …"""
    return AnalogConfig(device=device, multilevel_devices=multilevel, slice_levels=3, binary_devices=binary)


def _array(w: torch.Tensor, w_range: float, device: str = "ideal_bi") -> HicArray:
    """A float-accumulator array over ``w`` (its digits where ``w`` is; the layer gives the device)."""
    cfg = _config(device)
    return HicArray(w, w_range, None, cfg, AnalogLinear(1, 1, cfg))


def _hic(w: torch.Tensor, where: str = "cpu", **train: object) -> tuple[AnalogLinear, Hic]:
    """A one-layer HIC updater on weights ``w`` (no momentum unless asked)."""
    layer = AnalogLinear(w.shape[0], w.shape[1], _config())
    with torch.no_grad():
        layer.weight.copy_(w)
    layer.to(where)
    cfg = TrainConfig(
        mode=TrainMode.HIC, **{"lr": 0.5, "momentum_placement": MomentumPlacement.NONE, **train}
    )
    return layer, Hic([layer], cfg, placement.seeded(0, where))


def _cpu_digits(arr: HicArray) -> list[list[int]]:
    """Each weight's digits, least significant first."""
    return arr.digits.reshape(len(arr.caps), -1).T.round().long().tolist()


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_the_lsb_is_the_range_over_the_largest_code_and_weights_round_to_their_nearest_level(
    where: str,
) -> None:
    """A range of 3.4 over the largest code 17 is an LSB of 0.2; each weight rounds to its nearest
    level (0.45 → 0, 0.55 → 1, −2.6 → −3, 9.7 → 10, ±17 the largest code) and carries into digits by
    hand: −3 = −1·3, 5 = 2 + 1·3, 10 = 1 + 1·9, 17 = 2 + 2·3 + 1·9. Each device was written once."""
    w = torch.tensor([0.0, 0.09, 0.11, -0.52, 1.0, 3.4, -3.4, 1.94], device=where)
    arr = _array(w, 3.4)
    assert arr.lsb == pytest.approx(0.2, rel=1e-12)
    assert (arr.caps, arr.sig) == ([2, 2, 1], [1.0, 3.0, 9.0])
    assert _cpu_digits(arr) == [
        [0, 0, 0],
        [0, 0, 0],
        [1, 0, 0],
        [0, -1, 0],
        [2, 1, 0],
        [2, 2, 1],
        [-2, -2, -1],
        [1, 0, 1],
    ]
    levels = torch.tensor([0, 0, 1, -3, 5, 17, -17, 10], dtype=torch.float32)
    assert torch.allclose(arr.weight().cpu(), levels * 0.2, atol=1e-6)
    assert torch.allclose(arr.value.cpu(), levels * 0.2, atol=1e-6)
    assert torch.equal(arr.counts.cpu(), torch.ones(3, 2, 8, dtype=torch.float64))
    assert torch.equal(arr.acc.cpu(), torch.zeros(8))


def test_the_updater_maps_the_largest_weight_to_init_fraction_of_the_range() -> None:
    """max|w| = 0.5 over INIT_FRACTION = 0.25 is a range of 2.0, so an LSB of 2/17: the layer keeps the
    range (deployment programs the same grid) and holds the devices' weights, 0.5 → 4 levels
    (4.25 rounded), −0.1 → −1 (−0.85), 0.03 → 0 (0.255), 0.25 → 2 (2.125). An all-zero layer takes the
    floor of 10⁻⁶ over INIT_FRACTION, and stays at zero."""
    layer, _ = _hic(torch.tensor([[0.5, -0.1], [0.03, 0.25]]))
    assert layer.w_range == 2.0
    expected = torch.tensor([[4.0, -1.0], [0.0, 2.0]]) * (2.0 / TOP)
    assert torch.allclose(layer.weight.detach(), expected, atol=1e-7)
    zero, upd = _hic(torch.zeros(2, 3))
    assert zero.w_range == pytest.approx(4e-6, rel=1e-12)
    assert upd.arrays[0].lsb == pytest.approx(4e-6 / TOP, rel=1e-12)
    assert torch.equal(zero.weight.detach(), torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("update_bits", "placement_", "expected"),
    [
        (4, MomentumPlacement.NONE, 4.0),
        (4, MomentumPlacement.DIGITAL, 36.0),  # a 4-bit accumulator and a float32 momentum register
        (32, MomentumPlacement.NONE, 32.0),  # a float accumulator
        (32, MomentumPlacement.DIGITAL, 64.0),
    ],
)
def test_digital_bits_per_weight_are_the_accumulators_and_the_momentums(
    update_bits: int, placement_: MomentumPlacement, expected: float
) -> None:
    _, upd = _hic(torch.full((2, 2), 0.5), update_bits=update_bits, momentum_placement=placement_)
    assert upd.digital_bits_per_weight == expected
    assert isinstance(upd.digital_bits_per_weight, float)


def test_the_updaters_accumulator_holds_its_configured_bits() -> None:
    """4 update bits: the accumulator holds multiples of 1/8 level, so a step of 0.3 level leaves 2/8
    or 3/8 in every weight's accumulator (never 0.3); a float accumulator keeps 0.3."""
    g = torch.full((4, 4), -0.3 * (2.0 / TOP) / 0.5)  # −lr·g = +0.3 level (LSB 2/17, lr 0.5)
    w = torch.zeros(4, 4)
    w[0, 0] = 0.5
    _, upd = _hic(w, update_bits=4)
    upd.step(0, g)
    assert set(upd.arrays[0].acc.flatten().tolist()) <= {0.25, 0.375}
    _, upd = _hic(w, update_bits=32)
    upd.step(0, g)
    assert torch.allclose(upd.arrays[0].acc, torch.full((4, 4), 0.3), atol=1e-6)


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_a_step_moves_each_weight_by_minus_lr_times_its_gradient(where: str) -> None:
    """lr = 0.5, no momentum, float accumulator: a gradient of −L·lsb/lr adds L levels. The whole part
    reaches the digits (the first weight, at 4 levels, goes to 5 = 2 + 1·3), the rest stays in the
    accumulator; the layer holds the new weights."""
    lsb = 2.0 / TOP
    w = torch.zeros(2, 4)
    w[0, 0] = 0.5  # 4 levels, and the range 2.0
    moves = torch.tensor([[1.5, -2.25, 0.5, 0.0], [3.25, -1.25, 0.75, -0.75]])
    layer, upd = _hic(w, where)
    upd.step(0, (-moves * lsb / 0.5).to(where))
    arr = upd.arrays[0]
    levels = torch.tensor([[5.0, -2.0, 0.0, 0.0], [3.0, -1.0, 0.0, 0.0]])
    assert torch.allclose(layer.weight.detach().cpu(), levels * lsb, atol=1e-6)
    assert torch.allclose(arr.acc.cpu(), moves - moves.trunc(), atol=1e-5)
    assert _cpu_digits(arr) == [
        [2, 1, 0],
        [-2, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 1, 0],
        [-1, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
    ]


@pytest.mark.parametrize("where", TORCH_DEVICES)
def test_a_step_where_one_weight_carries_writes_it(where: str) -> None:
    """LSB 0.1; 0.25 level everywhere except 1.5 levels on one weight: that weight alone carries one
    level (digit 1, one SET pulse on its slice-0 positive device, 0.5 left), the others keep 0.25."""
    arr = _array(torch.zeros(3, 4, device=where), 1.7)
    moves = torch.full((3, 4), 0.25)
    moves[1, 2] = 1.5
    idx = arr.update((moves * arr.lsb).to(where), placement.seeded(0, where))
    assert idx.cpu().tolist() == [6]
    acc = torch.full((3, 4), 0.25)
    acc[1, 2] = 0.5
    assert torch.allclose(arr.acc.cpu(), acc, atol=1e-6)
    digits = [[0, 0, 0]] * 12
    digits[6] = [1, 0, 0]
    assert _cpu_digits(arr) == digits
    assert float(arr.value.cpu()[1, 2]) == pytest.approx(0.1, rel=1e-6)
    counts = torch.ones(3, 2, 3, 4, dtype=torch.float64)
    counts[0, 0, 1, 2] = 2.0
    assert torch.equal(arr.counts.cpu(), counts)


@pytest.mark.parametrize("where", TORCH_DEVICES)
@pytest.mark.parametrize("device", ["ideal_bi", "ideal_set"])
def test_a_step_where_every_carried_digit_leaves_its_cap_runs_the_carry_chain(
    device: str, where: str
) -> None:
    """Digits at ±2 (the cap) take ±1.25 levels: each first digit would be ±3, so each carries into the
    next slice, ±3 = 0 + ±1·3. Pulses by hand: the slice-0 device falls 2 → 0 (2 pulses on a
    bidirectional device; one RESET and no SET on a one-directional one), the slice-1 device rises
    0 → 1 (1 SET)."""
    w = torch.tensor([0.2, -0.2, 0.2, -0.2], device=where)  # ±2 levels of 0.1
    arr = _array(w, 1.7, device)
    assert _cpu_digits(arr) == [[2, 0, 0], [-2, 0, 0]] * 2
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0])
    arr.update((1.25 * 0.1 * sign).to(where), placement.seeded(0, where))
    assert _cpu_digits(arr) == [[0, 1, 0], [0, -1, 0]] * 2
    assert torch.allclose(arr.value.cpu(), 0.3 * sign, atol=1e-6)
    assert torch.allclose(arr.acc.cpu(), 0.25 * sign, atol=1e-6)
    fell = 1.0 + (1.0 if device == "ideal_set" else 2.0)
    expected = torch.ones(3, 2, 4, dtype=torch.float64)
    side = (sign < 0).long()  # the device of the digit's sign: 0 positive, 1 negative
    for j in range(4):
        expected[0, side[j], j] = fell
        expected[1, side[j], j] = 2.0
    assert torch.equal(arr.counts.cpu(), expected)


@pytest.mark.parametrize(
    ("multilevel", "binary", "tags"),
    [
        (2, 1, [("multilevel", 2), ("binary", 1)]),
        (0, 2, [("binary", 2)]),
        (2, 0, [("multilevel", 2)]),
    ],
)
def test_the_counters_tag_each_layers_multilevel_and_binary_slices(
    multilevel: int, binary: int, tags: list[tuple[str, int]]
) -> None:
    """Per layer, in order: the multi-level slices' writes, then the binary slices', each only where
    such slices exist; at the start every device has been written once."""
    cfg = _config(multilevel=multilevel, binary=binary)
    torch.manual_seed(0)
    layers = [AnalogLinear(3, 4, cfg), AnalogLinear(4, 2, cfg)]
    upd = Hic(layers, TrainConfig(mode=TrainMode.HIC, lr=0.5), torch.Generator().manual_seed(0))
    out = upd.counters()
    expected = [(tag, (n, 2, *layer.weight.shape)) for layer in layers for tag, n in tags]
    assert [(tag, tuple(c.shape)) for tag, c in out] == expected
    assert all(bool((c == 1).all()) for _, c in out)
