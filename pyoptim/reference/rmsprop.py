"""NumPy reference for pyoptim.kernels.rmsprop_step."""

from __future__ import annotations

import numpy as np

from ._common import lerp, signed


def rmsprop_step(param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, step, lr=1e-2, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
                 eps_inside_sqrt=False):
    T = param.dtype.type
    g = signed(grad, maximize, param, weight_decay)
    v = square_avg * T(alpha) + T(1.0 - alpha) * g * g
    square_avg[...] = v
    if centered:
        mean = lerp(grad_avg, g, 1.0 - alpha)
        grad_avg[...] = mean
        v = v - mean * mean
    avg = np.sqrt(v + T(eps)) if eps_inside_sqrt else np.sqrt(v) + T(eps)
    if momentum > 0:
        b = momentum_buffer * T(momentum) + g / avg
        momentum_buffer[...] = b
        param[...] = param + T(-lr) * b
    else:
        param[...] = param + T(-lr) * (g / avg)
