"""NumPy reference for pyoptim.kernels.nadam_step."""

from __future__ import annotations

import math

import numpy as np

from ._common import adam_moments


def _mu(beta1, momentum_decay, step):
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_step(param, grad, exp_avg, exp_avg_sq, *, step, mu_product=None, lr=2e-3, betas=(0.9, 0.999),
               eps=1e-8, weight_decay=0.0, momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    mu, mu_next = _mu(beta1, momentum_decay, step), _mu(beta1, momentum_decay, step + 1)
    mu_product = (1.0 if mu_product is None else mu_product) * mu
    p, g, m, v = adam_moments(param, grad, exp_avg, exp_avg_sq, lr=lr, betas=betas, weight_decay=weight_decay,
                              decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    denom = np.sqrt(v) * T(1.0 / math.sqrt(1.0 - beta2 ** float(step))) + T(eps)
    grad_coef = T(-lr * (1.0 - mu) / (1.0 - mu_product))
    exp_avg_coef = T(-lr * mu_next / (1.0 - mu_product * mu_next))
    param[...] = p + (grad_coef * g + exp_avg_coef * m) / denom
    return {"mu_product": mu_product}
