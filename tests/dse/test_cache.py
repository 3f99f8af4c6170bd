"""Train once, evaluate many: points that differ only in hardware knobs reuse trained weights."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from dse.engine.cache import WeightCache, converter_buffer_names
from dse.engine.data import load_dataset
from dse.engine.trial import data_fingerprint, evaluate_point
from dse.schema.point import DesignPoint
from models.nn.networks import build_network
from tests.torch_devices import DEVICE_PAIRS

BASE = DesignPoint.of(
    device="pcm", mode="hwa", hidden=(24,), epochs=2, hardware_seeds=1, tile_size=32, seed=5
)


def test_hardware_only_changes_hit_the_cache_and_training_changes_miss(tmp_path: Path) -> None:
    data, cache = load_dataset("digits", seed=5), WeightCache(tmp_path)
    first = evaluate_point(BASE, data, cache)
    assert first["cache_hit"] is False and len(list(tmp_path.glob("*.pt"))) == 1

    other_hw = BASE.replace(device="rram", adc_bits=4, dac_bits=5, tile_size=64, hardware_seeds=2)
    hit = evaluate_point(other_hw, data, cache)
    assert hit["cache_hit"] is True
    assert hit["accuracy_fp"] == first["accuracy_fp"]  # the very same trained weights
    assert hit["train_seconds"] == first["train_seconds"]
    assert hit["devices"] > 0 and hit["max_writes_per_device"] == 1  # writes recounted for this hardware

    retrained = evaluate_point(BASE.replace(eta_train=0.1), data, cache)
    assert retrained["cache_hit"] is False and len(list(tmp_path.glob("*.pt"))) == 2


def test_on_chip_modes_never_use_the_cache(tmp_path: Path) -> None:
    point = BASE.replace(mode="mixed_precision", epochs=1)
    data, cache = load_dataset("digits", seed=5), WeightCache(tmp_path)
    assert evaluate_point(point, data, cache)["cache_hit"] is False
    assert evaluate_point(point, data, cache)["cache_hit"] is False
    assert not list(tmp_path.glob("*.pt"))


def test_entries_hold_no_hardware_sized_buffers_and_damaged_entries_are_misses(tmp_path: Path) -> None:
    net = build_network(BASE.network_config((64,), 10), BASE.analog_config())
    cache = WeightCache(tmp_path)
    path = cache.save("k", net, 1.0, 2, 0.5)
    stored = torch.load(path, weights_only=True)["state"]
    assert converter_buffer_names(net) and not set(stored) & converter_buffer_names(net)
    other = build_network(BASE.network_config((64,), 10), BASE.replace(tile_size=16).analog_config())
    assert cache.load("k", other) is not None  # different tiling, same weights
    path.write_bytes(b"not a checkpoint")
    assert cache.load("k", other) is None


def test_a_different_data_split_never_reuses_weights(tmp_path: Path) -> None:
    cache = WeightCache(tmp_path)
    assert evaluate_point(BASE, load_dataset("digits", seed=5), cache)["cache_hit"] is False
    assert evaluate_point(BASE, load_dataset("digits", seed=6), cache)["cache_hit"] is False  # same size
    assert evaluate_point(BASE, load_dataset("digits", seed=5), cache)["cache_hit"] is True


@pytest.mark.parametrize(("written_on", "read_on"), DEVICE_PAIRS)
def test_an_entry_written_on_one_torch_device_serves_a_trial_on_another(
    tmp_path: Path, written_on: str, read_on: str
) -> None:
    data, cache = load_dataset("digits", seed=5), WeightCache(tmp_path)
    first = evaluate_point(BASE, data, cache, device=written_on)
    (entry,) = tmp_path.glob("*.pt")
    stored = torch.load(entry, weights_only=True)["state"]  # no map_location needed: CPU tensors
    assert stored and all(v.device.type == "cpu" for v in stored.values())

    hit = evaluate_point(BASE.replace(device="rram"), data, cache, device=read_on)
    assert hit["cache_hit"] is True and hit["train_seconds"] == first["train_seconds"]
    assert abs(hit["accuracy_fp"] - first["accuracy_fp"]) <= 0.01  # the same weights (float rounding)
    net = build_network(BASE.network_config((64,), 10), BASE.analog_config()).to(read_on)
    assert cache.load(entry.stem, net) is not None
    assert all(p.device.type == read_on for p in net.parameters())
    state = net.state_dict()
    assert all(torch.equal(state[k].cpu(), v) for k, v in stored.items())


TIMINGS = ("train_seconds", "calibration_seconds", "eval_seconds", "cache_hit")
"""Columns that say how long the run took and whether it hit; every other column must match exactly."""


def outcome(metrics: dict[str, object]) -> dict[str, object]:
    """A trial's results without its timings, NaN made comparable with ``==``."""
    return {
        k: "nan" if isinstance(v, float) and math.isnan(v) else v
        for k, v in metrics.items()
        if k not in TIMINGS
    }


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, object], bytes]:
    """A fresh run without a cache, and the bytes of the entry a cached run of the same point writes."""
    data = load_dataset("digits", seed=5)
    fresh = evaluate_point(BASE, data, None)
    with tempfile.TemporaryDirectory() as folder:
        evaluate_point(BASE, data, WeightCache(folder))
        (entry,) = Path(folder).glob("*.pt")
        return fresh, entry.read_bytes()


