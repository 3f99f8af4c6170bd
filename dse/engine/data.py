"""Datasets as plain arrays: a bundled default and loaders for standard local files.

Nothing is downloaded. ``digits`` (scikit-learn's 8×8 handwritten digits, shipped inside
scikit-learn) is the default; ``mnist1d`` is generated locally by the pinned ``mnist1d``
package [M1D] and cached as arrays; other datasets read standard files from a local folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A dataset cannot be loaded (unknown name, missing folder or file, bad format)."""


@dataclass(frozen=True)
class Dataset:
    """Train / test splits as float32 inputs and int64 labels: images in [0, 1]; MNIST-1D
    standardised (mean 0, std 1) as its generator publishes it [M1D]."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    in_shape: tuple[int, ...]
    """Shape of one input without the batch dimension, e.g. (64,) or (3, 32, 32)."""
    classes: int

    @property
    def in_features(self) -> int:
        """Flattened input size."""
        return int(np.prod(self.in_shape))


def split(
    name: str, x: np.ndarray, y: np.ndarray, in_shape: tuple[int, ...], test_fraction: float, seed: int
) -> Dataset:
    """Stratified, seeded train/test split of one array pair."""
    rng = np.random.default_rng(seed)
    test_idx: list[np.ndarray] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test_idx.append(idx[: max(1, round(len(idx) * test_fraction))])
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(y)), test)
    train = train[rng.permutation(len(train))]
    return Dataset(name, x[train], y[train], x[test], y[test], in_shape, int(y.max()) + 1)


def load_digits(path: Path | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 1,797 8×8 digits, scaled to [0, 1]; 25 % held out for test."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    return split("digits", x, bunch.target.astype(np.int64), (64,), 0.25, seed)


IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
"""IDX type codes (third magic byte) → big-endian numpy dtypes (LeCun's IDX format)."""


def _find(folder: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` present in ``folder``, or a DataError naming what is missing."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    also = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
    raise DataError(f"missing file {names[0]!r}{also} in {str(folder)!r}")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): magic ``0 0 type ndim``, big-endian
    uint32 sizes, then the data."""
    import gzip

    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{str(path)!r} is a damaged gzip file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{str(path)!r} is not an IDX file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{str(path)!r} is truncated: its header promises {ndim} dimensions")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - 4 - 4 * ndim < count * dtype.itemsize:
        raise DataError(f"{str(path)!r} is truncated: header says {dims}")
    return np.frombuffer(raw, dtype, count=count, offset=4 + 4 * ndim).reshape(dims)


def _load_idx_dataset(name: str, folder: Path | None) -> Dataset:
    if folder is None:
        raise DataError(
            f"dataset {name!r} needs data_path: a folder with the IDX files (nothing is downloaded)"
        )
    arrays = []
    for split_name in ("train", "t10k"):
        for kind, dims in (("images", "idx3"), ("labels", "idx1")):
            base, dotted = f"{split_name}-{kind}-{dims}-ubyte", f"{split_name}-{kind}.{dims}-ubyte"
            arrays.append(read_idx(_find(folder, (base, base + ".gz", dotted, dotted + ".gz"))))
    x_train, y_train, x_test, y_test = arrays
    if x_train.ndim != 3 or len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataError(f"IDX files in {str(folder)!r} have inconsistent shapes")
    shape = (1, *x_train.shape[1:])

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0).reshape(-1, *shape)

    y_all = np.concatenate([y_train, y_test]).astype(np.int64)
    return Dataset(
        name,
        images(x_train),
        y_train.astype(np.int64),
        images(x_test),
        y_test.astype(np.int64),
        shape,
        int(y_all.max()) + 1,
    )


def load_mnist(path: Path | None = None, seed: int = 0) -> Dataset:
    """MNIST from a local folder of IDX files (``train-images-idx3-ubyte[.gz]`` …), official split."""
    return _load_idx_dataset("mnist", path)


def load_fashion_mnist(path: Path | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST: same IDX files and layout as MNIST."""
    return _load_idx_dataset("fashion_mnist", path)


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"


def load_cifar10(path: Path | None = None, seed: int = 0) -> Dataset:
    """CIFAR-10 from its python pickle batches (``data_batch_1..5``, ``test_batch``) in
    ``path`` or ``path/cifar-10-batches-py``; inputs (3, 32, 32) in [0, 1], official split."""
    import pickle

    if path is None:
        raise DataError(
            "dataset 'cifar10' needs data_path: a folder with the python batches (nothing is downloaded)"
        )
    folder = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        path = _find(folder, (name,))
        try:
            with path.open("rb") as f:
                d = pickle.load(f, encoding="bytes")
            data, labels = d[b"data"], d[b"labels"]
            x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        except Exception:  # not a pickle, a truncated one, or a pickle of something else
            raise DataError(
                f"{str(path)!r} is not a CIFAR-10 python batch (data_batch_1..5, test_batch)"
            ) from None
        return x, np.asarray(labels, dtype=np.int64)

    parts = [batch(n) for n in CIFAR10_TRAIN]
    x_test, y_test = batch(CIFAR10_TEST)
    return Dataset(
        "cifar10",
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        x_test,
        y_test,
        (3, 32, 32),
        10,
    )


MNIST1D_SEED = 42
"""The generator's default seed: the standard MNIST-1D dataset [M1D]."""


MNIST1D_FILE = "mnist1d-{version}-seed{seed}.npz"
"""Cache file of the generated MNIST-1D arrays (the generator's version and seed in its name)."""


def load_mnist1d(path: Path | None = None, seed: int = 0) -> Dataset:
    """MNIST-1D [M1D]: 5,000 length-40 signals from the generator's default arguments (seed 42),
    the standard 4,000/1,000 split. Generated by ``mnist1d.data.make_dataset`` (never its
    downloading ``get_dataset``) and cached as ``.npz`` in ``path`` when one is given.

    ``seed`` does not change the split: the published baselines are on this one.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("mnist1d")
    except PackageNotFoundError:
        raise DataError(
            "dataset 'mnist1d' needs the mnist1d package: pip install -c constraints.txt mnist1d"
        ) from None
    file = path / MNIST1D_FILE.format(version=ver, seed=MNIST1D_SEED) if path is not None else None
    arrays: dict[str, np.ndarray] | None = None
    if file is not None and file.is_file():
        try:
            with np.load(file) as z:
                arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError, EOFError):
            arrays = None  # a damaged cache file is regenerated and replaced, never trusted
    if arrays is None:
        arrays = _make_mnist1d()
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".tmp-{os.getpid()}-{file.name}")  # written whole, then renamed
            with tmp.open("wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, file)
    x, x_test = arrays["x"].astype(np.float32), arrays["x_test"].astype(np.float32)
    length = x.shape[1]
    return Dataset(
        "mnist1d",
        x,
        arrays["y"].astype(np.int64),
        x_test,
        arrays["y_test"].astype(np.int64),
        (1, length),
        10,
    )


def _make_mnist1d() -> dict[str, np.ndarray]:
    """Run the generator with its default arguments, leaving numpy's and Python's global random
    state as they were (the generator seeds both)."""
    import random

    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError(
            "dataset 'mnist1d' needs the mnist1d package: pip install -c constraints.txt mnist1d"
        ) from None
    args = get_dataset_args()
    if args.seed != MNIST1D_SEED or args.num_samples != 5000 or args.train_split != 0.8:
        raise DataError(
            f"mnist1d's default arguments changed ({vars(args)}); pin the version in constraints.txt"
        )
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}


LOADERS: dict[str, Callable[[Path | None, int], Dataset]] = {
    "digits": load_digits,
    "mnist1d": load_mnist1d,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}
"""Dataset name → loader(path, seed)."""


GENERATED = frozenset({"mnist1d"})
"""Datasets generated locally: ``data_path`` (or the results folder's cache) only caches them."""


def load_dataset(
    name: str, path: str | Path | None = None, seed: int = 0, cache_dir: str | Path | None = None
) -> Dataset:
    """Load a dataset by name, with errors that name the allowed values or the missing path.

    A generated dataset is cached in ``path`` when given, else in ``cache_dir`` (the results
    folder's ``_cache/``), else regenerated each time.
    """
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(LOADERS))}")
    folder = Path(path) if path is not None else None
    if folder is not None and not folder.is_dir():
        raise DataError(f"data_path {str(folder)!r} does not exist or is not a folder")
    if name in GENERATED and folder is None and cache_dir is not None:
        folder = Path(cache_dir)
    return LOADERS[name](folder, seed)
