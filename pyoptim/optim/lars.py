"""LARS: layer-wise adaptive rate scaling for large batches (no torch.optim twin)."""

from __future__ import annotations

from .. import _checks
from .optimizer import Optimizer


class LARS(Optimizer):
    r"""LARS (You et al., 2017, "Large Batch Training of Convolutional Networks"), as optax.lars.

    Per parameter tensor::

        u = g + weight_decay * p
        r = trust_coefficient * ||p|| / (||u|| + eps)   (1 if either norm is 0, or trust_ratio=False)
        b = -lr * r * u + momentum * b                   (b starts at 0)
        p = p + b          (Nesterov: p = p - lr * r * u + momentum * b)

    The norms are per tensor (per layer), summed in a fixed order: the same bits
    for any thread count and instruction set. Defaults are optax's
    (``trust_coefficient=1e-3``, ``momentum=0.9``, ``eps=0``); ``lr=1`` makes
    each layer's step ``trust_coefficient`` times its norm. ``trust_ratio=False``
    (e.g. for a group of biases and norms) leaves SGD with momentum. Deviation
    from optax: ``-lr * r`` is rounded once per tensor before it multiplies ``u``.
    """

    rule = "lars"
    hyper_checks = {"eps": lambda value: _checks.real("eps", value, min=0.0),
                    "trust_coefficient": lambda value: _checks.real("trust_coefficient", value, min=0.0)}

    def __init__(self, params, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 1e-3, eps: float = 0.0, *, nesterov: bool = False,
                 trust_ratio: bool = True, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps, nesterov=nesterov,
                                      trust_ratio=trust_ratio, maximize=maximize))
