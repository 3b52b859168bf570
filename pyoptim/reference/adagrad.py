"""NumPy reference for pyoptim.kernels.adagrad_step."""

from __future__ import annotations

import numpy as np

from ._common import signed


def adagrad_step(param, grad, sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False, eps_inside_sqrt=False):
    # initial_accumulator_value only sets `sum` before the first step (the caller's job).
    T = param.dtype.type
    g = signed(grad, maximize, param, weight_decay)
    acc = sum + g * g
    sum[...] = acc
    std = np.sqrt(acc + T(eps)) if eps_inside_sqrt else np.sqrt(acc) + T(eps)
    param[...] = param + T(-(lr / (1.0 + (step - 1) * lr_decay))) * (g / std)
