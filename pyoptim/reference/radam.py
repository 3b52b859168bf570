"""NumPy reference for pyoptim.kernels.radam_step."""

from __future__ import annotations

import math

import numpy as np

from ._common import adam_moments


def radam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    t = float(step)
    p, _, m, v = adam_moments(param, grad, exp_avg, exp_avg_sq, lr=lr, betas=betas, weight_decay=weight_decay,
                              decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    bias_correction1, bias_correction2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * beta2 ** t / bias_correction2
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        coef = T(-lr * rect * math.sqrt(bias_correction2) / bias_correction1)
        param[...] = p + coef * (m / (np.sqrt(v) + T(eps)))
    else:
        param[...] = p + T(-lr / bias_correction1) * m
