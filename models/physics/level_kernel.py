"""Compiled CPU pass of the PCM read-noise re-estimate on a level table (HIC's integer digits).

:func:`models.physics.chip.training_read_std` needs, per weight, ``std(g⁺)² + std(g⁻)²`` of its
devices' 1/f read noise. Where each pair holds an integer digit, the std of every digit is known
from a small table (computed by torch, from its vectorized and its scalar loop); this pass
gathers it per device, squares and adds, in one loop (docs/training_modes.md, sixth speed pass).
The same IEEE operations as torch's ``square`` and two-term ``sum`` (no ``fastmath``, no
contraction into a multiply-add): equal values; the mean stays torch's.
"""

from __future__ import annotations

import numpy as np

from models.physics.jit import jit


@jit()
def level_power(
    digits: np.ndarray, offset: int, vec: np.ndarray, sca: np.ndarray, scalar_at: np.ndarray, out: np.ndarray
) -> None:
    """``out[p, i] = s⁺² + s⁻²`` of the weights' digits ``digits (P, n)`` (integer-valued, any
    strides), the stds taken from ``vec`` or ``sca (P, 2, K)`` (digit ``d`` at ``d + offset``) as
    ``scalar_at (2n,)`` says for the flat position ``j·n + i`` of device ``j`` (nonzero: torch's
    scalar loop computes it)."""
    pairs, n = digits.shape
    for p in range(pairs):
        for i in range(n):
            k = int(digits[p, i]) + offset
            s0 = sca[p, 0, k] if scalar_at[i] else vec[p, 0, k]
            s1 = sca[p, 1, k] if scalar_at[n + i] else vec[p, 1, k]
            out[p, i] = s0 * s0 + s1 * s1


__all__ = ["level_power"]
