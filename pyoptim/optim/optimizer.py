"""The optimizer base class: param groups, state, and one C++ call per step.

A subclass names its kernel rule and says three things about its
hyperparameters: how to check them, how to turn them into the kernel's
options, and (rarely) how to initialise a state array. Everything else --
registration, state allocation, stepping, state_dict -- is here, once.
"""

from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

from .. import _core
from ..memory import aligned_like
from .. import _checks
from .options import GradientPolicy, KernelOptions, StepContext

__all__ = ["Optimizer", "StepContext"]

_NOTHING_FRESH: frozenset = frozenset()

# Keys a param group may hold besides the hyperparameters.
_EXTRA_GROUP_KEYS = {"params", "initial_lr"}


@dataclass
class _GroupRun:
    """What the optimizer keeps per param group besides the group dict."""

    indices: list  # global indices of the group's parameters
    options: KernelOptions
    step: int = 0  # steps taken by this group
    plan: Any = None  # _core.StepPlan over the group's tensors
    fresh: frozenset = _NOTHING_FRESH  # state arrays not yet stepped
    ready: tuple = ()  # the options of a steady step (nothing fresh)
    # The plan's scalar state still waits for its values before a first step,
    # which the rule derives from the options that step uses (ASGD's eta = lr).
    scalars_due: bool = True

    def options_for(self, group: dict, step: int) -> tuple:
        return self.options.values(group, step, self.fresh)


