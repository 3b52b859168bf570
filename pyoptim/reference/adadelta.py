"""NumPy reference for pyoptim.kernels.adadelta_step."""

from __future__ import annotations

import numpy as np

from ._common import signed


def adadelta_step(param, grad, square_avg, acc_delta, *, step, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                  maximize=False):
    T = param.dtype.type
    g = signed(grad, maximize, param, weight_decay)
    v = square_avg * T(rho) + T(1.0 - rho) * g * g
    square_avg[...] = v
    delta = np.sqrt(acc_delta + T(eps)) / np.sqrt(v + T(eps)) * g
    acc_delta[...] = acc_delta * T(rho) + T(1.0 - rho) * delta * delta
    param[...] = param + T(-lr) * delta
