"""RAdam: torch.optim.RAdam."""

from __future__ import annotations

from .optimizer import Optimizer


class RAdam(Optimizer):
    r"""RAdam (Liu et al., 2020), as torch.optim.RAdam (same defaults).

    Adam whose adaptive step is multiplied by the variance rectification
    ``r_t`` once the approximated SMA length ``rho_t`` exceeds 5; before
    that, a bias-corrected momentum step ``p -= lr * m / (1 - beta1**t)``.
    Deviation: the kernel folds ``lr``, ``r_t`` and both bias corrections into
    one per-step scalar (torch multiplies them in per element; a rounding apart).
    """

    rule = "radam"

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))
