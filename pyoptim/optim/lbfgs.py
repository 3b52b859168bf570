"""LBFGS: torch.optim.LBFGS, closure-driven, with its history and strong Wolfe line search."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .. import _checks, _core
from .optimizer import Optimizer

_HISTORY_KEYS = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class FlatView:
    """A list of parameter arrays seen as one flat vector, as L-BFGS works on it:
    `gradient()` gathers the gradients (zeros where a parameter has none), `move(t,
    d)` adds t * d to the parameters through the kernel (one call for all of them),
    `copy()`/`restore()` save and put back the parameters (the line search)."""

    def __init__(self, params: Sequence[np.ndarray], grads: Callable[[], Sequence[np.ndarray | None]]):
        self.params = list(params)
        self._grads = grads
        self.sizes = [p.size for p in self.params]
        self.size = sum(self.sizes)
        self.dtype = self.params[0].dtype if self.params else np.dtype(np.float64)
        self._cuts = np.cumsum([0, *self.sizes])

    def _pieces(self, flat: np.ndarray):
        return [flat[a:b].reshape(p.shape) for p, a, b in zip(self.params, self._cuts[:-1], self._cuts[1:])]

    def gradient(self) -> np.ndarray:
        out = np.empty(self.size, self.dtype)
        for piece, g in zip(self._pieces(out), self._grads()):
            if g is None:
                piece.fill(0)
            else:
                piece[...] = g
        return out

    def move(self, t: float, d: np.ndarray) -> None:
        axpy(self.params, self._pieces(d), t)

    def copy(self) -> list:
        return [p.copy() for p in self.params]

    def restore(self, saved: list) -> None:
        for p, s in zip(self.params, saved):
            np.copyto(p, s)


def axpy(targets: Sequence[np.ndarray], directions: Sequence[np.ndarray], t: float) -> None:
    """targets[k] += t * directions[k], in place, in one kernel call (rules/lbfgs.hpp)."""
    _core.StepPlan("lbfgs", list(zip(targets, directions))).step((float(t),), 1)


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds`
    (default: the interval between x1 and x2); its midpoint if the cubic has none."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    discriminant = d1 * d1 - g1 * g2
    if discriminant < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(discriminant)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length t along d meeting the strong Wolfe conditions (Nocedal and Wright,
    Algorithms 3.5 and 3.6, as torch's): bracket, then zoom by cubic interpolation.
    `evaluate(t)` -> (loss, flat gradient) at x + t d. Returns (loss, gradient, t, evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evaluations = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    iteration = 0
    while iteration < max_ls:
        if f_new > f + c1 * t * gtd or (iteration > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, bracket_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        shortest, longest = t + 0.01 * (t - t_prev), t * 10
        previous = t
        t = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(shortest, longest))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new, gtd_new
        f_new, g_new = evaluate(t)
        evaluations += 1
        gtd_new = float(g_new @ d)
        iteration += 1
    if iteration == max_ls:
        bracket, bracket_f, bracket_g, bracket_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    stalled = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and iteration < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep t away from the bracket's ends (a tenth of its width), or move it there once stalled.
        margin = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < margin:
            if stalled or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - margin if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evaluations += 1
        gtd_new = float(g_new @ d)
        iteration += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evaluations


def _number(x) -> float:
    return float(x.item() if hasattr(x, "item") else x)


def lbfgs_iterations(flat: FlatView, state: dict, group: dict, closure: Callable[[], Any]):
    """torch.optim.LBFGS's step: up to max_iter iterations from one closure call, its
    history (`state`: torch's keys) carried between steps. `closure()` recomputes the
    gradients (which `flat.gradient()` then reads) and returns the loss. Returns the
    closure's first loss. Scalars (t, ro, H_diag, al) are Python floats."""
    lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
    tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
    history_size, line_search = group["history_size"], group["line_search_fn"]
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)

    first_loss = closure()
    loss = _number(first_loss)
    evaluations = 1
    state["func_evals"] += 1
    g = flat.gradient()
    if float(np.abs(g).max(initial=0.0)) <= tolerance_grad:
        return first_loss

    d: Any = state.get("d")
    t: Any = state.get("t")
    old_dirs: Any = state.get("old_dirs")
    old_stps: Any = state.get("old_stps")
    ro: Any = state.get("ro")
    h_diag: Any = state.get("H_diag")
    prev_g: Any = state.get("prev_flat_grad")
    prev_loss: Any = state.get("prev_loss")
    iteration = 0
    while iteration < max_iter:
        iteration += 1
        state["n_iter"] += 1
        if state["n_iter"] == 1:
            d = -g
            old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
        else:
            y = g - prev_g
            s = d * t
            ys = float(y @ s)
            if ys > 1e-10:  # a curvature pair worth keeping
                if len(old_dirs) == history_size:
                    old_dirs.pop(0)
                    old_stps.pop(0)
                    ro.pop(0)
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / float(y @ y)
            # The two-loop recursion: d = -H g, H the history's inverse-Hessian estimate.
            al = state.setdefault("al", [None] * history_size)
            q = -g
            for i in range(len(old_dirs) - 1, -1, -1):
                al[i] = float(old_stps[i] @ q) * ro[i]
                axpy([q], [old_dirs[i]], -al[i])
            d = q * q.dtype.type(_number(h_diag))
            for i in range(len(old_dirs)):
                be = float(old_dirs[i] @ d) * ro[i]
                axpy([d], [old_stps[i]], al[i] - be)
        if prev_g is None:
            prev_g = g.copy()
        else:
            np.copyto(prev_g, g)
        prev_loss = loss
        t = min(1.0, 1.0 / float(np.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
        gtd = float(g @ d)
        if gtd > -tolerance_change:  # not a descent direction
            break

        used = 0
        if line_search is not None:
            start = flat.copy()

            def evaluate(step: float):
                flat.move(step, d)
                value = _number(closure())
                gradient = flat.gradient()
                flat.restore(start)
                return value, gradient

            loss, g, t, used = _strong_wolfe(evaluate, t, d, loss, g, gtd, max_ls=max_eval - evaluations)
            flat.move(t, d)
            converged = float(np.abs(g).max()) <= tolerance_grad
        else:
            flat.move(t, d)
            converged = False
            if iteration != max_iter:  # re-evaluate, unless this was the last iteration
                loss = _number(closure())
                g = flat.gradient()
                converged = float(np.abs(g).max()) <= tolerance_grad
                used = 1
        evaluations += used
        state["func_evals"] += used
        if iteration == max_iter or evaluations >= max_eval or converged:
            break
        if float(np.abs(d * t).max()) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
            break

    state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag, prev_flat_grad=prev_g,
                 prev_loss=prev_loss)
    return first_loss


def _copied(entry: dict) -> dict:
    out: dict = {}
    for k, v in entry.items():
        if isinstance(v, np.ndarray):
            out[k] = v.copy()
        elif isinstance(v, list):
            out[k] = [x.copy() if isinstance(x, np.ndarray) else x for x in v]
        else:
            out[k] = v
    return out


def _checked_history(entry: dict, size: int, dtype) -> dict:
    """A saved L-BFGS state entry checked (vectors of the parameters' total size and dtype,
    numbers where torch keeps numbers or 0-d tensors), as a fresh dict of copies."""
    known = {"step", "func_evals", "n_iter", "al", *_HISTORY_KEYS}
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"state_dict: unknown keys {sorted(map(str, unknown))}; expected {sorted(known)}")

    def vector(key, v):
        a = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        if a.shape != (size,) or a.dtype != dtype:
            raise ValueError(f"state_dict: {key} must be a vector of {size} {np.dtype(dtype)}, got "
                             f"{a.dtype} {a.shape}")
        return a.copy()

    def number(key, v):
        try:
            x = _number(v)
        except (TypeError, ValueError):
            raise ValueError(f"state_dict: {key} must be a number, got {type(v).__name__}") from None
        if not math.isfinite(x):
            raise ValueError(f"state_dict: {key} must be finite, got {x!r}")
        return x

    out: dict = {}
    for key in ("func_evals", "n_iter"):
        if key in entry:
            out[key] = _checks.integer(f"state_dict: {key}", entry[key], min=0)
    for key in ("d", "prev_flat_grad"):
        if entry.get(key) is not None:
            out[key] = vector(key, entry[key])
    for key in ("t", "H_diag", "prev_loss"):
        if entry.get(key) is not None:
            out[key] = number(key, entry[key])
    for key in ("old_dirs", "old_stps"):
        if key in entry:
            out[key] = [vector(f"{key}[{k}]", v) for k, v in enumerate(entry[key])]
    for key in ("ro", "al"):
        if key in entry:
            out[key] = [None if v is None else number(f"{key}[{k}]", v) for k, v in enumerate(entry[key])]
    if len(out.get("old_dirs", ())) != len(out.get("old_stps", ())) or \
            len(out.get("old_dirs", ())) != len(out.get("ro", ())):
        raise ValueError("state_dict: old_dirs, old_stps and ro must have the same length")
    return out


