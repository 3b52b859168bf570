"""NumPy reference for pyoptim.kernels.muon_step: the two element-wise passes written out."""

from __future__ import annotations

from ..optim.muon import EPS, NS_COEFFICIENTS, NS_STEPS, adjusted_lr, newton_schulz
from ._common import lerp


def muon_step(param, grad, momentum_buffer, *, step, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
              ns_coefficients=NS_COEFFICIENTS, eps=EPS, ns_steps=NS_STEPS, adjust_lr_fn=None):
    T = param.dtype.type
    momentum_buffer[...] = lerp(momentum_buffer, grad, 1.0 - momentum)
    update = lerp(grad, momentum_buffer, momentum) if nesterov else momentum_buffer.copy()
    newton_schulz(update, ns_coefficients, ns_steps, eps)
    param[...] = param * T(1.0 - lr * weight_decay) + T(-adjusted_lr(lr, adjust_lr_fn, param.shape)) * update
