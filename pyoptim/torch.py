"""pyoptim's kernels as torch.optim optimizers, for CPU tensors.

``pyoptim.torch.Adam(model.parameters(), lr=1e-3)`` (and likewise every rule of
:data:`pyoptim.Optimizer.registry`) is a ``torch.optim.Optimizer`` whose
``step()`` runs pyoptim's kernels on the parameters, gradients and state
tensors in place. Everything else is torch's: param groups (named parameters
too), ``zero_grad``, ``state_dict`` / ``load_state_dict`` (torch.optim's layout:
a state_dict of ``torch.optim.Adam`` loads here and the reverse), LR schedulers,
step and state_dict hooks, ``torch.nn.utils.clip_grad_norm_``, ``copy.deepcopy``
and pickling. Hyperparameters, defaults and semantics are those of the pyoptim
class of the same name (torch.optim's, for the rules torch has); any of them may
be a 0-d tensor, as torch allows. ``foreach`` and ``fused`` are accepted and
change nothing (they choose among torch's own implementations);
``capturable=True`` and ``differentiable=True`` are refused.

A parameter whose ``grad`` is None is skipped and keeps its own step count, as
in torch; state is created at a parameter's first step, laid out like the
parameter (``torch.zeros_like``). Parameters may be float32 or float64 (complex
ones step as their real view, as in torch), contiguous or any dense layout
(channels_last, transposed); a strided parameter (a slice) or a gradient whose
layout differs from its parameter's steps through a copy, more slowly.
``set_gradient_policy`` clips by global norm or value inside the update pass,
or skips steps with non-finite gradients, as :class:`pyoptim.Optimizer` does.

The steady state does no per-parameter Python work: a C++ plan
(``pyoptim._core.TorchPlan``) re-reads each parameter's gradient, checks what
may have changed since the last step and runs one kernel call per param group.
Like torch's in-place optimizers, a step bumps each parameter's autograd
version counter. torch is an optional dependency: importing this module
requires it.
"""

from __future__ import annotations

import inspect
import math
import operator
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch.optim import optimizer as _torch_optim

from . import _core
from .optim import Optimizer as _PyoptimOptimizer
from .optim.options import GradientPolicy, KernelOptions

__all__ = ["PyoptimTorchOptimizer"]  # and one class per rule class, added below

# torch's implementation switches, accepted by every rule (where torch has a
# twin, exactly the twin's): they only choose among torch's own kernels.
_IMPLEMENTATION_FLAGS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
_REAL_DTYPES = {torch.float32: torch.float32, torch.float64: torch.float64,
                torch.complex64: torch.float32, torch.complex128: torch.float64}


