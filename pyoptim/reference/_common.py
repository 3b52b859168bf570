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


def adam_moments(param, grad, exp_avg, exp_avg_sq, *, lr: float, betas, weight_decay: float,
                 decoupled_weight_decay: bool, maximize: bool):
    """What Adam, NAdam and RAdam share, as rules/adam_moments.hpp computes it: the
    parameter after decoupled decay `p`, the gradient as the moments see it `g`
    (negated for maximize, plus coupled decay), and the moments `m` (torch's lerp)
    and `v`, which are also written into `exp_avg` and `exp_avg_sq`.

    Returns ``(p, g, m, v)``.
    """
    T = param.dtype.type
    beta1, beta2 = betas
    p = param * (T(1.0 - lr * weight_decay) if decoupled_weight_decay else T(1.0))
    g = signed(grad, maximize, p, 0.0 if decoupled_weight_decay else weight_decay)
    m = lerp(exp_avg, g, 1.0 - beta1)
    v = exp_avg_sq * T(beta2) + T(1.0 - beta2) * g * g
    exp_avg[...] = m
    exp_avg_sq[...] = v
    return p, g, m, v


# The kernels' per-tensor reductions (csrc/include/pyoptim/reduction.hpp): blocks of
# this many elements from the tensor's start, each summed in this many lanes.
REDUCTION_BLOCK = 8192
REDUCTION_LANES = 16


def tensor_sums(*arrays) -> list:
    """sum(x * x) of each array in float64, in the kernels' order: element j of a block
    into lane j % 16, the lanes of a block summed in order, then the blocks in order
    (np.cumsum adds strictly in order, unlike np.sum)."""
    import numpy as np

    totals = []
    for x in arrays:
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        blocks = -(-flat.size // REDUCTION_BLOCK)
        padded = np.zeros(blocks * REDUCTION_BLOCK)  # + 0.0 changes no sum of squares
        padded[:flat.size] = flat * flat
        lanes = np.cumsum(padded.reshape(blocks, -1, REDUCTION_LANES), axis=1)[:, -1, :]
        block_totals = np.cumsum(lanes, axis=1)[:, -1] if blocks else np.zeros(0)
        totals.append(float(np.cumsum(block_totals)[-1]) if blocks else 0.0)
    return totals
