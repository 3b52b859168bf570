"""Turning MNIST images into training data: features, binary tasks, validation splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..datasets import load_mnist


@dataclass
class Split:
    """Features (n, d) of the model's dtype and integer labels (n,), for training or testing."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return self.x.shape[0]


def binary_digits(x: np.ndarray, labels: np.ndarray, negative: int, positive: int) -> Split:
    """The samples of two digits only, relabelled 0 (`negative`) and 1 (`positive`), in their original order."""
    _checks.integer("negative", negative, expected="a class label (int)")
    _checks.integer("positive", positive, expected="a class label (int)")
    if negative == positive:
        raise ValueError(f"negative, positive: expected two different digits, got {negative} twice")
    keep = (labels == negative) | (labels == positive)
    if not keep.any():
        raise ValueError(f"labels: no sample has label {negative} or {positive}")
    return Split(np.ascontiguousarray(x[keep]), (labels[keep] == positive).astype(np.int64))


def split_validation(data: Split, fraction: float, *, seed: int | None = 0) -> tuple:
    """``(train, validation)``: a random `fraction` of the samples held out (seeded), 0 gives no validation."""
    _checks.real("validation_fraction", fraction, min=0, max=1, max_open=True, type_error=False)
    n = len(data)
    n_val = int(round(n * fraction))
    if n_val == 0:
        return data, None
    if n_val >= n:
        raise ValueError(f"validation_fraction: {fraction} of {n} samples leaves none to train on")
    order = np.random.default_rng(seed).permutation(n)
    # Sorted, so both parts keep the data's original order (and gather rows in memory order).
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (Split(data.x[train_idx], data.y[train_idx]), Split(data.x[val_idx], data.y[val_idx]))


def limit(data: Split, n: int | None) -> Split:
    """The first `n` samples (all if n is None)."""
    if n is None:
        return data
    _checks.integer("limit", n, min=1, expected="a positive int or None", type_error=False)
    return Split(data.x[:n], data.y[:n])


def load_mnist_splits(data_dir=None, *, dtype=np.float32, limit_train: int | None = None,
                      limit_test: int | None = None) -> tuple:
    """``(train, test)`` Splits of MNIST: (n, 784) features ``pixel / 255`` of `dtype`, int64 labels.

    Read with ``pyoptim.datasets.load_mnist(data_dir)`` (which finds, or
    downloads, and verifies the files); `limit_*` keep the first n samples.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    mnist = load_mnist(data_dir)
    splits = []
    for name, labels, n in (("train", mnist.train_labels, limit_train), ("test", mnist.test_labels, limit_test)):
        whole = Split(mnist.features(name), labels)
        part = limit(whole, n)
        splits.append(Split(np.ascontiguousarray(part.x, dtype=dtype), part.y.astype(np.int64)))
    return tuple(splits)
