"""NumPy reference for pyoptim.kernels.adamax_step."""

from __future__ import annotations

import numpy as np

from ._common import lerp, signed


def adamax_step(param, grad, exp_avg, exp_inf, *, step, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    g = signed(grad, maximize, param, weight_decay)
    m = lerp(exp_avg, g, 1.0 - beta1)
    exp_avg[...] = m
    decayed, fresh = exp_inf * T(beta2), np.abs(g) + T(eps)
    u = np.where(decayed > fresh, decayed, fresh)
    exp_inf[...] = u
    param[...] = param + T(-(lr / (1.0 - beta1 ** float(step)))) * (m / u)
