"""NumPy reference for pyoptim.kernels.adam_step and adamw_step."""

from __future__ import annotations

import math

import numpy as np

from ._common import adam_moments


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
              betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
              decoupled_weight_decay=False, eps_hat=False):
    T = param.dtype.type
    beta1, beta2 = betas
    bias_correction1 = 1.0 - beta1 ** float(step)
    bias_correction2 = 1.0 - beta2 ** float(step)

    p, _, m, v = adam_moments(param, grad, exp_avg, exp_avg_sq, lr=lr, betas=betas, weight_decay=weight_decay,
                              decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    if amsgrad:
        v = np.where(max_exp_avg_sq > v, max_exp_avg_sq, v)
        max_exp_avg_sq[...] = v
    if eps_hat:
        scale, step_size = 1.0, lr * math.sqrt(bias_correction2) / bias_correction1
    else:
        scale, step_size = 1.0 / math.sqrt(bias_correction2), lr / bias_correction1
    denom = np.sqrt(v) * T(scale) + T(eps)
    param[...] = p + T(-step_size) * (m / denom)


def adamw_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
               betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False, eps_hat=False):
    adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, betas=betas, eps=eps,
              weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True,
              eps_hat=eps_hat)
