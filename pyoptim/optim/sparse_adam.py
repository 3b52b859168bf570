"""SparseAdam: torch.optim.SparseAdam, for row-sparse gradients (embedding tables)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import _checks, _core
from .optimizer import Optimizer, _NOTHING_FRESH


class SparseAdam(Optimizer):
    r"""Adam masked to the rows a gradient touches, as torch.optim.SparseAdam (same defaults).

    For each element a gradient holds, at the step :math:`t`::

        dm = (g - m) * (1 - beta1);  m = m + dm
        dv = (g * g - v) * (1 - beta2);  v = v + dv
        p = p - lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)

    and every other element (parameter and moments) stays as it was. Give the
    touched rows at each step: ``step(rows=[(indices, values), ...])``, one entry
    per registered parameter in order, ``indices`` rows of the parameter's first
    axis (repeats are summed, as torch coalesces) and ``values`` shaped
    ``(len(indices), *param.shape[1:])``; only those rows are read and written,
    so a step costs what the batch touched, not the table's size. ``step()``
    without rows reads the registered dense gradients (every element touched).
    Deviation: every parameter of a group counts every step (give it empty rows
    to leave it untouched); torch counts a step only for parameters with a
    gradient. ``lr`` must be > 0, as torch requires.
    """

    rule = "sparse_adam"
    row_sparse = True
    hyper_checks = {"lr": lambda value: _checks.real("lr", value, min=0.0, min_open=True)}

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))
        # Kept between steps: the sorted rows of each parameter's last step (a new
        # array each step would be fresh pages from the OS, zeroed, at every step).
        self._buffers: dict = {}

    def step(self, closure: Callable[[], Any] | None = None, *, rows: Sequence | None = None):
        """One step: over the registered dense gradients, or (``rows``) over the given rows only."""
        if rows is None:
            return super().step(closure)
        loss = closure() if closure is not None else None
        if self._policy.active:
            raise ValueError("rows: a gradient policy (clipping, skipping) needs dense gradients; "
                             "step() without rows, or set_gradient_policy() to clear it")
        touched = coalesced_rows(rows, [param for param, _ in self._pairs], self._buffers)
        for group, run in zip(self.param_groups, self._runs):  # every group checked before any steps
            if run.options.stale(self._key(group)):
                self.check_hyper(group)
        for group, run in zip(self.param_groups, self._runs):
            if run.options.stale(self._key(group)):
                self._refresh(group, run)
            step = run.step + 1
            tensors = [(param, *touched[i]) + tuple(self.state[i].get(name) for name in self._state_names)
                       for i, (param, _) in zip(run.indices, group["params"])]
            _core.step_rows(self.rule, run.options_for(group, step), step, tensors)
            run.step, run.fresh = step, _NOTHING_FRESH
        self._steady_keys = None
        return loss


def coalesced_rows(rows: Sequence, params: list, buffers: dict | None = None) -> list:
    """(indices, values) per parameter, checked, with indices strictly increasing
    and the values of repeated indices summed (in order of appearance). `buffers`
    (by parameter position) holds the arrays sorted rows are written to, reused."""
    buffers = {} if buffers is None else buffers
    if not isinstance(rows, (list, tuple)) or len(rows) != len(params):
        raise TypeError(f"rows: expected a list of one (indices, values) per parameter ({len(params)}), "
                        f"got {type(rows).__name__}" + (f" of {len(rows)}" if isinstance(rows, (list, tuple)) else ""))
    out = []
    for k, (entry, param) in enumerate(zip(rows, params)):
        where = f"rows[{k}]"
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise TypeError(f"{where}: expected a pair (indices, values)")
        indices = np.asarray(entry[0])
        if indices.ndim != 1 or not (np.issubdtype(indices.dtype, np.integer) or indices.size == 0):
            raise TypeError(f"{where}: indices: expected a 1-D array of integers, got {indices.dtype} "
                            f"of shape {indices.shape}")
        indices = indices.astype(np.int64, copy=False)
        values = entry[1]
        if not isinstance(values, np.ndarray) or values.dtype != param.dtype:
            raise TypeError(f"{where}: values: expected a {param.dtype} ndarray, got "
                            f"{getattr(values, 'dtype', type(values).__name__)}")
        if values.shape != (len(indices), *param.shape[1:]):
            raise ValueError(f"{where}: values: expected shape {(len(indices), *param.shape[1:])}, got {values.shape}")
        if len(indices) and (indices.min() < 0 or indices.max() >= param.shape[0]):
            raise ValueError(f"{where}: indices: expected rows in [0, {param.shape[0]}), got "
                             f"{indices.min()} to {indices.max()}")
        if len(indices) > 1 and not np.all(indices[1:] > indices[:-1]):
            order = np.argsort(indices, kind="stable")  # repeats keep their order of appearance
            indices = indices[order]
            first = np.concatenate(([True], indices[1:] != indices[:-1]))
            unique = np.flatnonzero(first)
            buffer = buffers.get(k)
            if buffer is None or buffer.dtype != values.dtype or buffer.shape[1:] != values.shape[1:] \
                    or len(buffer) < len(unique):
                buffer = buffers[k] = np.empty((max(len(unique), 2 * len(buffer) if buffer is not None else 0),
                                                *values.shape[1:]), dtype=values.dtype)
            summed = buffer[:len(unique)]
            np.take(values, order[unique], axis=0, out=summed)
            repeats = np.flatnonzero(~first)  # usually few: added one by one, in order
            np.add.at(summed, np.cumsum(first)[repeats] - 1, values[order[repeats]])
            indices, values = indices[unique], summed
        out.append((np.ascontiguousarray(indices), np.ascontiguousarray(values)))
    return out
