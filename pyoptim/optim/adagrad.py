"""Adagrad: torch.optim.Adagrad."""

from __future__ import annotations

from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), as torch.optim.Adagrad (same defaults).

    Per element at step :math:`t`::

        g = g + weight_decay * p                     (if weight_decay != 0)
        s = s + g * g                                (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)

    ``eps_inside_sqrt=True`` divides by ``sqrt(s + eps)`` instead (Keras and
    many texts); ``initial_accumulator_value=0.1`` is the Keras/optax start.
    """

    rule = "adagrad"

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False,
                 eps_inside_sqrt: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize, eps_inside_sqrt=eps_inside_sqrt))


    @classmethod
    def initial_value(cls, name: str, group: dict) -> float:
        return group["initial_accumulator_value"]
