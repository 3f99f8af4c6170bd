"""The enumerated values of the categorical parameters (each a ``StrEnum``: its values are the
strings a space writes)."""

from __future__ import annotations

from enum import StrEnum


class AdcRange(StrEnum):
    """How the ADC's full-scale range is chosen."""

    CALIBRATED = "calibrated"
    """A percentile of partial sums observed on calibration data, per tile."""
    FIXED = "fixed"
    """Full scale: rows × w_max × x_max; makes tile size and drift matter."""


class RangeScope(StrEnum):
    """Which outputs share one ADC range."""

    TILE = "tile"
    """One range per crossbar tile (per row tile × column tile)."""
    LAYER = "layer"
    """One range for the whole layer (the largest tile range)."""


class Mapping(StrEnum):
    """How a signed weight becomes device conductances (two devices per slice either way)."""

    SIGN_PAIR = "sign_pair"
    """One device per sign: the device of the weight's sign carries |w|, its partner stays
    at g_min (aihwkit's default mapping [A]); 2L-1 weight levels per slice."""
    DIFFERENTIAL = "differential"
    """Both devices programmed symmetrically about mid-span, g± = g_mid ± w/2 (L weight
    levels); drift of the common mode shows up as a ν mismatch."""


class TrainMode(StrEnum):
    """Training algorithm (the search axis ``mode``)."""

    HWA = "hwa"
    """Off-chip hardware-aware training with noise injection, then one programming [J20]."""
    APT = "apt"
    """Off-chip floating-point training, programming, then analog-aware post-training of
    normalization affine terms and per-output scales (source 000)."""
    ONCHIP_SGD = "onchip_sgd"
    """On-chip SGD: forward and backward through the crossbars, updates as device pulses [A, G19]."""
    MIXED_PRECISION = "mixed_precision"
    """Digital accumulator χ; pulses when |χ| ≥ ε, the device step [N20]."""
    HIC = "hic"
    """Binary (MSB) + multi-level (LSB) devices fed by a low-precision accumulator's carry [HIC]."""
    QNN = "qnn"
    """Binary/ternary weights, stochastic (GXNOR) updates by binary STT-MRAM switching [G21]."""
    PCM_2T1C = "pcm_2t1c"
    """2PCM + 3T1C cell: updates on a volatile capacitor pair, transferred to the PCM pair
    periodically with polarity inversion; W = F·(G⁺ − G⁻) + (g − g_shared) [A18]."""


class AptTarget(StrEnum):
    """What APT calibrates its digital parameters against (source 000)."""

    CHIP = "chip"
    """The programmed chip: programmed once, then read at every calibration step."""
    NOISE = "noise"
    """The device's programming-noise statistics, as output-referred noise per step (cheap)."""


class BackwardPass(StrEnum):
    """How on-chip training computes the error of a layer's inputs, ∂x = ∂y·Wᵀ."""

    ANALOG = "analog"
    """A transposed read of the same array: DAC on ∂y, per-tile partial sums with the array's
    read noise, ADC per tile, digital sum (as aihwkit's analog backward pass [A])."""
    IDEAL = "ideal"
    """The exact floating-point product with the weights the devices hold."""


class MomentumPlacement(StrEnum):
    """Where the momentum state of on-chip SGD lives [G19]."""

    NONE = "none"
    """Plain SGD."""
    DIGITAL = "digital"
    """A digital register beside the array (32 bits per weight)."""
    IN_MEMORY = "in_memory"
    """An extra device set of the same technology, updated by pulses (its writes count)."""


class QnnWeights(StrEnum):
    """Weight set of the quantized network [G21]."""

    BINARY = "binary"
    """{-1, +1}·α."""
    TERNARY = "ternary"
    """{-1, 0, +1}·α."""


class InputEncoding(StrEnum):
    """How an input activation is applied to a crossbar row (a cost knob)."""

    BIT_SERIAL = "bit_serial"
    """One 1-bit drive, array read and ADC conversion per input bit [ISAAC, NS]."""
    MULTI_BIT = "multi_bit"
    """One pulse-width (or multi-level) drive per input, one read and one conversion [LG23]."""


class InputDutySource(StrEnum):
    """Where the input duty the cell reads charge comes from (a cost knob)."""

    MEASURED = "measured"
    """Counted per layer from the DAC codes of the test-set evaluation (``models.cost.reads``)."""
    FIXED = "fixed"
    """The knob ``input_duty`` (e.g. a published chip's assumption), the same for every layer."""
