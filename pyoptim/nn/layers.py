"""The layer protocol and the fully connected (Dense) layer.

A layer owns no memory of its own: its parameters and their gradients are
views into the model's two flat buffers (handed over by ``bind``), and its
outputs and input gradients go into buffers the model preallocates per batch
size. So a training step allocates nothing, and one optimizer call updates
every parameter of the model.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import _checks
from .init import canonical_init, initialise


class Layer:
    """Base class: a function of a (batch, width) array with a hand-written backward pass.

    ``elementwise`` layers map each input element to one output element; the
    model runs them in place over their input's buffer (when the layer before
    does not read its own output in backward) and their backward pass in
    place over the incoming gradient.
    """

    elementwise: ClassVar[bool] = False
    # Whether backward() reads `out`; if not, the next (elementwise) layer may overwrite it.
    backward_reads_output: ClassVar[bool] = True

    def output_width(self, in_width: int) -> int:
        """The output's width for an input of width `in_width` (ValueError if it does not fit)."""
        return in_width

    def param_shapes(self) -> dict:
        """Shapes of the parameter tensors, by local name (e.g. ``{"weight": (784, 128)}``)."""
        return {}

    def bind(self, params: dict, grads: dict) -> None:
        """Take the views (by local name) this layer's parameters and gradients live in."""

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Initialise the bound parameters."""

    def scratch(self, batch: int, width: int, dtype: np.dtype) -> dict:
        """Temporary buffers for a batch of `batch` rows of input width `width`."""
        return {}

    def forward(self, x: np.ndarray, out: np.ndarray, scratch: dict) -> None:
        """Write the layer's output for input `x` into `out`."""
        raise NotImplementedError

    def backward(self, x: np.ndarray, out: np.ndarray, grad_out: np.ndarray,
                 grad_in: np.ndarray | None, scratch: dict) -> None:
        """From the loss's gradient w.r.t. `out`, write the parameter gradients into the
        bound gradient views and, unless `grad_in` is None, the gradient w.r.t. `x` into it.

        `x` and `out` are the input and output of the last ``forward``.
        """
        raise NotImplementedError

    def config(self) -> dict:
        """A JSON-able description from which ``layer_from_config`` rebuilds the layer."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer ``y = x @ weight + bias`` with weight of shape (in, out).

    ``init`` is "he" (Kaiming normal, for layers followed by ReLU), "xavier"
    (alias "glorot": Glorot uniform, for tanh/sigmoid and output layers) or
    "zeros". Biases start at zero.
    """

    backward_reads_output = False

    def __init__(self, in_features: int, out_features: int, *, init: str = "he"):
        self.in_features = _checks.integer("in_features", in_features, min=1, expected="a positive int")
        self.out_features = _checks.integer("out_features", out_features, min=1, expected="a positive int")
        self.init = canonical_init(init)
        # Views into the model's flat buffers, set by bind().
        self.weight: np.ndarray
        self.bias: np.ndarray
        self.weight_grad: np.ndarray
        self.bias_grad: np.ndarray

    def output_width(self, in_width: int) -> int:
        if in_width != self.in_features:
            raise ValueError(f"Dense: expected an input of width {self.in_features}, got width {in_width}")
        return self.out_features

    def param_shapes(self) -> dict:
        return {"weight": (self.in_features, self.out_features), "bias": (self.out_features,)}

    def bind(self, params: dict, grads: dict) -> None:
        self.weight, self.bias = params["weight"], params["bias"]
        self.weight_grad, self.bias_grad = grads["weight"], grads["bias"]

    def reset_parameters(self, rng: np.random.Generator) -> None:
        initialise(self.weight, self.init, rng)
        self.bias.fill(0)

    def scratch(self, batch, width, dtype) -> dict:
        return {"bias_rows": np.empty((batch, self.out_features), dtype=dtype)}

    def forward(self, x, out, scratch) -> None:
        np.matmul(x, self.weight, out=out)
        # A broadcasting ufunc (out += bias) allocates an iteration buffer on every call;
        # copyto broadcasts without one, and the same-shape add then needs none either.
        bias_rows = scratch["bias_rows"]
        np.copyto(bias_rows, self.bias)
        np.add(out, bias_rows, out=out)

    def backward(self, x, out, grad_out, grad_in, scratch) -> None:
        np.matmul(x.T, grad_out, out=self.weight_grad)
        np.sum(grad_out, axis=0, out=self.bias_grad)
        if grad_in is not None:
            np.matmul(grad_out, self.weight.T, out=grad_in)

    def config(self) -> dict:
        return {"type": "Dense", "in_features": self.in_features, "out_features": self.out_features,
                "init": self.init}

