"""NumPy reference for pyoptim.kernels.lamb_step."""

from __future__ import annotations

import math

import numpy as np

from ._common import tensor_sums


def lamb_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
              weight_decay=0.0, bias_correction=True, trust_ratio=True, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    c1 = 1.0 / (1.0 - beta1 ** float(step)) if bias_correction else 1.0
    c2 = 1.0 / (1.0 - beta2 ** float(step)) if bias_correction else 1.0
    g = grad * T(-1.0 if maximize else 1.0)
    m = T(beta1) * exp_avg + T(1.0 - beta1) * g
    v = T(beta2) * exp_avg_sq + T(1.0 - beta2) * (g * g)
    exp_avg[...] = m
    exp_avg_sq[...] = v
    u = (m * T(c1)) / (np.sqrt(v * T(c2)) + T(eps)) + T(weight_decay) * param
    param_squares, update_squares = tensor_sums(param, u)
    param_norm, update_norm = math.sqrt(param_squares), math.sqrt(update_squares)
    ratio = 1.0 if not trust_ratio or param_norm == 0.0 or update_norm == 0.0 else param_norm / update_norm
    param[...] = param + T(-lr * ratio) * u
