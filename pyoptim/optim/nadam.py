"""NAdam: torch.optim.NAdam."""

from __future__ import annotations

from .optimizer import Optimizer


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), as torch.optim.NAdam (same defaults).

    Per element at step :math:`t`, with ``mu_t`` from the momentum schedule and
    ``P_t`` the product ``mu_1 ... mu_t``::

        m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - lr * ((1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t mu_{t+1}) * m) / d

    Weight decay is coupled, or decoupled (AdamW-style) with
    ``decoupled_weight_decay=True``. ``mu_product`` is scalar state: the kernel
    advances it, in double, one per group, and it is saved in each parameter's
    state as torch does. Deviation: torch adds the two terms with two divisions
    by ``d``; the kernel divides once (a rounding apart).
    """

    rule = "nadam"

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))