def _scalar_dtype(rule_class: type[_PyoptimOptimizer] | None = None, key: str = "step") -> torch.dtype:
    """The dtype torch.optim keeps `step` and scalar state in (float64 for the scalar
    state of a rule whose reference keeps Python floats: scalars_in_float64)."""
    if rule_class is not None and rule_class.scalars_in_float64 and key in rule_class.scalar_state:
        return torch.float64
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _plain(value):
    """A hyperparameter with every 0-d tensor replaced by its Python number."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"expected a number or a one-element tensor, got a tensor of shape {tuple(value.shape)}")
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def _has_tensor(values) -> bool:
    return any(isinstance(v, torch.Tensor) or (isinstance(v, (tuple, list)) and _has_tensor(v)) for v in values)


class PyoptimTorchOptimizer(torch.optim.Optimizer):
    """Base class: a torch optimizer driven by the pyoptim rule ``rule_class``."""

    rule_class: ClassVar[type[_PyoptimOptimizer]]
    twin: ClassVar[str | None] = None  # the torch.optim class of the same semantics, if any
    step_key: ClassVar[str | None] = "step"  # torch's per-parameter step count (SGD keeps none)
    eager_state: ClassVar[bool] = False  # state created at construction (torch's Adagrad does)
    _twin_defaults: ClassVar[dict] = {}
    _group_defaults: ClassVar[dict]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "rule_class" not in cls.__dict__:
            return
        # The keys torch's groups carry, with torch's defaults (every implementation
        # switch for a rule without a twin), after the rule's own hyperparameters.
        hyper = cls.rule_class.default_hyper()
        flags = {k: v for k, v in (cls._twin_defaults or _IMPLEMENTATION_FLAGS).items() if k not in hyper}
        cls._group_defaults = {**hyper, **flags}
        signature = inspect.signature(cls.rule_class.__init__)
        extra = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
                 for k, v in flags.items() if k not in signature.parameters]
        if "__init__" in cls.__dict__:
            cls.__init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[*signature.parameters.values(), *extra])

    def __init__(self, params, **hyper):
        unknown = set(hyper) - set(self._group_defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown arguments {sorted(unknown)}; "
                            f"expected {sorted(self._group_defaults)}")
        defaults = {**self._group_defaults, **hyper}
        plain = self._check_group(defaults, "defaults")
        # A None the rule resolves from the others (LBFGS's max_eval = max_iter * 5 // 4) is
        # kept resolved, as torch keeps it.
        defaults.update({k: plain[k] for k, v in defaults.items() if v is None and plain.get(k) is not None})
        self._policy = GradientPolicy()
        self._engine: _Engine | None = None
        # The rule's own group keys (Schedule-Free's train_mode) ride along as
        # defaults, so that torch fills them into every group, old and new.
        super().__init__(params, {**defaults, **self.rule_class.group_state})
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                self.rule_class.check_param_shape(tuple(p.shape), f"param_groups[{gi}]['params'][{pi}]")
        if self.rule_class.row_sparse:  # as torch's SparseAdam: dense real parameters only
            for gi, group in enumerate(self.param_groups):
                for pi, p in enumerate(group["params"]):
                    if p.is_complex() or p.is_sparse:
                        raise ValueError(f"param_groups[{gi}]['params'][{pi}]: {type(self).__name__} does not "
                                         f"support {'complex' if p.is_complex() else 'sparse'} parameters")
        if self.eager_state:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if not self.state.get(p):
                            self.state[p].update(_new_state(self, p, _plain_group(group), None))

    # ---- hyperparameters -----------------------------------------------------

    @classmethod
    def _check_group(cls, group: dict, where: str) -> dict:
        """The group's hyperparameters as plain numbers, checked (TypeError/ValueError
        naming the argument); `group` itself is not changed."""
        plain = {}
        for k, v in group.items():
            if k == "params" or k == "param_names":
                continue
            try:
                plain[k] = _plain(v)
            except ValueError as e:
                raise ValueError(f"{k}: {e}") from None
        missing = [k for k in cls._group_defaults if k not in plain]
        if missing:
            raise ValueError(f"{where}: lacks the hyperparameters {missing}")
        cls.rule_class.check_hyper(plain)
        cls.rule_class._check_group_state({**cls.rule_class.group_state, **plain}, where)
        for flag in ("foreach", "fused"):
            if flag in plain and plain[flag] not in (None, True, False):
                raise TypeError(f"{flag}: expected None, True or False, got {plain[flag]!r}")
        if plain.get("foreach") and plain.get("fused"):
            raise ValueError("foreach, fused: cannot both be True")
        if plain.get("capturable"):
            raise ValueError("capturable: pyoptim.torch steps CPU tensors and has no capturable "
                             "(CUDA graph) mode; pass capturable=False")
        if plain.get("differentiable"):
            raise ValueError(f"differentiable: pyoptim's kernels are not differentiable; use "
                             f"torch.optim.{cls.twin or cls.__name__}(differentiable=True) to differentiate through a step")
        return plain

    def add_param_group(self, param_group: dict) -> None:
        if isinstance(param_group, dict):  # checked before torch registers anything
            self._check_group({**self.defaults, **param_group}, f"param_groups[{len(self.param_groups)}]")
        super().add_param_group(param_group)
        if hasattr(self, "_policy"):  # after construction: the new group's shapes, else it goes again
            gi = len(self.param_groups) - 1
            try:
                for pi, p in enumerate(self.param_groups[-1]["params"]):
                    self.rule_class.check_param_shape(tuple(p.shape), f"param_groups[{gi}]['params'][{pi}]")
            except ValueError:
                self.param_groups.pop()
                raise
        self._engine = None

    # ---- gradient policy -----------------------------------------------------

    def set_gradient_policy(self, *, max_norm: float | None = None, clip_value: float | None = None,
                            skip_nonfinite: bool = False) -> None:
        """As :meth:`pyoptim.Optimizer.set_gradient_policy`: clip every later step's
        gradients by their global L2 norm (``max_norm``) and/or by value
        (``clip_value``) inside the update pass, or skip a step whose gradients hold
        a NaN or Inf (``skip_nonfinite``; counted in ``skipped_steps``). The
        gradient tensors are never modified. Over the parameters that have a gradient."""
        self._policy.set(max_norm=max_norm, clip_value=clip_value, skip_nonfinite=skip_nonfinite)

    @property
    def skipped_steps(self) -> int:
        return self._policy.skipped_steps

    @property
    def last_grad_norm(self) -> float | None:
        return self._policy.last_grad_norm

    # ---- stepping --------------------------------------------------------------

    def step(self, closure=None):
        """One update of every parameter that has a gradient (see the module's doc).

        ``closure``, if given, is called first with gradients enabled (it recomputes
        the gradients and returns the loss, which ``step`` returns)."""
        if type(self).step is _base_step and (
                _torch_optim._global_optimizer_pre_hooks or self._optimizer_step_pre_hooks
                or self._optimizer_step_post_hooks or _torch_optim._global_optimizer_post_hooks
                or torch.autograd._profiler_enabled()):
            return _step_with_hooks(self, closure)
        return self._step(closure)

    def _step(self, closure=None):
        if self.rule_class.mode_state is not None and not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{type(self).__name__}.step: the optimizer is in eval mode; call "
                               f"optimizer.train() before training (and optimizer.eval() before evaluating)")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        engine, policy = self._engine, self._policy
        if engine is None:
            engine = self._engine = _Engine(self)
        # The steady step: one C++ call checks what may have changed and steps.
        if policy.needs_norm or not engine.plan.step_uniform(self.param_groups, self.state, policy.clip_value):
            engine.step()
        return loss

    # ---- saving, loading, copying ---------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_policy": self._policy}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # torch's load_state_dict and unpickling both come here: check everything first.
        for gi, group in enumerate(state["param_groups"]):
            self._check_group({**self._group_defaults, **group}, f"state_dict: param_groups[{gi}]")
        for gi, group in enumerate(state["param_groups"]):
            for pi, p in enumerate(group["params"]):
                entry = state["state"].get(p) if isinstance(p, torch.Tensor) else None
                if entry:
                    _check_saved_state(self, p, entry, f"state_dict: state of param_groups[{gi}]['params'][{pi}]")
        state.setdefault("_policy", getattr(self, "_policy", None) or GradientPolicy())
        super().__setstate__(state)
        for group in self.param_groups:  # keys added after the state_dict was saved
            for k, v in {**self._group_defaults, **self.rule_class.group_state}.items():
                group.setdefault(k, v)
        for entry in self.state.values():  # older state_dicts kept numbers, not tensors
            for k in (self.step_key if not self.rule_class.row_sparse else None, *self.rule_class.scalar_state):
                if k is not None and k in entry and not isinstance(entry[k], torch.Tensor):
                    entry[k] = torch.tensor(float(entry[k]), dtype=_scalar_dtype(self.rule_class, k))
        self._engine = None


_base_step = PyoptimTorchOptimizer.step
_base_step.hooked = True  # type: ignore[attr-defined]  # torch must not wrap it: step() calls the hooks itself


def _step_with_hooks(opt: PyoptimTorchOptimizer, closure):
    """torch.optim's step protocol (what torch wraps its optimizers' step in):
    a profiler range, the pre-hooks (which may replace the arguments), the
    step, the profiler's entry point, the post-hooks."""
    args: tuple = (opt, closure)
    kwargs: dict = {}
    with torch.autograd.profiler.record_function(f"Optimizer.step#{type(opt).__name__}.step"):
        for hook in (*_torch_optim._global_optimizer_pre_hooks.values(), *opt._optimizer_step_pre_hooks.values()):
            result = hook(opt, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"step pre-hook {hook!r} must return None or (args, kwargs), got {result!r}")
                args, kwargs = result
        out = type(opt)._step(*args, **kwargs)  # the rule's own step (a row-sparse rule has its own)
        opt._optimizer_step_code()
        for hook in (*opt._optimizer_step_post_hooks.values(), *_torch_optim._global_optimizer_post_hooks.values()):
            hook(opt, args, kwargs)
        return out


