"""Lion: the sign of an interpolated momentum (no torch.optim twin)."""

from __future__ import annotations

from .optimizer import Optimizer


class Lion(Optimizer):
    r"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).

    Per element::

        c = beta1 * m + (1 - beta1) * g
        p = p * (1 - lr * weight_decay) - lr * sign(c)
        m = beta2 * m + (1 - beta2) * g

    Defaults are the paper's (``betas=(0.9, 0.99)``); its authors suggest an
    lr 3-10x smaller and a weight decay 3-10x larger than AdamW's. A NaN in
    ``c`` stays NaN (sign(NaN) = NaN) so that bad gradients remain visible.
    """

    rule = "lion"

    def __init__(self, params, lr: float = 1e-4, betas: tuple = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize))
