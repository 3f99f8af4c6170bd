"""Datasets as plain arrays: a bundled default and loaders for standard local files.

Nothing is downloaded. ``digits`` (scikit-learn's 8×8 handwritten digits, shipped inside
scikit-learn) is the default; other datasets read standard files from a local folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A dataset cannot be loaded (unknown name, missing folder or file, bad format)."""


@dataclass(frozen=True)
class Dataset:
    """Train / calibration / test splits as float32 inputs in [0, 1] and int64 labels."""

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


def split(name: str, x: np.ndarray, y: np.ndarray, in_shape: tuple[int, ...], test_fraction: float,
          seed: int) -> Dataset:
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


LOADERS: dict[str, Callable[[Path | None, int], Dataset]] = {"digits": load_digits}
"""Dataset name → loader(path, seed)."""


def load_dataset(name: str, path: str | Path | None = None, seed: int = 0) -> Dataset:
    """Load a dataset by name, with errors that name the allowed values or the missing path."""
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(LOADERS))}")
    folder = Path(path) if path is not None else None
    if folder is not None and not folder.is_dir():
        raise DataError(f"dataset folder {str(folder)!r} does not exist or is not a folder")
    return LOADERS[name](folder, seed)
