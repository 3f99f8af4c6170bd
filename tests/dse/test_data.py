"""Dataset loaders on small files written here in the real formats (IDX, CIFAR-10 python batches)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from dse.engine.data import LOADERS, DataError, load_dataset, read_idx


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def _mnist_folder(folder: Path, compress: bool, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    arrays["train-labels-idx1-ubyte"][0] = 9
    for name, a in arrays.items():
        _write_idx(folder / (name + (".gz" if compress else "")), a, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_loader(tmp_path: Path, compress: bool) -> None:
    arrays = _mnist_folder(tmp_path, compress)
    data = load_dataset("mnist", tmp_path)
    assert data.in_shape == (1, 28, 28) and data.in_features == 784 and data.classes == 10
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (5, 1, 28, 28)
    assert data.x_train.dtype == np.float32 and data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    np.testing.assert_allclose(data.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"], atol=1e-3)
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert data.y_train.dtype == np.int64
    assert load_dataset("fashion_mnist", tmp_path).name == "fashion_mnist"


def test_idx_magic_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    _mnist_folder(tmp_path, compress=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="magic"):
        read_idx(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    with pytest.raises(DataError, match="needs data_path"):
        load_dataset("cifar10")


def _cifar_batch(path: Path, n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with path.open("wb") as f:
        pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels, b"filenames": [b"a"] * n}, f)
    return data, labels


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_pickle_loader(tmp_path: Path, nested: bool) -> None:
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    folder.mkdir(exist_ok=True)
    first = [_cifar_batch(folder / f"data_batch_{i}", 3, i) for i in range(1, 6)]
    test_x, test_y = _cifar_batch(folder / "test_batch", 4, 9)
    data = load_dataset("cifar10", tmp_path)
    assert data.in_shape == (3, 32, 32) and data.classes == 10
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(data.x_test.reshape(4, -1) * 255, test_x, atol=1e-3)
    np.testing.assert_array_equal(data.y_test, test_y)
    np.testing.assert_array_equal(data.y_train[:3], first[0][1])
    # channel-major layout: the first 1024 bytes of a row are the red plane
    np.testing.assert_allclose(data.x_train[0, 0].ravel() * 255, first[0][0][0, :1024], atol=1e-3)
    (folder / "data_batch_4").unlink()
    with pytest.raises(DataError, match="data_batch_4"):
        load_dataset("cifar10", tmp_path)


def test_registry_names() -> None:
    assert {"digits", "mnist", "cifar10", "mnist1d"} <= set(LOADERS)


def test_mnist1d_is_generated_offline_cached_and_leaves_global_rng_alone(tmp_path: Path) -> None:
    """The standard MNIST-1D split (4,000/1,000 signals of length 40, ten classes) [M1D], written
    once to the cache folder and read back identically; the generator's global seeding is undone."""
    import random

    np.random.seed(123)
    random.seed(123)
    expect_np, expect_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    data = load_dataset("mnist1d", cache_dir=tmp_path)
    assert (np.random.random(), random.random()) == (expect_np, expect_py)
    assert data.x_train.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert data.in_shape == (1, 40) and data.classes == 10 and data.x_train.dtype == np.float32
    assert set(np.unique(data.y_train)) == set(range(10))
    both = np.concatenate([data.x_train, data.x_test]).astype(np.float64)
    assert abs(both.mean()) < 1e-6 and abs(both.std() - 1.0) < 1e-6  # standardised as published
    (cached,) = tmp_path.glob("mnist1d-*.npz")
    again = load_dataset("mnist1d", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)
    cached.write_bytes(b"not an npz")  # a damaged cache is regenerated and replaced
    fixed = load_dataset("mnist1d", cache_dir=tmp_path)
    np.testing.assert_array_equal(fixed.x_test, data.x_test)
    assert np.load(cached)["x"].shape == (4000, 40)
    via_path = load_dataset("mnist1d", tmp_path)  # data_path names the cache folder
    np.testing.assert_array_equal(via_path.y_train, data.y_train)


def test_preflight_loads_mnist1d_into_the_results_cache_and_cnn1d_trains_on_it(tmp_path: Path) -> None:
    from dse.engine.preflight import load_datasets
    from dse.engine.space import parse_space
    from dse.engine.trial import evaluate_point
    from dse.schema.point import DesignPoint

    space = parse_space(
        {
            "params": {"dataset": {"choices": ["digits", "mnist1d"]}, "model": "mlp"},
            "objectives": {"accuracy": "max"},
        }
    )
    datasets = load_datasets(space, tmp_path / "_cache")
    assert (
        set(datasets) == {"digits", "mnist1d"} and len(list((tmp_path / "_cache").glob("mnist1d-*.npz"))) == 1
    )
    point = DesignPoint.of(
        dataset="mnist1d", model="cnn1d", epochs=2, batch_size=100, lr=0.1, hardware_seeds=1
    )
    row = evaluate_point(point, datasets["mnist1d"])
    assert row["accuracy_fp"] > 0.3  # ten classes: chance is 0.1
    assert row["devices"] > 0 and row["data_fingerprint"].startswith("mnist1d-")
