"""One contiguous buffer for all of a model's parameters, one for its gradients."""

from __future__ import annotations

import math
from typing import Iterator, Mapping

import numpy as np

from . import _checks
from .memory import ALIGNMENT, zeros_aligned


class FlatParameters:
    """Named parameter and gradient arrays that are views into two flat buffers.

    Registering ``flat.parameters()`` with an optimizer makes every update of
    the whole model a single kernel pass over ``flat.params``::

        flat = FlatParameters({"w": (784, 128), "b": (128,)}, dtype=np.float32)
        w, dw = flat["w"], flat.grad("w")   # views; write into them freely
        opt = pyoptim.Adam(flat.parameters(), lr=1e-3)

    Padding between tensors (for alignment) is zero in both buffers and stays
    zero under every rule whose update of a zero parameter with a zero gradient
    is zero.
    """

    def __init__(self, shapes: Mapping[str, tuple], dtype=np.float32):
        if not isinstance(shapes, Mapping) or not shapes:
            raise TypeError("shapes: expected a non-empty mapping of name -> shape")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        # Each tensor starts on a 64-byte boundary, as the buffers do.
        align = ALIGNMENT // self.dtype.itemsize
        layout, offset = {}, 0
        for name, shape in shapes.items():
            if not isinstance(name, str):
                raise TypeError(f"shapes: names must be str, got {name!r}")
            shape = _checks.shape(f"shapes[{name!r}]", shape)
            size = math.prod(shape)
            layout[name] = (offset, shape, size)
            offset += -(-size // align) * align
        self.params = zeros_aligned(offset, self.dtype)
        self.grads = zeros_aligned(offset, self.dtype)
        self._params, self._grads = {}, {}
        for name, (start, shape, size) in layout.items():
            self._params[name] = self.params[start:start + size].reshape(shape)
            self._grads[name] = self.grads[start:start + size].reshape(shape)

    def __getitem__(self, name: str) -> np.ndarray:
        """The parameter array `name` (a view into ``params``)."""
        return self._params[name]

    def grad(self, name: str) -> np.ndarray:
        """The gradient array of `name` (a view into ``grads``)."""
        return self._grads[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def items(self):
        """(name, param view, grad view) for every tensor."""
        return [(n, self._params[n], self._grads[n]) for n in self._params]

    def parameters(self) -> list:
        """``[(params, grads)]``: the whole model as one pair, for an optimizer."""
        return [(self.params, self.grads)]

    def zero_grad(self) -> None:
        self.grads.fill(0)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {self._params[n].shape}" for n in self._params)
        return f"FlatParameters({{{shapes}}}, dtype={self.dtype}, size={self.params.size})"
