"""Element-wise activations: ReLU, tanh and the logistic sigmoid.

Each backward pass is written in terms of the activation's *output*, which is
what the model keeps (it runs them in place over their input), and may run in
place over the incoming gradient (``grad_in is grad_out``).
"""

from __future__ import annotations

import numpy as np

from .layers import Layer


class ReLU(Layer):
    """max(x, 0); its gradient is taken as 0 at x = 0."""

    elementwise = True

    def scratch(self, batch, width, dtype) -> dict:
        return {"slope": np.empty((batch, width), dtype=dtype)}

    def forward(self, x, out, scratch) -> None:
        np.maximum(x, 0, out=out)

    def backward(self, x, out, grad_out, grad_in, scratch) -> None:
        if grad_in is None:
            return
        # out >= 0, so sign(out) is exactly the 0/1 slope; unlike a boolean mask it
        # needs no cast, and a cast would allocate a buffer on every call.
        slope = scratch["slope"]
        np.sign(out, out=slope)
        np.multiply(grad_out, slope, out=grad_in)


class Tanh(Layer):
    """tanh(x); d/dx = 1 - tanh(x)^2."""

    elementwise = True

    def scratch(self, batch, width, dtype) -> dict:
        return {"slope": np.empty((batch, width), dtype=dtype)}

    def forward(self, x, out, scratch) -> None:
        np.tanh(x, out=out)

    def backward(self, x, out, grad_out, grad_in, scratch) -> None:
        if grad_in is None:
            return
        slope = scratch["slope"]
        np.square(out, out=slope)
        np.subtract(1, slope, out=slope)
        np.multiply(grad_out, slope, out=grad_in)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); d/dx = s (1 - s)."""

    elementwise = True

    def scratch(self, batch, width, dtype) -> dict:
        return {"slope": np.empty((batch, width), dtype=dtype)}

    def forward(self, x, out, scratch) -> None:
        # sigmoid(x) = (1 + tanh(x / 2)) / 2 never overflows, unlike exp(-x) for very negative x.
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        np.add(out, 1, out=out)
        np.multiply(out, 0.5, out=out)

    def backward(self, x, out, grad_out, grad_in, scratch) -> None:
        if grad_in is None:
            return
        slope = scratch["slope"]
        np.subtract(1, out, out=slope)
        np.multiply(slope, out, out=slope)
        np.multiply(grad_out, slope, out=grad_in)


# The names `mlp(activation=...)` and the CLI accept.
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def activation_class(name: str) -> type:
    """The activation class for a name ("relu", "tanh", "sigmoid"; any case)."""
    if not isinstance(name, str):
        raise TypeError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {type(name).__name__}")
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}") from None
