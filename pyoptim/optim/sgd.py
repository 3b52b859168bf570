"""Stochastic gradient descent with (Nesterov) momentum: torch.optim.SGD."""

from __future__ import annotations

from . import _checks
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent, exactly as torch.optim.SGD (same defaults).

    For each element, with :math:`g` the gradient (negated if ``maximize``)::

        g = g + weight_decay * p                       (if weight_decay != 0)
        b = g                                          (first momentum step)
        b = momentum * b + (1 - dampening) * g         (later steps)
        g = g + momentum * b  if nesterov else  b      (if momentum != 0)
        p = p - lr * g

    Scalars such as ``1 - dampening`` are formed once per step in double and
    rounded once to the array's dtype.
    """

    rule = "sgd"

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        _checks.real("lr", group["lr"], min=0.0)
        momentum = _checks.real("momentum", group["momentum"], min=0.0)
        dampening = _checks.real("dampening", group["dampening"])
        _checks.real("weight_decay", group["weight_decay"], min=0.0)
        _checks.flag("maximize", group["maximize"])
        if _checks.flag("nesterov", group["nesterov"]) and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: Nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum!r}, dampening={dampening!r}")

    @classmethod
    def kernel_options(cls, group: dict, fresh: set) -> dict:
        return {**group, "momentum_buffer_is_new": "momentum_buffer" in fresh}