# ---- the engine: one TorchPlan over every parameter, one KernelOptions per group ----

class _Slot:
    """What TorchPlan.bind reads about a parameter (see csrc/bindings/torch_plan.cpp)."""

    state: dict  # its entry in opt.state
    param_ptr: int
    numel: int
    float64: bool  # real dtype float64 (else float32)
    complex: bool  # stepped as its real view
    layout: str  # "contiguous", "dense" (some order of dimensions is) or "strided"
    shape: tuple  # of the kernel's view (the real view of a complex parameter)
    strides: tuple
    states: tuple  # data pointer of each kernel state array, or None
    step_ptr: int | None
    step_float64: bool
    scalars: tuple  # data pointers of the scalar state tensors
    scalars_float64: bool  # they hold float64 (else float32)
    scalars_advance_float64: bool  # they advance in float64 (else float32; see _advance_dtype)
    fresh: int  # bit k: state k was just created


class _Engine:
    """One TorchPlan over every parameter of the optimizer, one KernelOptions per group."""

    def __init__(self, opt: PyoptimTorchOptimizer):
        cls = opt.rule_class
        self.opt = opt
        self.rule_class = cls
        self.groups_list = opt.param_groups
        self.groups = list(opt.param_groups)
        self.group_ids = list(map(id, self.groups))
        self.state = opt.state
        self.state_names = _core.RULES[cls.rule]["state"]
        self.key = operator.itemgetter(*opt._group_defaults)
        self.keys: list = [None] * len(self.groups)  # each group's hyperparameter values at its last check
        self.options = [KernelOptions(cls) for _ in self.groups]
        self.plain: list[dict] = [{} for _ in self.groups]
        self.tensor_valued = False  # some group holds a hyperparameter as a tensor
        self.used: list[tuple] = [()] * len(self.groups)
        self.fresh_names: dict[int, frozenset] = {}
        self.params = [p for group in self.groups for p in group["params"]]
        self.where = [(gi, pi) for gi, group in enumerate(self.groups) for pi in range(len(group["params"]))]
        self.plan = _core.TorchPlan(cls.rule, opt.step_key, torch._C._increment_version)
        self.plan.reset([group["params"] for group in self.groups])
        self.plan.watch(opt.param_groups, opt.state, tuple(opt._group_defaults))

    def step(self) -> None:
        """A step that follows whatever changed (the general path); a new engine if
        the optimizer's groups or state were replaced since this one was built."""
        opt = self.opt
        groups = opt.param_groups
        if groups is not self.groups_list or opt.state is not self.state or list(map(id, groups)) != self.group_ids:
            opt._engine = _Engine(opt)
            opt._engine.step()
            return
        self._step_general()

    def _step_general(self) -> None:
        opt, plan, policy = self.opt, self.plan, self.opt._policy
        stale = [gi for gi, group in enumerate(self.groups) if self._values(group) != self.keys[gi]]
        if stale:
            self._refresh(stale)
        attention = plan.bind_grads()
        if attention:
            self._attend(attention)
            attention = plan.bind_grads()
            if attention:  # bound, and still unusable: say why
                gi, pi = self.where[attention[0]]
                raise ValueError(f"param_groups[{gi}]['params'][{pi}]: {plan.reason(attention[0])}")
        if attention is None:  # a group's params list was edited in place
            opt._engine = _Engine(opt)
            opt._engine.step()
            return None
        scale = policy.grad_scale((plan.gradient_squares(),)) if policy.needs_norm else policy.weight
        if scale is None:
            return None
        for index, (gi, step, fresh) in enumerate(plan.partitions()):
            options = self.options[gi].values(self.plain[gi], step + 1, self._fresh(fresh))
            plan.step(index, options, step + 1, scale, policy.clip_value)
        return None

    def _values(self, group: dict) -> tuple:
        values = self.key(group)
        return _plain(values) if self.tensor_valued else values

    def _refresh(self, stale: list) -> None:
        """Follow edited hyperparameters: check every stale group, then rebuild their options."""
        cls, checked = self.rule_class, {}
        for gi in stale:
            checked[gi] = self.opt._check_group(self.groups[gi], f"param_groups[{gi}]")
        self.tensor_valued = _has_tensor(self.key(group) for group in self.groups)
        for gi, plain in checked.items():
            self.plain[gi] = plain
            self.keys[gi] = self._values(self.groups[gi])
            options = self.options[gi]
            options.refresh(self.keys[gi])
            used = _core.states_used(cls.rule, options.values(plain, 1, frozenset()))
            if any(u and not was for u, was in zip(used, self.used[gi] or (False,) * len(used))):
                self.plan.unbind_group(gi)  # a state array is newly needed: bind again to create it
            self.used[gi] = used
            # The steady step compares the group's values as they are (a tensor lr may
            # change in place, so a group holding one always takes the general path).
            values = self.key(self.groups[gi])
            steady = None if _has_tensor(values) else options.values(plain, 1, frozenset())
            self.plan.set_uniform(gi, steady, values)

    def _fresh(self, mask: int) -> frozenset:
        names = self.fresh_names.get(mask)
        if names is None:
            names = self.fresh_names[mask] = frozenset(n for k, n in enumerate(self.state_names) if mask >> k & 1)
        return names

    def _attend(self, attention: list) -> None:
        """Bind the parameters the plan could not use as they are: check all, then change."""
        opt = self.opt
        changes = []
        for i in attention:
            gi, pi = self.where[i]
            p, where = self.params[i], f"param_groups[{gi}]['params'][{pi}]"
            changes.append((i, _inspect(opt, p, self.plain[gi], self.used[gi], where)))
        # What the step writes (every parameter that has state or is about to get
        # it, and its state tensors) must not overlap anything else it touches.
        spans, about = [], set(attention)
        for i, (p, (gi, pi)) in enumerate(zip(self.params, self.where)):
            entry = opt.state.get(p)
            if i in about or entry:
                where = f"param_groups[{gi}]['params'][{pi}]"
                spans.append(_span(p, where))
                spans += [_span(v, f"state of {where}[{k!r}]") for k, v in (entry or {}).items()
                          if isinstance(v, torch.Tensor) and v.dim() > 0]
                if i in about and p.grad is not None:
                    spans.append(_span(p.grad, f"{where}.grad", written=False))
        _core.check_no_overlap(spans)
        with torch.no_grad():
            for i, change in changes:
                self.plan.bind(i, change())


