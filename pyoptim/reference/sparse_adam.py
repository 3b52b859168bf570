"""NumPy reference for pyoptim.kernels.sparseadam_step (every element touched)."""

from __future__ import annotations

import math

import numpy as np


def sparseadam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                    maximize=False):
    T = param.dtype.type
    beta1, beta2 = betas
    g = grad * T(-1.0 if maximize else 1.0)
    m_old, v_old = exp_avg.copy(), exp_avg_sq.copy()
    dm = (g - m_old) * T(1.0 - beta1)
    dv = (g * g - v_old) * T(1.0 - beta2)
    exp_avg[...] = m_old + dm
    exp_avg_sq[...] = v_old + dv
    step_size = lr * math.sqrt(1.0 - beta2 ** float(step)) / (1.0 - beta1 ** float(step))
    param[...] = param + T(-step_size) * ((dm + m_old) / (np.sqrt(dv + v_old) + T(eps)))
