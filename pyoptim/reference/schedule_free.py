"""NumPy references for pyoptim.kernels.adamwschedulefree_step and sgdschedulefree_step."""

from __future__ import annotations

import numpy as np

from ._common import lerp


def _advance(step, lr_max, weight_sum, lr, warmup_steps, r, weight_lr_power):
    lr_t = lr * (step / warmup_steps if step <= warmup_steps else 1.0)
    lr_max = max(lr_t, -1.0 if lr_max is None else lr_max)
    w = float(step) ** r * lr_max ** weight_lr_power
    weight_sum = (0.0 if weight_sum is None else weight_sum) + w
    return lr_t, lr_max, weight_sum, (w / weight_sum if weight_sum != 0.0 else 0.0)


def _move(param, z, u, step, lr_t, beta, c):
    T = param.dtype.type
    y = param.copy()
    z_start = y if step == 1 else z.copy()  # the kernels API treats every state as new at step 1
    param[...] = lerp(y, z_start, c) + T(lr_t * (beta * (1.0 - c) - 1.0)) * u
    z[...] = z_start + T(-lr_t) * u


def adamwschedulefree_step(param, grad, z, exp_avg_sq, *, step, lr_max=None, weight_sum=None, lr=0.0025,
                           betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                           weight_lr_power=2.0):
    T = param.dtype.type
    beta1, beta2 = betas
    lr_t, lr_max, weight_sum, c = _advance(step, lr_max, weight_sum, lr, warmup_steps, r, weight_lr_power)
    v = exp_avg_sq * T(beta2) + T(1.0 - beta2) * (grad * grad)
    exp_avg_sq[...] = v
    u = grad / (np.sqrt(v / T(1.0 - beta2 ** float(step))) + T(eps))
    if weight_decay != 0:
        u = u + T(weight_decay) * param
    _move(param, z, u, step, lr_t, beta1, c)
    return {"lr_max": lr_max, "weight_sum": weight_sum}


def sgdschedulefree_step(param, grad, z, exp_avg_sq=None, *, step, lr_max=None, weight_sum=None, lr=1.0, momentum=0.9,
                         weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0):
    T = param.dtype.type
    lr_t, lr_max, weight_sum, c = _advance(step, lr_max, weight_sum, lr, warmup_steps, r, weight_lr_power)
    u = grad + T(weight_decay) * param if weight_decay != 0 else grad
    _move(param, z, u, step, lr_t, momentum, c)
    return {"lr_max": lr_max, "weight_sum": weight_sum}