class Optimizer:
    """Base class of pyoptim's optimizers (cf. torch.optim.Optimizer).

    ``params`` is an iterable of ``(param, grad)`` pairs of NumPy arrays, or of
    dicts ``{"params": [(param, grad), ...], <hyperparameter>: value, ...}``
    defining param groups. Arrays are updated in place; the gradients are read
    from the registered ``grad`` arrays, which the caller fills before each
    ``step()``.

    Deviations from torch.optim, on purpose: state arrays are allocated when
    a parameter is registered (so that ``step()`` never allocates) and every
    rule records ``step`` in its state; ``state_dict()`` returns copies.
    """

    rule: ClassVar[str]  # name of the kernel rule in pyoptim._core.RULES
    registry: ClassVar[dict] = {}  # every concrete optimizer class, by name
    # The kernel's scalar state, by name (NAdam's running product of momentum
    # coefficients, ASGD's eta and mu): advanced once per step, one set per group,
    # saved in each param's state as torch does. From the rule's header
    # (RULES[rule]["scalars"]).
    scalar_state: ClassVar[tuple] = ()
    # The scalar state is recomputed from the step count each step (ASGD), not
    # accumulated (NAdam): pyoptim.torch rounds it as torch does (see _advance_dtype).
    scalars_from_step: ClassVar[bool] = False
    # Checks of this rule's own hyperparameters, by name, replacing the shared
    # check of the same name (ASGD's alpha is an exponent, not a decay rate).
    hyper_checks: ClassVar[dict] = {}
    # Keys a rule keeps in each param group besides its hyperparameters, with the
    # value a new group starts from (Schedule-Free's train_mode); saved and loaded
    # with the groups, never passed to the kernel.
    group_state: ClassVar[dict] = {}
    # A rule whose parameters move between a training and an evaluation point
    # (Schedule-Free): the state array the move is towards; see mode_weight.
    mode_state: ClassVar[str | None] = None
    # pyoptim.torch keeps the scalar state in float64 (the rule's reference keeps
    # Python floats), not in torch's scalar dtype.
    scalars_in_float64: ClassVar[bool] = False
    # Its gradients may be row-sparse (SparseAdam): step(rows=...) in the NumPy
    # API, torch's sparse COO gradients in pyoptim.torch (the bindings' step_rows).
    row_sparse: ClassVar[bool] = False
    # Its step is not one kernel call (Muon: kernel passes around matrix products):
    # the class overrides step() and step_many().
    steps_arrays_itself: ClassVar[bool] = False
    # Its step needs a closure and runs several evaluations (LBFGS): step(closure)
    # is the class's own, and pyoptim.torch's class calls the same iterations.
    closure_driven: ClassVar[bool] = False
    _default_hyper: ClassVar[dict]  # cache of default_hyper(), per class

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "rule"):
            Optimizer.registry[cls.__name__] = cls
            cls.scalar_state = tuple(_core.RULES[cls.rule]["scalars"])

    # ---- what a rule says about itself -------------------------------------

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        """Raise TypeError/ValueError for a bad hyperparameter; may normalise values in place.

        Checks every hyperparameter in ``hyper_checks`` or ``_checks.SHARED`` by its
        name, ``betas``, and every one whose default is a bool; a rule extends this
        with its own constraints.
        """
        for name, default in cls.default_hyper().items():
            if name in cls.hyper_checks:
                cls.hyper_checks[name](group[name])
            elif name in _checks.SHARED:
                _checks.SHARED[name](group[name])
            elif name == "betas":
                _checks.betas(group)
            elif isinstance(default, bool):
                _checks.flag(name, group[name])

    @classmethod
    def _check_group_state(cls, group: dict, where: str) -> None:
        for name, initial in cls.group_state.items():
            if type(group[name]) is not type(initial):
                raise TypeError(f"{where}: {name}: expected a {type(initial).__name__}, got {group[name]!r}")

    @classmethod
    def mode_weight(cls, group: dict, to_train: bool) -> float:
        """For a rule with a mode_state: the weight of that state in the lerp that moves
        a parameter to its training point (``to_train``) or to its evaluation point."""
        raise NotImplementedError(f"{cls.__name__} has no training and evaluation points")

    @classmethod
    def kernel_options(cls, group: dict, context: StepContext) -> dict:
        """The kernel's options, by name, for a group about to take a step (default: the
        group itself; ``betas`` becomes ``beta1`` and ``beta2``)."""
        return group

    @classmethod
    def kernel_option_values(cls, group: dict, context: StepContext) -> tuple:
        """``kernel_options`` as the kernel takes them: floats in its order, betas split."""
        options = cls.kernel_options(group, context)
        if "betas" in options:
            options = {**options, "beta1": options["betas"][0], "beta2": options["betas"][1]}
        return tuple(float(options[name]) for name in _core.RULES[cls.rule]["options"])

    @classmethod
    def initial_scalars(cls, options: tuple) -> dict:
        """The scalar state before a first step taken with kernel `options`, by name
        (see scalar_state; the rule's header derives it)."""
        return dict(zip(cls.scalar_state, _core.initial_scalars(cls.rule, options)))

    @classmethod
    def initial_value(cls, name: str, group: dict) -> float:
        """The value every element of state array `name` starts from (default 0)."""
        return 0.0

    @classmethod
    def initial_state(cls, name: str, param: np.ndarray, group: dict) -> np.ndarray:
        """State array `name` before the first step; placed like `param` (pyoptim.memory)."""
        shape = cls.state_shape(name, param.shape)
        if shape is None:
            raise ValueError(f"{name}: a parameter of shape {param.shape} keeps no {name!r}")
        if shape != param.shape:
            return np.full(shape, cls.initial_value(name, group), dtype=param.dtype)
        return aligned_like(param, cls.initial_value(name, group))

    @classmethod
    def state_shape(cls, name: str, shape: tuple) -> tuple | None:
        """The shape of state array `name` for a parameter of `shape`, or None if such a
        parameter keeps none (the rule's header says: RULES[rule]["state_shapes"];
        Adafactor keeps a matrix's second moment as row and column factors)."""
        rule = _core.RULES[cls.rule]
        kind = rule["state_shapes"][rule["state"].index(name)]
        shape = tuple(shape)
        if kind == "param":
            return shape
        if (len(shape) >= 2) == (kind == "unless_matrix"):
            return None
        if kind == "rows":
            return shape[:-1] + (1,)
        if kind == "cols":
            return shape[:-2] + (1,) + shape[-1:]
        return shape

    @classmethod
    def check_param_shape(cls, shape: tuple, where: str) -> None:
        """Raise ValueError for a parameter shape the rule cannot step (Muon: not 2-D)."""

    @classmethod
    def update_is_elementwise(cls) -> bool:
        """Whether each element's update reads that element alone (and the step's scalars),
        so that any slice of a tensor, or of several concatenated, steps alone. Not so
        for per-tensor norms (LAMB, LARS), state not shaped like the parameter (Adafactor's
        factored moments, LBFGS's history) and whole matrices (Muon)."""
        info = _core.RULES[cls.rule]
        return (not info["reductions"] and bool(info["state_shapes"])
                and all(shape == "param" for shape in info["state_shapes"])
                and not cls.steps_arrays_itself and not cls.closure_driven)

    @classmethod
    def step_many(cls, group: dict, options: tuple, step: int, tensors: list, grad_scale: float = 1.0,
                  clip_value: float = math.inf) -> None:
        """One step of (param, grad, *states) arrays (states in RULES order, None where not
        kept) with a group's checked hyperparameters and kernel options: one kernel call
        here; a rule with steps_arrays_itself overrides it. pyoptim.kernels and
        pyoptim.torch (for rules that cannot take its TorchPlan) step through this."""
        _core.StepPlan(cls.rule, tensors).step(options, step, grad_scale, clip_value)

    @classmethod
    def default_hyper(cls) -> dict:
        """The hyperparameters and defaults, read from the constructor's signature."""
        if "_default_hyper" not in cls.__dict__:
            sig = inspect.signature(cls.__init__)
            cls._default_hyper = {
                name: p.default
                for name, p in sig.parameters.items()
                if name not in ("self", "params") and p.default is not inspect.Parameter.empty
            }
        return dict(cls._default_hyper)

    # ---- construction ------------------------------------------------------

    def __init__(self, params: Iterable, defaults: dict):
        defaults = dict(defaults)
        self.check_hyper(defaults)
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        self._pairs: list = []  # every registered (param, grad), in global order
        self._runs: list[_GroupRun] = []
        rule = _core.RULES[self.rule]
        self._key = operator.itemgetter(*self.defaults)  # group -> its hyperparameter values
        self._state_names = rule["state"]
        self._policy = GradientPolicy()
        # The groups' hyperparameter values when every group can take the steady
        # step (run.ready), else None: the next step goes through _step_general.
        self._steady_keys: list | None = None

        groups = _as_groups(params)
        for group in groups:
            self.add_param_group(group)

    def set_gradient_policy(self, *, max_norm: float | None = None, clip_value: float | None = None,
                            skip_nonfinite: bool = False) -> None:
        """What every later ``step()`` does to the gradients, inside the update pass.

        ``max_norm``: scale all gradients by ``min(1, max_norm / (norm + 1e-6))``,
        ``norm`` being the L2 norm over every registered gradient (as
        ``torch.nn.utils.clip_grad_norm_``), computed by a reduction whose bits do
        not depend on the thread count. ``clip_value``: then clamp each element to
        ``[-clip_value, clip_value]`` (``clip_grad_value_``). ``skip_nonfinite``: if
        any gradient element is NaN or Inf, skip the whole step (parameters, state
        and step counts untouched) and count it in ``skipped_steps``. Without it, a
        non-finite gradient is applied unclipped and propagates element-wise.
        The gradient arrays themselves are never modified.
        """
        self._policy.set(max_norm=max_norm, clip_value=clip_value, skip_nonfinite=skip_nonfinite)

    @property
    def skipped_steps(self) -> int:
        """Steps skipped for a non-finite gradient (see set_gradient_policy)."""
        return self._policy.skipped_steps

    @property
    def last_grad_norm(self) -> float | None:
        """The global gradient norm of the last step, when the policy computed it."""
        return self._policy.last_grad_norm

    def add_param_group(self, param_group: dict) -> None:
        """Register a group of (param, grad) pairs with its own hyperparameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group: missing the key 'params'")
        unknown = set(param_group) - set(self.defaults) - _EXTRA_GROUP_KEYS - set(self.group_state)
        if unknown:
            raise ValueError(
                f"param_group: unknown hyperparameters {sorted(unknown)}; "
                f"{type(self).__name__} takes {sorted(self.defaults)}"
            )
        group = {**self.defaults, **self.group_state, **param_group}
        group["params"] = _as_pairs(param_group["params"], f"param_groups[{len(self.param_groups)}]['params']")
        self.check_hyper(group)
        self._check_group_state(group, "param_group")

        # Every registered array, old and new, must be distinct memory.
        everything = self._pairs + group["params"]
        _core.StepPlan(self.rule, [(p, g) + (None,) * len(self._state_names) for p, g in everything])

        first = len(self._pairs)
        run = _GroupRun(indices=list(range(first, first + len(group["params"]))),
                        options=KernelOptions(type(self)))
        run.options.refresh(self._key(group))
        states: dict[int, dict] = {i: {} for i in run.indices}
        used = _core.states_used(self.rule, run.options_for(group, 1))
        in_order = [name for name, use in zip(self._state_names, used) if use]  # kernel order, in every process
        needed = frozenset(in_order)
        for i, (param, _) in zip(run.indices, group["params"]):
            for name in in_order:
                if self.state_shape(name, param.shape) is not None:
                    states[i][name] = self.initial_state(name, param, group)
        run.fresh = needed
        run.plan = self._plan(group["params"], run.indices, states)

        self.param_groups.append(group)
        self._pairs += group["params"]
        self._runs.append(run)
        self._steady_keys = None
        self.state.update(states)

    # ---- stepping ----------------------------------------------------------

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every registered parameter from its gradient, in one C++ call per group.

        ``closure``, if given, is called first (it recomputes the gradients and
        returns the loss, which ``step`` returns).
        """
        loss = closure() if closure is not None else None
        steady = self._steady_keys
        if steady is not None and not self._policy.active and list(map(self._key, self.param_groups)) == steady:
            runs = self._runs
            if len(runs) > 1:
                for run in runs:  # every group's arrays are in place before any group steps
                    run.plan.check()
            for run in runs:
                step = run.step + 1
                run.plan.step(run.ready, step)
                run.step = step
            return loss
        self._step_general()
        return loss

    def _step_general(self) -> None:
        """A step that follows whatever changed: hyperparameters, fresh state, scalar
        state, a gradient policy. Leaves the steady fast path ready when it can."""
        runs, policy = self._runs, self._policy
        changed, scale = self._checked_step_start()
        if scale is None:
            return
        clipping = policy.clips
        for group, run, is_changed in zip(self.param_groups, runs, changed):
            if is_changed:
                self._refresh(group, run)
            step = run.step + 1
            options = run.options_for(group, step)
            if run.scalars_due:
                run.plan.scalars = _core.initial_scalars(self.rule, options)
            if clipping:
                run.plan.step(options, step, scale, policy.clip_value)
            else:
                run.plan.step(options, step)
            run.step, run.fresh, run.scalars_due = step, _NOTHING_FRESH, False
        if self._steady_keys is None or any(changed):
            for group, run in zip(self.param_groups, runs):
                run.ready = run.options_for(group, run.step + 1)
            self._steady_keys = [run.options.key for run in runs]

    def _checked_step_start(self) -> tuple:
        """What every general step does first: check the groups whose hyperparameters
        changed (all before anything changes) and that no array moved, then the gradient
        policy's scale. Returns (changed per group, scale; None to skip the step)."""
        changed = [run.options.stale(self._key(group)) for group, run in zip(self.param_groups, self._runs)]
        for group, is_changed in zip(self.param_groups, changed):
            if is_changed:
                self.check_hyper(group)
        for run in self._runs:
            run.plan.check()
        scale: float | None = self._policy.weight
        if self._policy.needs_norm:
            scale = self._policy.grad_scale(run.plan.gradient_squares() for run in self._runs)
        return changed, scale

    def zero_grad(self) -> None:
        """Set every registered gradient to zero (all or none: a read-only one is refused first)."""
        for k, (_, grad) in enumerate(self._pairs):
            if not grad.flags.writeable:
                raise ValueError(f"zero_grad: grad [{k}] is read-only; nothing was zeroed")
        for _, grad in self._pairs:
            grad.fill(0)

    # ---- saving and loading ------------------------------------------------

    def state_dict(self) -> dict:
        """A snapshot of the state and hyperparameters, in torch.optim's layout.

        ``{"state": {index: {"step": int, <array name>: ndarray copy, ...}},
        "param_groups": [{..hyperparameters.., "params": [index, ...]}]}``.
        """
        state = {}
        for group, run in zip(self.param_groups, self._runs):
            for i in run.indices:
                entry = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.state[i].items()}
                entry["step"] = run.step
                entry.update(zip(self.scalar_state, self._scalars_of(group, run)))
                state[i] = entry
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": list(r.indices)}
                  for g, r in zip(self.param_groups, self._runs)]
        return {"state": state, "param_groups": groups, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state_dict(); checks everything before changing anything.

        Every parameter's entry must be there, with a whole step count >= 0 (the same
        for a group's parameters), finite scalar state, and every state array its
        group's saved hyperparameters use, of the parameter's shape and dtype. State
        arrays the entry does not hold are reset to their initial values."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError("state_dict: expected a dict with keys 'state' and 'param_groups'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise TypeError("state_dict: expected 'param_groups' to be a list and 'state' a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state_dict: has {len(saved_groups)} param groups, "
                             f"the optimizer has {len(self.param_groups)}")
        new_groups, new_steps, new_scalars, new_arrays = [], [], [], {}
        listed: set = set()
        for gi, (saved, group, run) in enumerate(zip(saved_groups, self.param_groups, self._runs)):
            if not isinstance(saved, dict):
                raise TypeError(f"state_dict: param_groups[{gi}] must be a dict, got {type(saved).__name__}")
            ids = list(saved.get("params", ()))
            if len(ids) != len(run.indices):
                raise ValueError(f"state_dict: param_groups[{gi}] has {len(ids)} params, "
                                 f"the optimizer's has {len(run.indices)}")
            hyper = {k: v for k, v in saved.items() if k != "params"}
            if not set(self.defaults) <= set(hyper) or \
                    set(hyper) - set(self.defaults) - _EXTRA_GROUP_KEYS - set(self.group_state):
                raise ValueError(f"state_dict: param_groups[{gi}] has hyperparameters {sorted(hyper)}, "
                                 f"expected {sorted(self.defaults)}")
            candidate = {**self.group_state, **hyper, "params": group["params"]}
            self.check_hyper(candidate)
            self._check_group_state(candidate, f"state_dict: param_groups[{gi}]")
            used = _core.states_used(self.rule, self.kernel_option_values(candidate, StepContext(1, frozenset())))
            needed = {name for name, use in zip(self._state_names, used) if use}
            known = {"step", *self.scalar_state, *self._state_names}
            steps, scalars = set(), set()
            for saved_id, i in zip(ids, run.indices):
                where = f"state_dict: state[{saved_id!r}]"
                if saved_id not in saved_state:
                    raise ValueError(f"{where}: missing (the state has entries for {sorted(map(repr, saved_state))})")
                listed.add(saved_id)
                entry = saved_state[saved_id]
                if not isinstance(entry, dict):
                    raise TypeError(f"{where}: expected a dict, got {type(entry).__name__}")
                unknown = set(entry) - known
                if unknown:
                    raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}; expected {sorted(known)}")
                steps.add(_checks.integer(f"{where}['step']", entry.get("step"), min=0))
                values = []
                for k in self.scalar_state:
                    if k not in entry:
                        raise ValueError(f"{where}: lacks {k!r}")
                    x = _checks.real(f"{where}[{k!r}]", entry[k])
                    if not math.isfinite(x):
                        raise ValueError(f"{where}[{k!r}]: expected a finite number, got {entry[k]!r}")
                    values.append(x)
                scalars.add(tuple(values))
                param = self._pairs[i][0]
                for name in self._state_names:
                    shape = self.state_shape(name, param.shape)
                    if name not in entry:
                        if name in needed and shape is not None:
                            raise ValueError(f"{where}: lacks the state array {name!r} its hyperparameters use")
                        continue
                    a = entry[name]
                    if shape is None:
                        raise ValueError(f"{where}[{name!r}]: a parameter of shape {param.shape} keeps no {name!r}")
                    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != param.dtype:
                        raise ValueError(
                            f"{where}[{name!r}] must be an ndarray of shape "
                            f"{shape} and dtype {param.dtype}, got "
                            f"{getattr(a, 'shape', type(a).__name__)} {getattr(a, 'dtype', '')}")
                    new_arrays[(i, name)] = a
            if len(steps) > 1:
                raise ValueError(f"state_dict: param_groups[{gi}]'s params have different step counts "
                                 f"{sorted(steps)}; pyoptim steps a group together")
            if len(scalars) > 1:
                raise ValueError(f"state_dict: param_groups[{gi}]'s params have different {self.scalar_state}")
            new_groups.append(candidate)
            new_steps.append(steps.pop() if steps else 0)
            new_scalars.append(scalars.pop() if scalars else None)
        extra = set(saved_state) - listed
        if extra:
            raise ValueError(f"state_dict: state has entries for no listed param: {sorted(map(repr, extra))}")
        skipped = _checks.integer("state_dict: skipped_steps", state_dict.get("skipped_steps", 0), min=0)

        # Checked: now change things.
        self._policy.skipped_steps = skipped
        for gi, (group, run) in enumerate(zip(self.param_groups, self._runs)):
            group.update(new_groups[gi])
            run.step = new_steps[gi]
            for i in run.indices:
                param = self._pairs[i][0]
                for name in self._state_names:
                    if (i, name) in new_arrays:
                        if name not in self.state[i]:
                            self.state[i][name] = self.initial_state(name, param, group)
                        np.copyto(self.state[i][name], new_arrays[(i, name)])
                    elif name in self.state[i]:  # not in the saved state: starts over
                        self.state[i][name].fill(self.initial_value(name, group))
            run.fresh = frozenset(name for name in self._state_names
                                  if any(name in self.state[i] and (i, name) not in new_arrays for i in run.indices))
            run.plan = self._plan(group["params"], run.indices, self.state)
            run.scalars_due = new_scalars[gi] is None
            if not run.scalars_due:
                run.plan.scalars = new_scalars[gi]
            run.options.invalidate()
        self._steady_keys = None

    # ---- internals ---------------------------------------------------------

    def _scalars_of(self, group: dict, run: _GroupRun) -> tuple:
        """The group's scalar state (before a first step: what that step would start from)."""
        if run.scalars_due:
            return _core.initial_scalars(self.rule, run.options_for(group, run.step + 1))
        return run.plan.scalars

    def _plan(self, pairs, indices, states):
        return _core.StepPlan(self.rule, [
            (param, grad) + tuple(states[i].get(name) for name in self._state_names)
            for (param, grad), i in zip(pairs, indices)
        ])

    def _refresh(self, group: dict, run: _GroupRun) -> None:
        """Follow a change of hyperparameters: rebuild options, allocate newly needed state."""
        run.options.refresh(self._key(group))
        used = _core.states_used(self.rule, run.options_for(group, run.step + 1))
        lacking = [(i, param, name) for i, (param, _) in zip(run.indices, group["params"])
                   for name, needed in zip(self._state_names, used)
                   if needed and name not in self.state[i] and self.state_shape(name, param.shape) is not None]
        missing = sorted({name for _, _, name in lacking}, key=self._state_names.index)
        if missing:
            for i, param, name in lacking:
                self.state[i][name] = self.initial_state(name, param, group)
            run.fresh = run.fresh | frozenset(missing)
            scalars = run.plan.scalars
            run.plan = self._plan(group["params"], run.indices, self.state)
            run.plan.scalars = scalars

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines) + "\n)"


