"""pyoptim's kernels as torch.optim optimizers, for CPU tensors.

``pyoptim.torch.Adam(model.parameters(), lr=1e-3)`` (and likewise every rule in
:data:`pyoptim.Optimizer.registry`) is a ``torch.optim.Optimizer`` whose
``step()`` hands zero-copy NumPy views of the parameters, gradients and state
tensors to pyoptim's kernels. Everything else is torch's own: param groups,
``zero_grad``, ``state_dict`` / ``load_state_dict``, LR schedulers, hooks,
``torch.nn.utils.clip_grad_norm_``. Hyperparameters, defaults and semantics are
those of the pyoptim class of the same name (torch.optim's, for the rules torch has).

Parameters whose ``grad`` is None are skipped, and keep their own step counts,
as in torch. Tensors must be dense, contiguous, float32 or float64, on the CPU.
torch is an optional dependency: importing this module requires it.
"""

from __future__ import annotations

import inspect

import torch

from . import _core
from .optim import Optimizer as _PyoptimOptimizer
from .optim.optimizer import StepContext

__all__ = []


class PyoptimTorchOptimizer(torch.optim.Optimizer):
    """Base class: a torch optimizer driven by a pyoptim rule (``rule_class``)."""

    rule_class: type[_PyoptimOptimizer] = _PyoptimOptimizer

    def __init__(self, params, **hyper):
        cls = self.rule_class
        defaults = {**cls.default_hyper(), **hyper}
        unknown = set(hyper) - set(cls.default_hyper())
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown arguments {sorted(unknown)}")
        cls.check_hyper(defaults)
        super().__init__(params, defaults)
        self._plans = {}  # batch -> (addresses of its tensors, _core.StepPlan over them)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self.rule_class.check_hyper(group)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        cls = self.rule_class
        state_names = _core.RULES[cls.rule]["state"]
        work = []
        for group in self.param_groups:  # check everything before changing anything
            cls.check_hyper(group)
            for p in group["params"]:
                if p.grad is not None:
                    _check_tensor(p, "param")
                    _check_tensor(p.grad, "grad")
                    work.append((group, p))
        batches = {}
        for group, p in work:
            state = self.state[p]
            if "step" not in state:
                state["step"] = 0
                state.update(cls.initial_scalars(group))
            fresh = []
            probe = StepContext(state["step"] + 1, frozenset(state_names), _scalars(cls, state))
            used = _core.states_used(cls.rule, cls.kernel_option_values(group, probe))
            for name, needed in zip(state_names, used):
                if needed and name not in state:
                    initial = cls.initial_state(name, p.detach().numpy(), group)
                    state[name] = torch.from_numpy(initial)
                    fresh.append(name)
            key = (id(group), state["step"], tuple(sorted(fresh)), tuple(_scalars(cls, state).items()))
            batches.setdefault(key, []).append(p)
        for (_, step, fresh, scalar_items), params in batches.items():
            group = next(g for g, p in work if p is params[0])
            scalars = cls.advance_scalars(group, dict(scalar_items), step + 1)
            options = cls.kernel_option_values(group, StepContext(step + 1, frozenset(fresh), scalars))
            plan = self._plan((id(group), fresh, len(params)), cls.rule, params, state_names)
            plan.step(options, step + 1)
            for p in params:
                self.state[p]["step"] = step + 1
                self.state[p].update(scalars)
        return loss

    def _plan(self, batch, rule, params, state_names):
        """The plan over these tensors, rebuilt only when one of them has moved
        (a new gradient tensor after ``zero_grad(set_to_none=True)``, a loaded state)."""
        tensors = [(p, p.grad) + tuple(self.state[p].get(n) for n in state_names) for p in params]
        addresses = tuple(None if t is None else t.data_ptr() for parts in tensors for t in parts)
        cached = self._plans.get(batch)
        if cached is not None and cached[0] == addresses:
            return cached[1]
        plan = _core.StepPlan(rule, [tuple(None if t is None else t.detach().numpy() for t in parts)
                                     for parts in tensors])
        self._plans[batch] = (addresses, plan)
        return plan


def _scalars(cls, state) -> dict:
    return {k: float(state[k]) for k in cls.scalar_state if k in state}


def _check_tensor(t: torch.Tensor, what: str) -> None:
    if t.device.type != "cpu":
        raise ValueError(f"{what}: pyoptim steps CPU tensors, got one on {t.device}")
    if t.is_sparse:
        raise TypeError(f"{what}: sparse tensors are not supported")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{what}: expected dtype float32 or float64, got {t.dtype}")
    if not t.is_contiguous():
        raise ValueError(f"{what}: expected a contiguous tensor")


def _torch_class(rule_class: type[_PyoptimOptimizer]) -> type:
    hyper = rule_class.default_hyper()

    def __init__(self, params, **kwargs):
        PyoptimTorchOptimizer.__init__(self, params, **kwargs)

    __init__.__signature__ = inspect.signature(rule_class.__init__)  # type: ignore[attr-defined, misc]
    doc = (f"torch.optim interface to pyoptim.{rule_class.__name__} (CPU tensors, zero-copy).\n\n"
           + (rule_class.__doc__ or ""))
    return type(rule_class.__name__, (PyoptimTorchOptimizer,),
                {"rule_class": rule_class, "__init__": __init__, "__doc__": doc, "__module__": __name__,
                 "_hyper_names": tuple(hyper)})


for _name, _cls in sorted(_PyoptimOptimizer.registry.items()):
    globals()[_name] = _torch_class(_cls)
    __all__.append(_name)
del _name, _cls
