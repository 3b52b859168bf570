"""NumPy reference for pyoptim.kernels.lion_step."""

from __future__ import annotations

import numpy as np

from ._common import signed


def lion_step(param, grad, exp_avg, *, step, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    g = signed(grad, maximize)
    c = T(beta1) * exp_avg + T(1.0 - beta1) * g
    direction = np.where(c > 0, T(1), np.where(c < 0, T(-1), c))
    param[...] = param * T(1.0 - lr * weight_decay) + T(-lr) * direction
    exp_avg[...] = T(beta2) * exp_avg + T(1.0 - beta2) * g
