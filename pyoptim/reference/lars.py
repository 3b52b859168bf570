"""NumPy reference for pyoptim.kernels.lars_step."""

from __future__ import annotations

import math

from ._common import tensor_sums


def lars_step(param, grad, momentum_buffer=None, *, step, lr=1.0, momentum=0.9, weight_decay=0.0,
              trust_coefficient=1e-3, eps=0.0, nesterov=False, trust_ratio=True, maximize=False):
    T = param.dtype.type
    u = grad * T(-1.0 if maximize else 1.0) + T(weight_decay) * param
    param_squares, update_squares = tensor_sums(param, u)
    param_norm, update_norm = math.sqrt(param_squares), math.sqrt(update_squares)
    ratio = (1.0 if not trust_ratio or param_norm == 0.0 or update_norm == 0.0
             else trust_coefficient * param_norm / (update_norm + eps))
    scaled = T(-lr * ratio) * u
    if momentum == 0:
        param[...] = param + scaled
        return
    b = scaled + T(momentum) * momentum_buffer
    momentum_buffer[...] = b
    param[...] = param + (scaled + T(momentum) * b if nesterov else b)