def _is_array_pair(x) -> bool:
    return isinstance(x, tuple) and len(x) == 2 and all(isinstance(a, np.ndarray) for a in x)


def _as_pairs(params, where: str) -> list:
    if _is_array_pair(params):
        return [params]
    if isinstance(params, np.ndarray) or not isinstance(params, Iterable):
        raise TypeError(f"{where}: expected (param, grad) pairs of numpy arrays, got {type(params).__name__}")
    pairs = list(params)
    for k, pair in enumerate(pairs):
        if isinstance(pair, list) and len(pair) == 2:
            pair = tuple(pair)
        if not _is_array_pair(pair):
            raise TypeError(f"{where}[{k}]: expected a (param, grad) pair of numpy arrays, "
                            f"got {type(pair).__name__}")
        pairs[k] = pair
    return pairs


def _as_groups(params) -> list:
    if _is_array_pair(params):
        return [{"params": [params]}]
    if isinstance(params, (dict, np.ndarray)) or not isinstance(params, Iterable):
        raise TypeError("params: expected an iterable of (param, grad) pairs or of param-group dicts, "
                        f"got {type(params).__name__}")
    items = list(params)
    if not items:
        raise ValueError("params: the optimizer got an empty parameter list")
    if all(isinstance(x, dict) for x in items):
        return items
    if any(isinstance(x, dict) for x in items):
        raise TypeError("params: mixes param-group dicts with (param, grad) pairs")
    return [{"params": _as_pairs(items, "params")}]
