"""NumPy reference for pyoptim.kernels.lbfgs_step: L-BFGS's parameter move, p + lr * d."""

from __future__ import annotations


def lbfgs_step(param, grad, *, step, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
               tolerance_change=1e-9, history_size=100, line_search_fn=None):
    T = param.dtype.type
    param[...] = param + T(lr) * grad
