"""Adam and AdamW: torch.optim.Adam and torch.optim.AdamW."""

from __future__ import annotations

from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as torch.optim.Adam (same defaults and options).

    For each element at step :math:`t`, with :math:`g` the gradient (negated if
    ``maximize``)::

        p = p * (1 - lr * weight_decay)         (decoupled_weight_decay, i.e. AdamW)
        g = g + weight_decay * p                (otherwise, if weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
        vmax = max(vmax, v); use vmax for v     (amsgrad)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    The bias corrections and the step size are formed once per step in double,
    then rounded once to the array's dtype. Deviations from torch: the kernel
    multiplies by ``1 / sqrt(1 - beta2**t)`` instead of dividing by its
    inverse (one rounding apart, and one division per element fewer), and
    ``eps`` must be > 0 (torch accepts 0).

    ``eps_hat=True`` is the form of TensorFlow, Keras and scikit-learn: eps is
    added to the uncorrected ``sqrt(v)`` and the step size becomes
    ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``.
    """

    rule = "adam"

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, eps_hat: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay, eps_hat=eps_hat))

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        return {"decoupled_weight_decay": False, **group}


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay,
    as torch.optim.AdamW (default ``weight_decay=1e-2``). See :class:`Adam`."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 eps_hat: bool = False):
        Optimizer.__init__(self, params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                              amsgrad=amsgrad, maximize=maximize, eps_hat=eps_hat))

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        return {**super().kernel_options(group, context), "decoupled_weight_decay": True}