def entry_path(folder: Path) -> Path:
    return WeightCache(folder).path(
        f"{BASE.training_key()}-{data_fingerprint(load_dataset('digits', seed=5))}"
    )


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, 2 * len(data) // 3, 97):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def tamper(path: Path) -> None:
    """A loadable entry whose weights changed after its hash was taken (a bit flipped in a tensor)."""
    blob = torch.load(path, weights_only=True)
    name = next(k for k in blob["state"] if k.endswith("weight"))
    blob["state"][name].view(-1)[0] += 1.0
    torch.save(blob, path)


def other_architecture(path: Path) -> None:
    """A well-formed entry (right hash) of a network with another hidden width, under the same key."""
    net = build_network(BASE.replace(hidden=(16,)).network_config((64,), 10), BASE.analog_config())
    path.unlink()
    WeightCache(path.parent).save(path.stem, net, 1.0, 2, 0.5)


def older_format(path: Path) -> None:
    """An entry as written before entries carried a hash."""
    blob = torch.load(path, weights_only=True)
    del blob["sha256"]
    torch.save(blob, path)


def test_a_good_entry_is_a_hit_equal_to_a_fresh_run_bit_for_bit(
    tmp_path: Path, reference: tuple[dict[str, object], bytes]
) -> None:
    fresh, entry = reference
    path = entry_path(tmp_path)
    path.write_bytes(entry)
    hit = evaluate_point(BASE, load_dataset("digits", seed=5), WeightCache(tmp_path))
    assert hit["cache_hit"] is True and outcome(hit) == outcome(fresh)
    assert path.read_bytes() == entry  # a hit rewrites nothing


@pytest.mark.parametrize("damage", [flip_bytes, truncate, tamper, other_architecture, older_format])
def test_a_damaged_entry_is_a_miss_retrained_equal_to_a_fresh_run_and_replaced(
    tmp_path: Path, reference: tuple[dict[str, object], bytes], damage: Callable[[Path], None]
) -> None:
    fresh, entry = reference
    path = entry_path(tmp_path)
    path.write_bytes(entry)
    damage(path)
    assert path.read_bytes() != entry
    cache = WeightCache(tmp_path)
    net = build_network(BASE.network_config((64,), 10), BASE.analog_config())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert cache.load(path.stem, net) is None  # a miss, and the model is left untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())

    retrained = evaluate_point(BASE, load_dataset("digits", seed=5), cache)
    assert retrained["cache_hit"] is False and outcome(retrained) == outcome(fresh)
    assert cache.load(path.stem, net) is not None  # the entry was replaced by a good one
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
