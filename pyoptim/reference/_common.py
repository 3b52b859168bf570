"""Pieces the reference rules share."""

from __future__ import annotations


def lerp(a, b, weight: float):
    """a + weight (b - a) in a's dtype, in torch.lerp's two forms (switching at 0.5)."""
    T = a.dtype.type
    w = T(weight)
    if w < T(0.5):
        return a + w * (b - a)
    return b + (-(T(1.0) - w)) * (b - a)


def signed(grad, maximize: bool, param=None, weight_decay: float = 0.0):
    """The gradient negated for maximize, plus coupled weight decay."""
    T = grad.dtype.type
    g = grad * T(-1.0 if maximize else 1.0)
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    return g
