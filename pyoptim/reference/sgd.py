"""NumPy reference for pyoptim.kernels.sgd_step."""

from __future__ import annotations



def sgd_step(param, grad, momentum_buffer=None, *, step, lr=1e-3, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, momentum_init="grad", classic_momentum=False):
    T = param.dtype.type
    d = grad * T(-1.0 if maximize else 1.0)
    if weight_decay != 0:
        d = d + T(weight_decay) * param
    if momentum != 0 and classic_momentum:
        v = momentum_buffer * T(momentum) + T(-lr * (1.0 - dampening)) * d
        momentum_buffer[...] = v
        param[...] = param + (T(momentum) * v + T(-lr) * d if nesterov else v)
        return
    if momentum != 0:
        if step == 1 and momentum_init == "grad":
            buf = d
        else:
            buf = momentum_buffer * T(momentum) + T(1.0 - dampening) * d
        momentum_buffer[...] = buf
        d = d + T(momentum) * buf if nesterov else buf
    param[...] = param + T(-lr) * d