def _inspect(opt: PyoptimTorchOptimizer, p: torch.Tensor, group: dict, used: tuple, where: str):
    """Checks parameter `p`, its gradient and its state (raising TypeError/ValueError
    naming them) and returns the function that creates what is missing and
    returns the plan's view of it."""
    if p.device.type != "cpu":
        raise ValueError(f"{where}: pyoptim.torch steps CPU tensors, got one on {p.device}")
    if p.layout != torch.strided:
        raise TypeError(f"{where}: expected a dense (strided) tensor, got layout {p.layout}")
    if p.dtype not in _REAL_DTYPES:
        raise TypeError(f"{where}: expected dtype float32, float64, complex64 or complex128, got {p.dtype}")
    grad = p.grad
    if grad is not None:
        if grad.is_sparse or grad.layout != torch.strided:
            raise TypeError(f"{where}.grad: sparse gradients are not supported by pyoptim.torch."
                            f"{type(opt).__name__} (got layout {grad.layout})")
        if grad.dtype != p.dtype or grad.shape != p.shape or grad.device != p.device:
            raise ValueError(f"{where}.grad: expected a {p.dtype} tensor of shape {tuple(p.shape)} on {p.device}, "
                             f"got {grad.dtype} {tuple(grad.shape)} on {grad.device}")
    entry = opt.state.get(p)
    if entry:
        _check_saved_state(opt, p, entry, f"state of {where}")
    layout = "contiguous" if p.is_contiguous() else ("dense" if _is_dense(p) else "strided")
    state_names = _core.RULES[opt.rule_class.rule]["state"]

    def change() -> _Slot:
        entry = opt.state.get(p)
        fresh = 0
        if not entry:
            entry = _new_state(opt, p, group, used)
            fresh = sum(1 << k for k, name in enumerate(state_names) if name in entry)
            if entry:  # torch keeps no entry for a parameter with nothing to keep (SGD without momentum)
                opt.state[p] = entry
        else:
            for k, name in enumerate(state_names):
                if used and used[k] and entry.get(name) is None:
                    entry[name] = _new_array(opt, p, name, group)
                    fresh |= 1 << k
        for name in state_names:  # state laid out unlike its parameter: copy it into the parameter's layout
            s = entry.get(name)
            if isinstance(s, torch.Tensor) and not _same_layout(s, p, layout):
                entry[name] = _new_array(opt, p, name, group).copy_(s)
        view = torch.view_as_real(p) if p.is_complex() else p
        slot = _Slot()
        slot.state, slot.param_ptr, slot.numel = entry, p.data_ptr(), p.numel()
        slot.float64, slot.complex, slot.layout = _REAL_DTYPES[p.dtype] == torch.float64, p.is_complex(), layout
        slot.shape, slot.strides = tuple(view.shape), tuple(view.stride())
        slot.states = tuple(entry[name].data_ptr() if isinstance(entry.get(name), torch.Tensor) else None
                            for name in state_names)
        step = entry.get(opt.step_key) if opt.step_key else None
        slot.step_ptr = None if step is None else step.data_ptr()
        slot.step_float64 = step is not None and step.dtype == torch.float64
        scalars = [entry[k] for k in opt.rule_class.scalar_state]
        slot.scalars = tuple(s.data_ptr() for s in scalars)
        slot.scalars_float64 = bool(scalars) and scalars[0].dtype == torch.float64
        slot.scalars_advance_float64 = bool(scalars) and _advance_dtype(opt, scalars[0]) == torch.float64
        slot.fresh = fresh
        return slot

    return change


