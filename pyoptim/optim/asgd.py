"""ASGD: torch.optim.ASGD."""

from __future__ import annotations

from .. import _checks
from .optimizer import Optimizer


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak and Juditsky, 1992), as torch.optim.ASGD (same defaults).

    Per element at step :math:`t`, with ``eta`` and ``mu`` the values step
    :math:`t - 1` left (``lr`` and 1 before the first step)::

        g = g + weight_decay * p                       (if weight_decay != 0)
        p = p * (1 - lambd * eta) - eta * g
        ax = ax + (p - ax) * mu   if mu != 1, else ax = p
        eta = lr / (1 + lambd * lr * t) ** alpha;  mu = 1 / max(1, t - t0)

    ``ax`` (in each parameter's state) is the averaged iterate, the estimate
    ASGD is named for; ``eta`` and ``mu`` are scalar state, one per group, saved
    in each parameter's state as torch does. Deviation: ``lambd``, ``alpha`` and
    ``t0`` must be at least 0 (torch does not check them).
    """

    rule = "asgd"
    scalars_from_step = True
    # alpha is the step size's decay power here, not a decay rate in [0, 1].
    hyper_checks = {name: (lambda value, name=name: _checks.real(name, value, min=0.0))
                    for name in ("lambd", "alpha", "t0")}

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))
