"""Ready-made models: multinomial and binary logistic regression, and MLPs."""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from .. import _checks
from .activations import activation_class
from .layers import Dense
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from .sequential import Sequential

_LOSSES = {"cross-entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}


def logistic_regression(n_features: int = 784, n_classes: int = 10, *, dtype=np.float32,
                        seed: int | None = 0) -> Sequential:
    """Multinomial logistic regression: one Dense layer, softmax cross-entropy."""
    return Sequential([Dense(n_features, n_classes, init="xavier")], SoftmaxCrossEntropy(), dtype=dtype, seed=seed)


def binary_logistic_regression(n_features: int = 784, *, dtype=np.float32, seed: int | None = 0) -> Sequential:
    """Binary logistic regression: one output logit, sigmoid cross-entropy, labels 0/1.

    See ``pyoptim.train.binary_digits`` for a one-digit-against-another MNIST task.
    """
    return Sequential([Dense(n_features, 1, init="xavier")], BinaryCrossEntropy(), dtype=dtype, seed=seed)


def mlp(n_features: int = 784, hidden: Sequence[int] = (128,), n_classes: int = 10, *,
        activation: str = "relu", loss: str = "cross-entropy", dtype=np.float32,
        seed: int | None = 0) -> Sequential:
    """A multi-layer perceptron ``n_features -> hidden[0] -> ... -> n_classes``.

    Hidden layers are followed by `activation` ("relu", "tanh" or "sigmoid")
    and initialised He-normal for ReLU, Xavier-uniform otherwise; the output
    layer is Xavier-uniform. `loss` is "cross-entropy" (softmax) or "mse"
    (on one-hot targets). ``hidden=()`` is logistic regression.
    """
    act = activation_class(activation)
    if isinstance(hidden, numbers.Integral):
        raise _checks.InvalidType("hidden", f"expected a sequence of layer widths (ints), got {hidden!r}")
    hidden = [_checks.integer(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
    if loss not in _LOSSES:
        raise ValueError(f"loss: expected one of {sorted(_LOSSES)}, got {loss!r}")
    init = "he" if activation.lower() == "relu" else "xavier"
    layers, width = [], n_features
    for h in hidden:
        layers += [Dense(width, h, init=init), act()]
        width = h
    layers.append(Dense(width, n_classes, init="xavier"))
    return Sequential(layers, _LOSSES[loss](), dtype=dtype, seed=seed)
