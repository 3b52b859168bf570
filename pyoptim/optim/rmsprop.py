"""RMSprop: torch.optim.RMSprop."""

from __future__ import annotations

from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, lecture 6e), as torch.optim.RMSprop (same defaults).

    Per element::

        g = g + weight_decay * p                    (if weight_decay != 0)
        s = alpha * s + (1 - alpha) * g * g
        a = lerp(a, g, 1 - alpha); var = s - a * a  (centered; otherwise var = s)
        d = sqrt(var) + eps                         (eps_inside_sqrt: sqrt(var + eps))
        b = momentum * b + g / d; p = p - lr * b    (momentum > 0)
        p = p - lr * g / d                          (otherwise)

    ``eps_inside_sqrt=True`` is the Keras form.
    """

    rule = "rmsprop"

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, eps_inside_sqrt: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize, eps_inside_sqrt=eps_inside_sqrt))
