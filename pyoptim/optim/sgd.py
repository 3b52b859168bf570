"""Stochastic gradient descent with (Nesterov) momentum: torch.optim.SGD."""

from __future__ import annotations

from .. import _checks
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

    Textbook forms (not in torch): ``momentum_init="zeros"`` starts the buffer
    at zero instead of at the first gradient, so that with
    ``dampening=momentum`` the buffer is the exponential average
    ``b = beta b + (1 - beta) g`` from its first step. ``classic_momentum=True``
    keeps the velocity ``v = momentum v - lr (1 - dampening) g`` and steps
    ``p += v`` (with Nesterov, ``p += momentum v - lr g``), as Sutskever et al.
    (2013) and Keras write it; it differs from the default only when ``lr``
    changes between steps.
    """

    rule = "sgd"

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 momentum_init: str = "grad", classic_momentum: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      momentum_init=momentum_init, classic_momentum=classic_momentum))

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        _checks.choice("momentum_init", group["momentum_init"], ("grad", "zeros"))
        momentum, dampening = group["momentum"], group["dampening"]
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: Nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum!r}, dampening={dampening!r}")

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        copies_grad = group["momentum_init"] == "grad" and not group["classic_momentum"]
        return {**group, "momentum_buffer_is_new": copies_grad and "momentum_buffer" in context.fresh}
