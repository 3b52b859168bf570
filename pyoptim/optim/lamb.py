"""LAMB: layer-wise adaptive moments for large batches (no torch.optim twin)."""

from __future__ import annotations

from .optimizer import Optimizer


class LAMB(Optimizer):
    r"""LAMB (You et al., 2019, "Large Batch Optimization for Deep Learning"), as optax.lamb.

    Per parameter tensor at step :math:`t`::

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        u = (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps) + weight_decay * p
        r = ||p|| / ||u||   (1 if either norm is 0, or trust_ratio=False)
        p = p - lr * r * u

    The norms are per tensor (per layer), summed in a fixed order: the same bits
    for any thread count and instruction set. Two passes over memory: the first
    updates the moments and sums the squares, the second moves the parameter.
    Defaults are optax's (``eps=1e-6``); ``bias_correction=False`` is the paper's
    Algorithm 2 without it; ``trust_ratio=False`` (e.g. for a group of biases
    and norms) leaves Adam with decoupled weight decay. Deviation from optax: the
    bias corrections multiply by reciprocals (a rounding apart).
    """

    rule = "lamb"

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, *, bias_correction: bool = True, trust_ratio: bool = True,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      bias_correction=bias_correction, trust_ratio=trust_ratio,
                                      maximize=maximize))
