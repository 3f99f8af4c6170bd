"""Mean programmed conductance of the devices that hold a network's weights.

The cell read costs V²·G·t per driven device (``models.cost.breakdown``), so the energy needs the
conductance the weights actually put on the devices. Without bit slicing a weight's device sits
at ``g_min + |w|/w_max·span`` and its partner at ``g_min``. With slices each device of the pair
holds one digit ``d_k`` of |w|, at ``g_min + d_k/cap_k·span`` [HIC], and the mean of
``d_k/cap_k`` over the slices is not |w|/w_max: the low digits of small weights are as often
set as not (Gaussian weights on 4 binary slices: 0.30 against 0.17). This module gives the
device mean from the mapping itself (``models.physics.crossbar.weight_to_slices``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from models.config import AnalogConfig
from models.physics.crossbar import weight_to_slices
from models.physics.devices import DeviceSpec

__all__ = ["mean_conductance_fraction"]


def mean_conductance_fraction(
    layers: Iterable[tuple[torch.Tensor, float | torch.Tensor]], device: DeviceSpec, analog: AnalogConfig
) -> float:
    """Mean over every device pair (weight × slice) of ``(g⁺ + g⁻ − 2·g_min)/(g_max − g_min)``.

    This is the ``mean_g_fraction`` that makes :func:`models.cost.model.hardware_cost` charge
    exactly the programmed conductances: a pair then sums ``2·g_min + f·span``, as the sign-pair
    mapping's energy assumes. ``layers`` are (weights, w_max) as the layers map them. Summed in
    float64 so the figure does not depend on thread count. 0 for the digital SRAM baseline,
    whose cost has no conductance term.
    """
    if not device.analog:
        return 0.0
    span = device.g_max_us - device.g_min_us
    total, count = 0.0, 0
    for w, w_max in layers:
        g = weight_to_slices(w.detach(), w_max, device, analog).double()  # (slices, 2, *w.shape)
        above = (g[:, 0] + g[:, 1] - 2.0 * device.g_min_us) / span
        total += float(above.sum())
        count += above.numel()
    return total / max(1, count)
