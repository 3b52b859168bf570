"""Arrays placed for fast kernel passes.

A kernel pass first updates the few elements before the parameter reaches a
64-byte (cache-line) boundary, then runs its vector loop from there. The loop
runs fastest when every array it streams is on a boundary at that point, that
is, when the gradient and the state arrays sit at the same offset from a
boundary as the parameter. The optimizers allocate their state that way
(:func:`aligned_like`); the gradients are yours: allocate them with
:func:`empty_aligned` or :func:`zeros_aligned` (and the parameters too), or
with ``aligned_like(param)``. NumPy guarantees only 16-byte alignment, and
where it puts an array depends on what was allocated and freed before.
:class:`pyoptim.FlatParameters` and the models of :mod:`pyoptim.nn` are 64-byte
aligned. Placement is a matter of speed only, and a copy (pickling,
``copy.deepcopy``, ``np.copy``) does not keep it.
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks

#: Bytes: a cache line, and the boundary the kernels' vector loops start on.
ALIGNMENT = 64


def empty_aligned(shape, dtype=np.float32, *, offset: int = 0, order: str = "C") -> np.ndarray:
    """An uninitialised contiguous array (`order` "C" or "F") whose data starts
    `offset` bytes past a 64-byte boundary (0 <= offset < 64, a multiple of the
    dtype's alignment)."""
    dtype = np.dtype(dtype)
    shape = _checks.shape("shape", shape)
    offsets = f"a multiple of {dtype.alignment} in [0, {ALIGNMENT})"
    offset = _checks.integer("offset", offset, min=0, max=ALIGNMENT - 1, expected=offsets)
    if offset % dtype.alignment:
        raise _checks.InvalidValue("offset", f"expected {offsets}, got {offset}")
    if order not in ("C", "F"):
        raise ValueError(f"order: expected 'C' or 'F', got {order!r}")
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (offset - raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape, order=order)


def zeros_aligned(shape, dtype=np.float32, *, offset: int = 0, order: str = "C") -> np.ndarray:
    """Like :func:`empty_aligned`, filled with zeros."""
    array = empty_aligned(shape, dtype, offset=offset, order=order)
    array.fill(0)
    return array


def aligned_like(array: np.ndarray, fill_value: float = 0.0) -> np.ndarray:
    """A new array of `array`'s shape, dtype and memory order (Fortran order for an
    array that is only F-contiguous, else C), filled with `fill_value`, at the same
    offset from a 64-byte boundary as `array`: what a kernel pass over both needs
    to run its vector loop on boundaries for each."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array: expected a numpy.ndarray, got {type(array).__name__}")
    offset = array.ctypes.data % ALIGNMENT if array.size else 0
    if offset % array.dtype.alignment:
        offset = 0  # a view not aligned to its dtype (the kernels refuse those): any place will do
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    like = empty_aligned(array.shape, array.dtype, offset=offset, order=order)
    like.fill(fill_value)
    return like
