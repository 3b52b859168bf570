"""The update kernels as plain functions, for embedding in other tools.

One function per optimizer class, named after it: ``sgd_step``, ``adam_step``,
``adamw_step``, ... Each updates ``param`` and the state arrays in place from
``grad``, with the class's hyperparameters and defaults as keyword arguments,
and ``step`` (counting from 1) for the rules that need it::

    pyoptim.kernels.adam_step(param, grad, exp_avg, exp_avg_sq, step=t, lr=1e-3)

State arrays come after ``grad`` in the order of ``state_names(rule)`` and
may be passed by name; an unused one may be omitted. A rule that treats its
first step specially (SGD's momentum buffer) does so when ``step == 1``.
A rule with per-step scalar state (NAdam's ``mu_product``, ASGD's ``eta`` and
``mu``) takes it as keyword arguments (default None: the values before a first
step, which the rule derives from the options) and returns the new values as a
dict; the others return None. Every argument is checked as
the optimizer classes check it.
"""

from __future__ import annotations

import inspect
import math

from . import _core
from .optim import Optimizer
from . import _checks
from .optim.optimizer import StepContext


def _functional(cls):
    rule = cls.rule
    state_names = _core.RULES[rule]["state"]
    defaults = cls.default_hyper()
    name = f"{cls.__name__.lower()}_step"

    def step_fn(param, grad, *states, step, **kwargs):
        if len(states) > len(state_names):
            raise TypeError(f"{name}: takes {len(state_names)} state arrays {state_names}, "
                            f"got {len(states)}")
        arrays = dict(zip(state_names, states))
        for key in list(kwargs):
            if key in state_names:
                if key in arrays:
                    raise TypeError(f"{name}: got {key!r} both by position and by name")
                arrays[key] = kwargs.pop(key)
        given_scalars = {k: kwargs.pop(k) for k in cls.scalar_state if k in kwargs}
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{name}: unknown arguments {sorted(unknown)}; expected state arrays "
                            f"{list(state_names)}, {list(cls.scalar_state) or ''} and {sorted(defaults)}")
        step = _checks.integer("step", step, min=1, type_error=False)
        group = {**defaults, **kwargs}
        cls.check_hyper(group)
        fresh = frozenset(state_names) if step == 1 else frozenset()
        options = cls.kernel_option_values(group, StepContext(int(step), fresh))
        scalars = cls.initial_scalars(options)
        for key, value in given_scalars.items():
            if value is None:
                continue
            scalars[key] = _checks.real(key, value)
            if not math.isfinite(scalars[key]):
                raise ValueError(f"{key}: expected a finite number, got {value!r}")
        if cls.steps_arrays_itself:  # a rule of several passes around Python (Muon's matrix products)
            cls.step_many(group, options, int(step), [(param, grad) + tuple(arrays.get(n) for n in state_names)])
            return None
        plan = _core.StepPlan(rule, [(param, grad) + tuple(arrays.get(n) for n in state_names)])
        plan.scalars = tuple(scalars.values())
        plan.step(options, int(step))
        return dict(zip(scalars, plan.scalars)) if cls.scalar_state else None

    params = [inspect.Parameter("param", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("grad", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(s, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
               for s in state_names]
    params.append(inspect.Parameter("step", inspect.Parameter.KEYWORD_ONLY))
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in cls.scalar_state]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items()]
    step_fn.__signature__ = inspect.Signature(params)
    step_fn.__name__ = step_fn.__qualname__ = name
    step_fn.__doc__ = (f"One in-place {cls.__name__} step of `param` (see pyoptim.{cls.__name__}).\n\n"
                       f"State arrays: {', '.join(state_names)}.")
    return step_fn


def state_names(rule: str) -> tuple:
    """The state arrays a kernel rule keeps per parameter, in order."""
    return _core.RULES[rule]["state"]


__all__ = ["state_names"]
for _cls in Optimizer.registry.values():
    _fn = _functional(_cls)
    globals()[_fn.__name__] = _fn
    __all__.append(_fn.__name__)
del _cls, _fn
