"""Muon: torch.optim.Muon, momentum orthogonalised by Newton-Schulz iterations."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .. import _checks, _core
from .optimizer import Optimizer, _as_pairs

#: torch.optim.Muon's defaults: the quintic iteration's coefficients, steps, eps.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
EPS = 1e-7


def newton_schulz(x: np.ndarray, coefficients: Sequence[float], steps: int, eps: float) -> np.ndarray:
    """Near-orthogonalises the 2-D array `x` in place (its singular values move toward
    1) by `steps` quintic Newton-Schulz iterations: X = a X + (b A + c A A) X with
    A = X X^T, on the wide orientation (the Gram matrix is the smaller side), after
    scaling X to a Frobenius norm of at most 1. Matrix products are NumPy's (BLAS),
    in x's dtype (torch computes them in bfloat16)."""
    a, b, c = coefficients
    wide = x.T if x.shape[0] > x.shape[1] else x
    y = wide / max(float(np.linalg.norm(wide)), eps)
    for _ in range(steps):
        gram = y @ y.T
        y = a * y + (b * gram + c * (gram @ gram)) @ y
    wide[...] = y
    return x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple) -> float:
    """torch's per-matrix learning rate: sqrt(max(1, A / B)) ("original", the default)
    or 0.2 sqrt(max(A, B)) ("match_rms_adamw", RMS matched to AdamW's)."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1.0, rows / cols))


def muon_step(options: dict, group: dict, step: int, tensors: Sequence[tuple], *, grad_scale: float = 1.0,
              clip_value: float = math.inf) -> None:
    """One Muon step of (param, grad, momentum_buffer, workspace) 2-D arrays: the
    kernel's momentum pass over every tensor in one call (the update into each
    workspace), Newton-Schulz on each workspace, the kernel's apply pass per tensor
    (its adjusted lr). The NumPy API and pyoptim.torch both step through here."""
    names = _core.RULES["muon"]["options"]
    values = {**options, "apply": 0.0}
    _core.StepPlan("muon", [(work, grad, buf) for _, grad, buf, work in tensors]).step(
        tuple(float(values[n]) for n in names), step, grad_scale, clip_value)
    for param, _, _, work in tensors:
        newton_schulz(work, group["ns_coefficients"], group["ns_steps"], group["eps"])
        values = {**options, "apply": 1.0, "adjusted_lr": adjusted_lr(group["lr"], group["adjust_lr_fn"], param.shape)}
        _core.StepPlan("muon", [(param, work, None)]).step(tuple(float(values[n]) for n in names), step)


def check_matrices(pairs, where: str) -> None:
    for k, (param, _) in enumerate(pairs):
        Muon.check_param_shape(param.shape, f"{where}[{k}]")


class Muon(Optimizer):
    r"""Muon (Jordan et al., 2024), as torch.optim.Muon (same defaults), for 2-D parameters.

    Per matrix::

        B = lerp(B, g, 1 - momentum)
        U = lerp(g, B, momentum) if nesterov else B
        O = NewtonSchulz(U)            (ns_steps iterations of ns_coefficients; see newton_schulz)
        p = p * (1 - lr * weight_decay) - adjusted_lr * O

    ``adjust_lr_fn``: None or "original" (``lr * sqrt(max(1, rows / cols))``) or
    "match_rms_adamw" (``lr * 0.2 * sqrt(max(rows, cols))``). The element-wise parts
    are two kernel passes; the matrix products are NumPy's BLAS. Deviation: the
    Newton-Schulz products run in the parameter's dtype (float32 or float64), where
    torch runs them in bfloat16 (on most CPUs bfloat16 products are no faster, and
    they round the update to 8 bits).
    """

    rule = "muon"
    steps_arrays_itself = True

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple = NS_COEFFICIENTS, eps: float = EPS,
                 ns_steps: int = NS_STEPS, adjust_lr_fn: str | None = None):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn))
        # One workspace per parameter: the update that Newton-Schulz orthogonalises.
        self._work = {i: np.empty_like(param) for i, (param, _) in enumerate(self._pairs)}

    hyper_checks = {"ns_coefficients": lambda value: None, "ns_steps": lambda value: None,
                    "adjust_lr_fn": lambda value: None}

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        coefficients = group["ns_coefficients"]
        if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3:
            raise _checks.InvalidType("ns_coefficients", f"expected three numbers (a, b, c), got {coefficients!r}")
        group["ns_coefficients"] = tuple(_checks.real(f"ns_coefficients[{k}]", c) for k, c in enumerate(coefficients))
        group["ns_steps"] = _checks.integer("ns_steps", group["ns_steps"], min=0, max=99)
        fn = group["adjust_lr_fn"]
        if fn is not None:
            group["adjust_lr_fn"] = _checks.choice("adjust_lr_fn", fn, ("original", "match_rms_adamw"))
        group["momentum"] = _checks.real("momentum", group["momentum"], min=0.0, max=1.0, max_open=True)

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        return {"lr": group["lr"], "weight_decay": group["weight_decay"], "momentum": group["momentum"],
                "nesterov": group["nesterov"], "apply": 0.0, "adjusted_lr": group["lr"]}

    @classmethod
    def check_param_shape(cls, shape: tuple, where: str) -> None:
        if len(shape) != 2:
            raise ValueError(f"{where}: Muon only supports 2-D parameters, got shape {tuple(shape)} "
                             f"(step biases, norms and embeddings with another rule, e.g. AdamW)")

    @classmethod
    def step_many(cls, group: dict, options: tuple, step: int, tensors: list, grad_scale: float = 1.0,
                  clip_value: float = math.inf) -> None:
        check_matrices([(t[0], t[1]) for t in tensors], "tensors")
        if any(t[2] is None for t in tensors):
            raise ValueError("momentum_buffer: Muon needs its momentum buffer (zeros before a first step)")
        muon_step(dict(zip(_core.RULES[cls.rule]["options"], options)), group, step,
                  [(param, grad, buf, np.empty_like(param)) for param, grad, buf in tensors],
                  grad_scale=grad_scale, clip_value=clip_value)

    def add_param_group(self, param_group: dict) -> None:
        if isinstance(param_group, dict) and "params" in param_group:
            pairs = _as_pairs(param_group["params"], f"param_groups[{len(self.param_groups)}]['params']")
            check_matrices(pairs, f"param_groups[{len(self.param_groups)}]['params']")
            param_group = {**param_group, "params": pairs}
        super().add_param_group(param_group)
        if hasattr(self, "_work"):
            for i, (param, _) in enumerate(self._pairs):
                self._work.setdefault(i, np.empty_like(param))

    def step(self, closure: Callable[[], Any] | None = None):
        """One Muon step of every registered matrix (see the class doc)."""
        loss = closure() if closure is not None else None
        runs, policy = self._runs, self._policy
        changed, scale = self._checked_step_start()
        if scale is None:
            return loss
        for group, run, is_changed in zip(self.param_groups, runs, changed):
            if is_changed:
                self._refresh(group, run)
            step = run.step + 1
            options = dict(zip(_core.RULES[self.rule]["options"], run.options_for(group, step)))
            tensors = [(param, grad, self.state[i]["momentum_buffer"], self._work[i])
                       for (param, grad), i in zip(group["params"], run.indices)]
            muon_step(options, group, step, tensors, grad_scale=scale or 1.0, clip_value=policy.clip_value)
            run.step, run.fresh = step, frozenset()
        return loss