def _advance_dtype(opt: PyoptimTorchOptimizer, scalar: torch.Tensor) -> torch.dtype:
    """The precision torch advances a rule's scalar state in: an accumulated value
    (NAdam's mu_product *= mu) in its tensor's dtype; one recomputed from the step
    count (ASGD's eta and mu) as a new tensor of the default dtype, then copied into
    the state's (float64 after a load_state_dict cast it to a float64 parameter's)."""
    return _scalar_dtype() if opt.rule_class.scalars_from_step else scalar.dtype


def _new_state(opt: PyoptimTorchOptimizer, p: torch.Tensor, group: dict, used) -> dict:
    """A parameter's state before its first step, in torch.optim's key order."""
    cls = opt.rule_class
    entry: dict = {}
    if opt.step_key:
        entry[opt.step_key] = torch.tensor(0.0, dtype=_scalar_dtype())
    if cls.scalar_state or used is None:
        options = KernelOptions(cls).values(group, 1, frozenset())
        for k, v in cls.initial_scalars(options).items():
            entry[k] = torch.tensor(float(v), dtype=_scalar_dtype(cls, k))
        if used is None:
            used = _core.states_used(cls.rule, options)
    for name, needed in zip(_core.RULES[cls.rule]["state"], used):
        if needed:
            entry[name] = _new_array(opt, p, name, group)
    return entry


def _new_array(opt: PyoptimTorchOptimizer, p: torch.Tensor, name: str, group: dict) -> torch.Tensor:
    value = opt.rule_class.initial_value(name, group)
    fill = complex(value, value) if p.is_complex() else value
    return torch.full_like(p, fill, memory_format=torch.preserve_format)


