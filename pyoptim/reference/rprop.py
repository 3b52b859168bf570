"""NumPy reference for pyoptim.kernels.rprop_step."""

from __future__ import annotations

import numpy as np


def _sign(x):
    """torch.sign: 0 for NaN and for -0."""
    T = x.dtype.type
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, T(1.0), np.where(x < 0, T(-1.0), T(0.0)))


def rprop_step(param, grad, prev, step_size, *, step, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50),
               maximize=False):
    # lr only sets step_size before the first step (the caller's job).
    T = param.dtype.type
    g = grad * T(-1.0 if maximize else 1.0)
    agreement = g * prev
    with np.errstate(invalid="ignore"):
        factor = np.where(agreement > 0, T(etas[1]), np.where(agreement < 0, T(etas[0]), T(1.0)))
        grown = step_size * factor
        low, high = T(step_sizes[0]), T(step_sizes[1])
        bounded = np.where(grown < low, low, np.where(grown > high, high, grown))
        used = np.where(agreement < 0, T(0.0), g)
    step_size[...] = bounded
    prev[...] = used
    param[...] = param - _sign(used) * bounded
