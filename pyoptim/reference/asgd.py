"""NumPy reference for pyoptim.kernels.asgd_step."""

from __future__ import annotations

from ._common import signed


def asgd_step(param, grad, ax, *, step, eta=None, mu=None, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6,
              weight_decay=0.0, maximize=False):
    T = param.dtype.type
    eta = lr if eta is None else eta
    mu = 1.0 if mu is None else mu
    g = signed(grad, maximize, param, weight_decay)
    p = param * T(1.0 - lambd * eta) + T(-eta) * g
    param[...] = p
    ax[...] = ax + (p - ax) * T(mu) if mu != 1.0 else p
    return {"eta": lr / (1.0 + lambd * lr * step) ** alpha, "mu": 1.0 / max(1.0, step - t0)}
