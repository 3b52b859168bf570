"""Mini-batches gathered into preallocated buffers, in a seeded shuffled order."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .. import _checks
from .data import Split

FULL_BATCH = "full"


def resolve_batch_size(batch_size, n_samples: int) -> int:
    """An int batch size from an int or "full" (every sample in one batch: full-batch gradient descent)."""
    if batch_size is None or (isinstance(batch_size, str) and batch_size.lower() == FULL_BATCH):
        return n_samples
    return min(_checks.integer("batch_size", batch_size, min=1, expected="an int >= 1 or 'full'",
                               type_error=False), n_samples)


class Batches:
    """One epoch's batches of `data` at a time: shuffled each epoch (seeded), the last one possibly smaller.

    Samples are gathered with ``np.take(..., out=...)`` into two buffers made
    once, so iterating allocates nothing per batch; each batch is a view of
    those buffers, valid until the next one. With one batch per epoch
    (full-batch training) the data's own arrays are used, without a copy.
    """

    def __init__(self, data: Split, batch_size, *, shuffle: bool = True, seed: int | None = 0):
        n = len(data)
        if n == 0:
            raise ValueError("data: expected at least one sample")
        self.data = data
        self.batch_size = resolve_batch_size(batch_size, n)
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)  # its state is part of a checkpoint
        self._identity = np.arange(n, dtype=np.intp)
        self._order = self._identity.copy()
        if self.batch_size < n:
            self._x = np.empty((self.batch_size,) + data.x.shape[1:], dtype=data.x.dtype)
            self._y = np.empty((self.batch_size,) + data.y.shape[1:], dtype=data.y.dtype)

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def epoch(self) -> Iterator[tuple]:
        """Yield ``(x_batch, y_batch)`` for one pass over the data."""
        n, size = len(self.data), self.batch_size
        if size == n:
            yield self.data.x, self.data.y  # the mean gradient does not depend on the order
            return
        if self.shuffle:
            # From the identity each time: an epoch's order then depends on the RNG's
            # state alone, which is what a checkpoint saves.
            np.copyto(self._order, self._identity)
            self.rng.shuffle(self._order)
        x, y, order = self.data.x, self.data.y, self._order
        for start in range(0, n, size):
            index = order[start:start + size]
            m = index.shape[0]
            xb, yb = self._x[:m], self._y[:m]
            # mode="clip": the indices are valid by construction, and "raise" would buffer the copy.
            np.take(x, index, axis=0, out=xb, mode="clip")
            np.take(y, index, axis=0, out=yb, mode="clip")
            yield xb, yb
