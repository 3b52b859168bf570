"""NumPy reference for pyoptim.kernels.nadam_step."""

from __future__ import annotations

import math

import numpy as np

from ._common import lerp, signed


def _mu(beta1, momentum_decay, step):
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_step(param, grad, exp_avg, exp_avg_sq, *, step, mu_product=1.0, lr=2e-3, betas=(0.9, 0.999),
               eps=1e-8, weight_decay=0.0, momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    mu, mu_next = _mu(beta1, momentum_decay, step), _mu(beta1, momentum_decay, step + 1)
    mu_product = mu_product * mu
    p = param * (T(1.0 - lr * weight_decay) if decoupled_weight_decay else T(1.0))
    g = signed(grad, maximize, p, 0.0 if decoupled_weight_decay else weight_decay)
    m = lerp(exp_avg, g, 1.0 - beta1)
    v = exp_avg_sq * T(beta2) + T(1.0 - beta2) * g * g
    exp_avg[...] = m
    exp_avg_sq[...] = v
    denom = np.sqrt(v) * T(1.0 / math.sqrt(1.0 - beta2 ** float(step))) + T(eps)
    grad_coef = T(-lr * (1.0 - mu) / (1.0 - mu_product))
    exp_avg_coef = T(-lr * mu_next / (1.0 - mu_product * mu_next))
    param[...] = p + (grad_coef * g + exp_avg_coef * m) / denom
    return {"mu_product": mu_product}
