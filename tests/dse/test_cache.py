"""Train once, evaluate many: points that differ only in hardware knobs reuse trained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dse.engine.cache import WeightCache, converter_buffer_names
from dse.engine.data import load_dataset
from dse.engine.trial import evaluate_point
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
