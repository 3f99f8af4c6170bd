"""What a layer's cell reads charge: the input duty of its DAC codes and its devices' conductance.

The cell read costs V²·G·t per driven device [NS] (``models.cost.breakdown``), so the energy needs
two measured figures per layer, both counted on the chip that was evaluated
(``models.nn.read_activity``):

* the **input duty**, the fraction of (row, read pulse) pairs that are driven. Bit-serial inputs
  [ISAAC, NS] drive a row at the pulses where its code has a 1 bit; pulse-width inputs drive it
  for ``|code|/full scale`` of ``t_read``. Signed codes are driven sign-magnitude: the sign sets
  the pulse's polarity (V² is the same), so a signed b-bit code has at most b−1 driven pulses.
* the **pair conductance**, the devices' conductance summed over a (row, column) entry's pair,
  averaged over the layer's weights and slices: with bit slices each device holds one digit of
  |w| [HIC], so it is not mean |w|/w_max (Gaussian weights on 4 binary slices: 0.30 vs 0.17 of the
  span above g_min), and programming noise and stuck devices move it too.

Exact integer arithmetic on the code histograms, so the duty does not depend on thread count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from models.config import AnalogConfig, CostConfig, InputDutySource, InputEncoding
from models.cost.breakdown import LayerReads, slices
from models.physics.devices import DeviceSpec

__all__ = ["input_duty", "layer_reads", "pair_conductance_us"]


def input_duty(codes: Mapping[int, Sequence[int]], dac_bits: int, encoding: InputEncoding) -> float | None:
    """Fraction of (row, read pulse) pairs driven by inputs whose codes are ``codes``.

    ``codes[n][c]`` counts row drives with ``|code| = c`` converted at full-scale code ``n``
    (``2^(b-1) − 1`` signed, ``2^b − 1`` unsigned, 1 for a signed 1-bit DAC). Bit-serial: the 1-bit
    density, Σ popcount(c) over ``dac_bits`` pulses per drive. Multi-bit (pulse-width): the mean
    ``c/n``. None when nothing was counted.
    """
    total = sum(sum(hist) for hist in codes.values())
    if total == 0:
        return None
    if encoding is InputEncoding.BIT_SERIAL:
        ones = sum(k * c.bit_count() for hist in codes.values() for c, k in enumerate(hist))
        return float(Fraction(ones, total * dac_bits))
    width = sum(Fraction(sum(k * c for c, k in enumerate(hist)), n) for n, hist in codes.items())
    return float(width / total)


def pair_conductance_us(
    g_sum_us: float, chips: int, weights: int, analog: AnalogConfig, device: DeviceSpec
) -> float:
    """Mean conductance of one (row, physical column) entry's device pair (µS), from the sum
    ``g_sum_us`` of every device of a layer of ``weights`` weights over ``chips`` chips.

    Divided by the cost model's pair columns per weight (``slices``), so the charged energy is
    V²·t·Σg over the devices that were read, whatever pairs a trained chip's weight holds."""
    return g_sum_us / (chips * weights * slices(analog, device))


def layer_reads(duty: float | None, g_pair_us: float, cost: CostConfig) -> LayerReads:
    """The reads one layer charges: its measured ``duty`` when the design measures it
    (``input_duty_source = "measured"``) and it was counted, else the fixed ``cost.input_duty``
    (also for inputs without a DAC, ``dac_bits = None``, which have no codes to count)."""
    measured = cost.input_duty_source is InputDutySource.MEASURED
    use = duty if measured and duty is not None else cost.input_duty
    return LayerReads(input_duty=use, g_pair_us=g_pair_us)