def _check_saved_state(opt: PyoptimTorchOptimizer, p: torch.Tensor, entry: dict, where: str) -> None:
    for k in (opt.step_key, *opt.rule_class.scalar_state):
        if k is None or k not in entry:
            continue
        v = entry[k]
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                raise ValueError(f"{where}[{k!r}]: expected a number, got a tensor of shape {tuple(v.shape)}")
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{where}[{k!r}]: expected a finite number, got {v!r}")
        if k == opt.step_key and (v < 0 or v != int(v)):
            raise ValueError(f"{where}[{k!r}]: expected a whole number >= 0, got {v!r}")
    for name in _core.RULES[opt.rule_class.rule]["state"]:
        s = entry.get(name)
        if s is None:
            continue
        shape = opt.rule_class.state_shape(name, tuple(p.shape))
        if shape is None:
            raise ValueError(f"{where}[{name!r}]: a parameter of shape {tuple(p.shape)} keeps no {name!r}")
        if not isinstance(s, torch.Tensor) or tuple(s.shape) != shape or s.dtype != p.dtype or s.device != p.device \
                or s.layout != torch.strided:
            raise ValueError(f"{where}[{name!r}]: expected a dense {p.dtype} tensor of shape {shape} on "
                             f"{p.device}, got {getattr(s, 'dtype', type(s).__name__)} "
                             f"{tuple(getattr(s, 'shape', ()))}")


def _is_dense(t: torch.Tensor) -> bool:
    """Non-overlapping and dense: some order of the dimensions is contiguous."""
    dims = sorted((st, n) for n, st in zip(t.shape, t.stride()) if n != 1)
    expected = 1
    for stride, n in dims:
        if stride != expected:
            return False
        expected *= n
    return True


def _same_layout(s: torch.Tensor, p: torch.Tensor, layout: str) -> bool:
    """Whether state `s` is laid out as the kernel streams param `p`."""
    if layout == "strided":
        return s.is_contiguous()
    return all(a == b for n, a, b in zip(p.shape, s.stride(), p.stride()) if n != 1)


def _span(t: torch.Tensor, what: str, written: bool = True) -> tuple:
    """(first byte, one past the last, written, what) of a tensor's elements."""
    start = t.data_ptr()
    if t.numel() == 0:
        return (start, start, written, what)
    last = sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    return (start, start + (last + 1) * t.element_size(), written, what)


def _plain_group(group: dict) -> dict:
    return {k: _plain(v) for k, v in group.items() if k not in ("params", "param_names")}


# ---- the rules: one class per pyoptim rule class, named after it ----------------

def _torch_layout(twin: type) -> tuple[dict, str | None, bool]:
    """What torch's own optimizer keeps: its groups' implementation keys with their
    defaults, the name of its step count in a parameter's state (None: it keeps none),
    and whether it creates state at construction. Read off torch itself, so that
    the layout follows the installed version."""
    p = torch.zeros(1, 1, requires_grad=True)  # a matrix: Muon takes nothing else
    probe = twin([p])
    eager = bool(probe.state)
    p.grad = torch.zeros(1, 1).to_sparse() if twin is torch.optim.SparseAdam else torch.zeros(1, 1)
    probe.step(lambda: 0.0)  # a closure: LBFGS takes nothing else
    return probe.defaults, ("step" if "step" in probe.state.get(p, {}) else None), eager


class _TrainEvalModes:
    """train() and eval() of a rule whose parameters move between a training and an
    evaluation point (the rule's mode_state and mode_weight; Schedule-Free)."""

    param_groups: list
    state: Any
    rule_class: ClassVar[type[_PyoptimOptimizer]]

    def train(self) -> None:
        """Put the parameters at their training point (before training)."""
        self._switch(to_train=True)

    def eval(self) -> None:
        """Put the parameters at their evaluation point (before evaluating or saving)."""
        self._switch(to_train=False)

    @torch.no_grad()
    def _switch(self, to_train: bool) -> None:
        cls, name = self.rule_class, self.rule_class.mode_state
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            weight = cls.mode_weight(_plain_group(group), to_train)
            for p in group["params"]:
                entry = self.state.get(p)
                if entry and name in entry:  # a parameter that has not stepped is at both points
                    p.lerp_(entry[name], weight)
            group["train_mode"] = to_train


