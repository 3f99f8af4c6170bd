"""Which training mode runs on which device: the single source of valid (device, mode) pairs.

Off-chip modes (``hwa``, ``apt``) train digitally and program every device once, so they
suit every technology. On-chip modes write the devices during training and need the
device's update physics:

- ``onchip_sgd`` and ``mixed_precision`` turn updates into pulses of a multi-level device's
  step ``dw_min`` [A, N20]. A binary device (STT-MRAM, ``dw_min`` = the whole range) cannot
  take an SGD-sized step (use ``qnn``); the digital SRAM word has no pulse physics.
- ``hic`` needs multi-level devices for the least significant part [HIC]; binary-only
  STT-MRAM and digital SRAM cannot hold it.
- ``pcm_2t1c`` is the 2PCM + 3T1C cell [A18]: its high-significance pair is a SET-only PCM
  pair with refresh, so it needs a one-directional (PCM) device.
- ``qnn`` draws its randomness from the stochastic switching of binary MTJs [G21]; only
  the binary STT-MRAM preset has it (a multi-level device would waste its levels and has
  no intrinsic switching probability).
"""

from __future__ import annotations

from models.config import TrainConfig, TrainMode
from models.physics.devices import DEVICES, DeviceSpec, get_device

OFF_CHIP: frozenset[TrainMode] = frozenset({TrainMode.HWA, TrainMode.APT})
"""Modes whose trained weights depend only on the training group (train once, evaluate many)."""


def cacheable(cfg: TrainConfig) -> bool:
    """True when the pretrained weights depend only on ``cfg`` (off-chip, digital forward)."""
    return cfg.mode in OFF_CHIP and not cfg.hwa_converters_in_loop


_BINARY_REASON = "a binary device's step spans its whole range, so SGD updates cannot be pulses (use qnn)"
_DIGITAL_REASON = "digital SRAM has no analog pulse physics (train it off-chip: hwa or apt)"


def invalid_reason(device: DeviceSpec, mode: TrainMode) -> str | None:
    """Why ``mode`` makes no physical sense on ``device``, or None when the pair is valid."""
    if mode in OFF_CHIP:
        return None
    if not device.analog:
        return _DIGITAL_REASON
    binary = device.levels <= 2
    if mode in (TrainMode.ONCHIP_SGD, TrainMode.MIXED_PRECISION):
        return _BINARY_REASON if binary else None
    if mode is TrainMode.HIC:
        return "hic needs multi-level devices for the least significant part" if binary else None
    if mode is TrainMode.PCM_2T1C:
        if device.one_directional:
            return None
        return "pcm_2t1c is the 2PCM + 3T1C cell [A18]: it needs a one-directional PCM device pair (pcm)"
    if mode is TrainMode.QNN:
        if binary:
            return None
        return "qnn needs a binary device with stochastic switching (stt_mram) as its random source [G21]"
    return None


def valid_modes(device: str | DeviceSpec) -> list[TrainMode]:
    """Training modes that make physical sense on ``device`` (a preset name or spec)."""
    spec = get_device(device) if isinstance(device, str) else device
    return [m for m in TrainMode if invalid_reason(spec, m) is None]


def check_mode(device: str | DeviceSpec, mode: TrainMode | str) -> None:
    """Raise ``ValueError`` naming the pair, the reason and the valid modes if it is invalid."""
    spec = get_device(device) if isinstance(device, str) else device
    m = TrainMode(mode)
    why = invalid_reason(spec, m)
    if why is not None:
        allowed = ", ".join(v.value for v in valid_modes(spec))
        raise ValueError(
            f"mode {m.value!r} is invalid on device {spec.name!r}: {why}; valid modes: {allowed}"
        )


def valid_pairs() -> list[tuple[str, TrainMode]]:
    """Every valid (device name, mode) pair of the presets."""
    return [(name, m) for name, spec in DEVICES.items() for m in valid_modes(spec)]


__all__ = ["OFF_CHIP", "check_mode", "invalid_reason", "valid_modes", "valid_pairs"]
