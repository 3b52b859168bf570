"""NumPy reference for pyoptim.kernels.adafactor_step (rules/adafactor.hpp, its sums in its order)."""

from __future__ import annotations

import math

import numpy as np

from ._common import REDUCTION_BLOCK, REDUCTION_LANES, lerp, tensor_sums


def _in_order(x, axis):
    """The sum along `axis`, strictly in order (np.cumsum's last entry; 0.0 if empty)."""
    if x.shape[axis] == 0:
        return np.zeros(np.delete(x.shape, axis), dtype=np.float64)
    return np.take(np.cumsum(x, axis=axis), -1, axis=axis)


def _lanes(rows):
    """rows (n, C) in float64 -> (n, 16, lanes): element c of a row into lane c % 16."""
    n, cols = rows.shape
    padded = np.zeros((n, -(-cols // REDUCTION_LANES) * REDUCTION_LANES))
    padded[:, :cols] = rows
    return padded.reshape(n, -1, REDUCTION_LANES)


def _block_total(rows):
    """The kernel's sum of a block of rows: lanes fed row by row, then the lanes in order."""
    lanes = _lanes(rows)
    return float(_in_order(_in_order(lanes.reshape(-1, REDUCTION_LANES), 0), 0))


def adafactor_step(param, grad, row_var=None, col_var=None, variance=None, *, step, lr=1e-2, beta2_decay=-0.8,
                   eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False):
    T = param.dtype.type
    t = float(step)
    w = t ** beta2_decay
    e1 = np.finfo(param.dtype).eps if eps[0] is None else T(eps[0])
    e1 = T(e1)
    e1_squared = e1 * e1
    rho = min(lr, 1.0 / math.sqrt(t))
    g = grad * T(-1.0 if maximize else 1.0)
    if param.size == 0:
        return

    def step_size(param_squares, update_squares):
        root_n = math.sqrt(param.size)
        alpha = max(eps[1], math.sqrt(param_squares) / root_n) * rho
        return T(-alpha / max(1.0, math.sqrt(update_squares) / (root_n * d)))

    if param.ndim < 2:
        variance[...] = lerp(variance, g * g, w)
        u = (T(1.0) / np.sqrt(np.maximum(variance, e1_squared))) * g
        param_squares, update_squares = tensor_sums(param, u)
        param[...] = param * T(1.0 - lr * weight_decay) + step_size(param_squares, update_squares) * u
        return

    *lead, rows, cols = param.shape
    batch = math.prod(lead)
    per = 1 if cols == 0 else max(1, REDUCTION_BLOCK // cols)
    g3 = g.reshape(batch, rows, cols)
    p3 = param.reshape(batch, rows, cols)
    g2 = g3.astype(np.float64) ** 2
    p2 = p3.astype(np.float64) ** 2
    rv = row_var.reshape(batch, rows)
    cv = col_var.reshape(batch, cols)

    row_sums = _in_order(_in_order(_lanes(g2.reshape(-1, cols)), 1), 1).reshape(batch, rows)
    blocks = [(m, r, min(r + per, rows)) for m in range(batch) for r in range(0, rows, per)]
    col_sums = np.zeros((batch, cols))
    for m in range(batch):
        partials = np.array([_in_order(g2[m, a:b], 0) for mm, a, b in blocks if mm == m]).reshape(-1, cols)
        col_sums[m] = _in_order(partials, 0)
    param_squares = float(_in_order(np.array([_block_total(p2[m, a:b]) for m, a, b in blocks]), 0))

    with np.errstate(invalid="ignore", divide="ignore"):
        rv[...] = lerp(rv, (row_sums / float(cols)).astype(T), w)
        cv[...] = lerp(cv, (col_sums / float(rows)).astype(T), w)
        mean = np.maximum((_in_order(rv.astype(np.float64), 1) / float(rows)).astype(T), e1)
    u = (T(1.0) / np.sqrt(np.maximum(rv[:, :, None] * cv[:, None, :] / mean[:, None, None], e1_squared))) * g3
    u2 = u.astype(np.float64) ** 2
    update_squares = float(_in_order(np.array([_block_total(u2[m, a:b]) for m, a, b in blocks]), 0))
    size = step_size(param_squares, update_squares)
    param[...] = (p3 * T(1.0 - lr * weight_decay) + size * u).reshape(param.shape)