class _RowSparseSteps:
    """The step of a rule with row-sparse gradients (SparseAdam): each parameter's
    sparse COO gradient, coalesced, gives the rows the kernel reads and writes
    (the bindings' step_rows); as torch, each parameter counts its own steps (a
    Python int) and a dense gradient is refused."""

    param_groups: list
    state: Any
    rule_class: ClassVar[type[_PyoptimOptimizer]]
    _check_group: Callable

    @torch.no_grad()
    def _step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        cls = self.rule_class
        work = []
        for gi, group in enumerate(self.param_groups):  # everything checked before anything changes
            plain = self._check_group(group, f"param_groups[{gi}]")
            options = KernelOptions(cls)
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                where = f"param_groups[{gi}]['params'][{pi}]"
                if not p.grad.is_sparse:
                    raise RuntimeError(f"{where}: {type(self).__name__} does not support dense gradients, "
                                       f"please consider Adam instead")
                _check_real_cpu(p, where)
                work.append((p, plain, options, _touched_rows(p, p.grad)))
        for p, plain, options, (rows, values, view) in work:
            state = self.state[p]
            if not state:
                state["step"] = 0
                for name in _core.RULES[cls.rule]["state"]:
                    state[name] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            state["step"] += 1
            step = int(state["step"])  # a float in state_dicts torch once saved
            tensors = [(p.detach().view(view).numpy(), rows, values)
                       + tuple(state[name].view(view).numpy() for name in _core.RULES[cls.rule]["state"])]
            _core.step_rows(cls.rule, options.values(plain, step, frozenset()), step, tensors)
        return loss


class _ArraySteps:
    """The step of a rule that TorchPlan cannot take: state not shaped like its
    parameters (Adafactor's row and column factors), or a step that is not one kernel
    call (Muon's passes around matrix products). Each step, the rule class's
    step_many per group and step count (torch counts steps per parameter) over NumPy
    views of the parameters with a gradient, their gradients and their state, with
    the gradient policy over all of them."""

    param_groups: list
    state: Any
    rule_class: ClassVar[type[_PyoptimOptimizer]]
    step_key: ClassVar[str | None]
    _check_group: Callable
    _policy: GradientPolicy

    @torch.no_grad()
    def _step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        cls = self.rule_class
        names = _core.RULES[cls.rule]["state"]
        work: dict = {}  # (group, step) -> [(p, grad)], everything checked before anything changes
        plains = []
        for gi, group in enumerate(self.param_groups):
            plains.append(self._check_group(group, f"param_groups[{gi}]"))
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                where = f"param_groups[{gi}]['params'][{pi}]"
                g = p.grad
                if p.is_complex() or g.is_sparse:
                    raise RuntimeError(f"{where}: {type(self).__name__} does not support "
                                       f"{'complex parameters' if p.is_complex() else 'sparse gradients'}")
                _check_real_cpu(p, where)
                if g.dtype != p.dtype or g.shape != p.shape:
                    raise ValueError(f"{where}.grad: expected {p.dtype} of shape {tuple(p.shape)}, got "
                                     f"{g.dtype} {tuple(g.shape)}")
                done = self.state[p].get(self.step_key) if self.state.get(p) and self.step_key else None
                step = 1 + int(done.item() if isinstance(done, torch.Tensor) else done or 0)
                work.setdefault((gi, step), []).append((p, g.contiguous()))
        for items in work.values():
            for p, _ in items:
                state = self.state[p]
                if not state:
                    if self.step_key:
                        state[self.step_key] = torch.tensor(0.0, dtype=_scalar_dtype())
                    for name in names:
                        shape = cls.state_shape(name, tuple(p.shape))
                        if shape is not None:
                            state[name] = torch.zeros(shape, dtype=p.dtype)
        arrays = {key: [(p.detach().numpy(), g.numpy()) + tuple(
                      self.state[p][n].numpy() if n in self.state[p] else None for n in names)
                      for p, g in items] for key, items in work.items()}
        policy = self._policy
        scale: float | None = policy.weight
        if policy.needs_norm:
            scale = policy.grad_scale(_core.StepPlan(cls.rule, tensors).gradient_squares()
                                      for tensors in arrays.values())
            if scale is None:
                return loss
        for (gi, step), tensors in arrays.items():
            options = KernelOptions(cls).values(plains[gi], step, frozenset())
            cls.step_many(plains[gi], options, step, tensors, scale if policy.clips else 1.0, policy.clip_value)
            for p, _ in work[(gi, step)]:
                if self.step_key:
                    self.state[p][self.step_key] += 1
                torch._C._increment_version(p)  # written through NumPy: autograd must see the change
        return loss


