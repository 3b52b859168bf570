"""Weight initialisation schemes, drawn from a NumPy Generator so that a seed fixes them."""

from __future__ import annotations

import numpy as np

# Names a Dense layer accepts for its ``init`` argument.
INITIALISERS = ("he", "xavier", "zeros")
_ALIASES = {"glorot": "xavier", "kaiming": "he"}


def canonical_init(name: str) -> str:
    """The canonical name of an initialiser ("glorot" -> "xavier"), or ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"init: expected one of {INITIALISERS}, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in INITIALISERS:
        raise ValueError(f"init: expected one of {INITIALISERS} (or 'glorot', 'kaiming'), got {name!r}")
    return key


def initialise(weight: np.ndarray, scheme: str, rng: np.random.Generator) -> None:
    """Fill a (fan_in, fan_out) weight matrix in place.

    He (Kaiming) normal, std = sqrt(2 / fan_in), keeps the variance of ReLU
    activations constant from layer to layer; Xavier (Glorot) uniform,
    limit = sqrt(6 / (fan_in + fan_out)), does so for tanh/sigmoid and for
    the output layer. Values are drawn in float64 and rounded once, so a
    float32 and a float64 model built with one seed start from the same point.
    """
    fan_in, fan_out = weight.shape
    scheme = canonical_init(scheme)
    if scheme == "zeros":
        weight.fill(0)
    elif scheme == "he":
        weight[...] = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
    else:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weight[...] = rng.uniform(-limit, limit, (fan_in, fan_out))