class LBFGS(Optimizer):
    r"""L-BFGS, as torch.optim.LBFGS (same defaults, state keys and semantics).

    ``step(closure)`` runs up to ``max_iter`` iterations; ``closure()`` must recompute
    the loss, write the gradients into the registered grad arrays and return the
    loss (``step`` returns the first). Each iteration moves every parameter along
    ``d = -H g``, ``H`` the inverse-Hessian estimate of the last ``history_size``
    curvature pairs (the two-loop recursion), by ``lr`` or, with
    ``line_search_fn="strong_wolfe"``, by a step meeting the strong Wolfe
    conditions. One param group only, as torch. The history's dot products are
    NumPy's (BLAS); each parameter move and the recursion's in-place updates are one
    kernel call. Its state (``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs``,
    ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``) sits in
    the first parameter's entry, as torch's. Deviation: the scalars (``t``, ``ro``,
    ``H_diag``, ``al``) are Python floats where torch keeps 0-d tensors of the
    parameters' dtype (the same values in float64); parameters must be C-contiguous.
    """

    rule = "lbfgs"
    closure_driven = True

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("params: LBFGS takes one param group (torch's LBFGS has no per-parameter options)")

    hyper_checks = {"max_iter": lambda value: None, "max_eval": lambda value: None,
                    "history_size": lambda value: None, "line_search_fn": lambda value: None,
                    "tolerance_grad": lambda value: None, "tolerance_change": lambda value: None}

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        group["max_iter"] = _checks.integer("max_iter", group["max_iter"], min=1)
        if group["max_eval"] is None:
            group["max_eval"] = group["max_iter"] * 5 // 4
        group["max_eval"] = _checks.integer("max_eval", group["max_eval"], min=1)
        group["history_size"] = _checks.integer("history_size", group["history_size"], min=1)
        group["tolerance_grad"] = _checks.real("tolerance_grad", group["tolerance_grad"], min=0.0)
        group["tolerance_change"] = _checks.real("tolerance_change", group["tolerance_change"], min=0.0)
        if group["line_search_fn"] is not None:
            group["line_search_fn"] = _checks.choice("line_search_fn", group["line_search_fn"], ("strong_wolfe",))

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        return {"step_size": group["lr"]}

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("param_group: LBFGS takes one param group (torch's LBFGS has no per-parameter options)")
        super().add_param_group(param_group)
        for k, (param, _) in enumerate(self._pairs):
            if not param.flags.c_contiguous:
                raise ValueError(f"param_groups[0]['params'][{k}]: LBFGS needs C-contiguous parameters "
                                 f"(use numpy.ascontiguousarray)")

    def state_dict(self) -> dict:
        """As Optimizer.state_dict, with the history copied (arrays and lists of them)."""
        saved = super().state_dict()
        first = self._runs[0].indices[0] if self._pairs else None
        if first is not None:
            saved["state"][first] = {**_copied(self.state[first]), "step": self._runs[0].step}
        return saved

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state_dict() (pyoptim's, or torch.optim.LBFGS's converted to NumPy);
        checks everything before changing anything."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError("state_dict: expected a dict with keys 'state' and 'param_groups'")
        groups, saved = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1 or not isinstance(groups[0], dict):
            raise ValueError("state_dict: LBFGS keeps one param group")
        hyper = {k: v for k, v in groups[0].items() if k != "params"}
        if set(hyper) - set(self.defaults) - {"initial_lr"} or not set(self.defaults) <= set(hyper):
            raise ValueError(f"state_dict: param_groups[0] has hyperparameters {sorted(hyper)}, "
                             f"expected {sorted(self.defaults)}")
        candidate = {**hyper, "params": self.param_groups[0]["params"]}
        self.check_hyper(candidate)
        ids = list(groups[0].get("params", ()))
        if len(ids) != len(self._pairs):
            raise ValueError(f"state_dict: param_groups[0] has {len(ids)} params, the optimizer has {len(self._pairs)}")
        entries = [saved.get(i, {}) for i in ids]
        if any(not isinstance(e, dict) for e in entries):
            raise TypeError("state_dict: each state entry must be a dict")
        first = _checked_history(entries[0] if entries else {}, sum(p.size for p, _ in self._pairs),
                                 self._pairs[0][0].dtype if self._pairs else np.float64)
        step = _checks.integer("state_dict: state['step']", entries[0].get("step", 0) if entries else 0, min=0)
        self.param_groups[0].update(candidate)
        self._runs[0].step = step
        for i in self._runs[0].indices:
            self.state[i] = {}
        if self._pairs:
            self.state[self._runs[0].indices[0]] = first
        self._runs[0].options.invalidate()
        self._steady_keys = None

    def step(self, closure: Callable[[], Any] | None = None):
        """Up to max_iter L-BFGS iterations (see the class doc); returns the closure's first loss."""
        if closure is None:
            raise TypeError("closure: LBFGS needs a closure that recomputes the gradients and returns the loss")
        group, run = self.param_groups[0], self._runs[0]
        self.check_hyper(group)
        run.plan.check()
        params = [p for p, _ in group["params"]]
        grads = [g for _, g in group["params"]]
        flat = FlatView(params, lambda: grads)
        loss = lbfgs_iterations(flat, self.state[run.indices[0]], group, closure)
        run.step += 1
        return loss