class _ClosureSteps:
    """The step of a closure-driven rule (LBFGS): the rule's own iterations
    (pyoptim.optim.lbfgs.lbfgs_iterations) over NumPy views of the parameters (complex
    ones as their real view, as torch), the closure called with gradients enabled, the
    history kept in torch's layout in the first parameter's state (vectors as tensors
    sharing the arrays' memory, scalars as numbers)."""

    param_groups: list
    state: Any
    rule_class: ClassVar[type[_PyoptimOptimizer]]
    _check_group: Callable

    @torch.no_grad()
    def _step(self, closure=None):
        from .optim.lbfgs import FlatView, lbfgs_iterations

        if closure is None:
            raise TypeError(f"closure: {type(self).__name__} needs a closure that recomputes the gradients "
                            f"and returns the loss")
        if len(self.param_groups) != 1:
            raise ValueError(f"param_groups: {type(self).__name__} takes one param group")
        group = self.param_groups[0]
        plain = self._check_group(group, "param_groups[0]")
        params = group["params"]
        for pi, p in enumerate(params):
            if p.dtype not in (torch.float32, torch.float64, torch.complex64, torch.complex128) or \
                    p.device.type != "cpu" or not p.is_contiguous() or p.dtype != params[0].dtype:
                raise ValueError(f"param_groups[0]['params'][{pi}]: expected contiguous CPU tensors of one float "
                                 f"dtype, got {p.dtype} on {p.device}")

        def real(t: torch.Tensor) -> np.ndarray:
            return (torch.view_as_real(t) if t.is_complex() else t).detach().numpy()

        def grads():
            out = []
            for p in params:
                g = p.grad
                if g is not None and g.is_sparse:
                    g = g.to_dense()
                out.append(None if g is None else real(g.contiguous()))
            return out

        def evaluate():
            with torch.enable_grad():
                return closure()

        state = self.state[params[0]]
        history = {k: _as_numpy(v) for k, v in state.items()}
        loss = lbfgs_iterations(FlatView([real(p) for p in params], grads), history, plain, evaluate)
        state.update({k: _as_torch(v) for k, v in history.items()})
        for p in params:
            torch._C._increment_version(p)  # written through NumPy: autograd must see the change
        return loss


def _as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.item() if value.dim() == 0 else value.numpy()
    if isinstance(value, list):
        return [_as_numpy(v) for v in value]
    return value


def _as_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, list):
        return [_as_torch(v) for v in value]
    return value


def _check_real_cpu(p: torch.Tensor, where: str) -> None:
    """What the NumPy-view steps take: a contiguous float32 or float64 CPU tensor."""
    if p.dtype not in (torch.float32, torch.float64) or not p.is_contiguous() or p.device.type != "cpu":
        raise ValueError(f"{where}: expected a contiguous float32 or float64 CPU tensor, got "
                         f"{p.dtype} on {p.device}" + ("" if p.is_contiguous() else " (not contiguous)"))


def _touched_rows(p: torch.Tensor, grad: torch.Tensor) -> tuple:
    """(rows, their gradient values, the 2-D view of p they index) from a sparse COO
    gradient, coalesced (repeats summed, as torch does), as NumPy arrays. With k
    sparse dimensions, p is seen as (prod(shape[:k]), prod(shape[k:])) and a row is
    the linear index of the first k (sorted, since coalesced indices are)."""
    g = grad.coalesce()
    if g.dtype != p.dtype or g.shape != p.shape:
        raise ValueError(f"grad: expected a sparse {p.dtype} gradient of shape {tuple(p.shape)}, got "
                         f"{g.dtype} {tuple(g.shape)}")
    k = g.sparse_dim()
    n_rows = math.prod(p.shape[:k])
    view = (n_rows, p.numel() // n_rows if n_rows else 0)
    indices = g._indices()
    linear = torch.zeros(indices.shape[1], dtype=torch.int64)
    for d in range(k):
        linear = linear * p.shape[d] + indices[d]
    return linear.numpy(), g._values().contiguous().reshape(len(linear), view[1]).numpy(), view


def _torch_class(rule_class: type[_PyoptimOptimizer]) -> type:
    name = rule_class.__name__
    twin = getattr(torch.optim, name, None)
    attributes: dict[str, Any] = {"rule_class": rule_class, "__module__": __name__, "__qualname__": name}
    if isinstance(twin, type) and issubclass(twin, torch.optim.Optimizer):
        defaults, attributes["step_key"], attributes["eager_state"] = _torch_layout(twin)
        attributes["twin"] = name
        attributes["_twin_defaults"] = defaults
        what = f"torch.optim.{name}"
    else:
        what = f"{name} (no torch.optim twin)"

    def __init__(self, params, **hyper):
        PyoptimTorchOptimizer.__init__(self, params, **hyper)

    attributes["__init__"] = __init__
    attributes["__doc__"] = f"{what} on pyoptim's kernels (CPU tensors, in place).\n\n{rule_class.__doc__ or ''}"
    bases: tuple = (PyoptimTorchOptimizer,)
    if rule_class.mode_state:
        bases = (_TrainEvalModes, *bases)
    if rule_class.row_sparse:
        bases = (_RowSparseSteps, *bases)
    if rule_class.closure_driven:
        bases = (_ClosureSteps, *bases)
    elif rule_class.steps_arrays_itself or any(shape != "param" for shape in _core.RULES[rule_class.rule]["state_shapes"]):
        bases = (_ArraySteps, *bases)
    return type(name, bases, attributes)


for _cls in sorted(_PyoptimOptimizer.registry.values(), key=lambda c: c.__name__):
    globals()[_cls.__name__] = _torch_class(_cls)
    __all__.append(_cls.__name__)
del _cls
