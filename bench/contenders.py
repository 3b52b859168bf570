"""The implementations the benchmarks race: pyoptim, its NumPy reference,
torch.optim (for-loop and fused), and each rule's memory roof."""

from __future__ import annotations

import numpy as np

import pyoptim
from pyoptim import _core, kernels, reference

try:
    import torch
except ImportError:  # torch is optional
    torch = None

# Hyperparameters the speed benchmarks use: defaults, plus momentum for SGD.
BENCH_HYPER = {"SGD": {"momentum": 0.9}}
# pyoptim's rules with a torch.optim twin, as pyoptim.torch finds them.
if torch is not None:
    import pyoptim.torch as _pt
    TORCH_TWIN = {name: getattr(_pt, name).twin for name in pyoptim.Optimizer.registry if getattr(_pt, name).twin}
else:
    TORCH_TWIN = {}
IMPLS = ("pyoptim", "numpy", "torch", "torch_fused")


def rules():
    """The element-wise rules: one kernel call per step, state shaped like the parameters.
    Adafactor, Muon and LBFGS step otherwise; bench/matrix_rules.py times them."""
    return sorted(name for name, cls in pyoptim.Optimizer.registry.items()
                  if not (cls.closure_driven or cls.steps_arrays_itself)
                  and all(shape == "param" for shape in _core.RULES[cls.rule]["state_shapes"]))


def hyper(rule: str) -> dict:
    return dict(BENCH_HYPER.get(rule, {}))


def used_states(rule: str) -> list:
    """The state arrays the rule reads and writes with the benchmark's hyperparameters."""
    cls = pyoptim.Optimizer.registry[rule]
    group = {**cls.default_hyper(), **hyper(rule)}
    cls.check_hyper(group)
    from pyoptim.optim.optimizer import StepContext
    used = _core.states_used(cls.rule, cls.kernel_option_values(group, StepContext(2, frozenset())))
    return [name for name, u in zip(_core.RULES[cls.rule]["state"], used) if u]


# The passes of the rules with per-tensor reductions, as their kernels make them
# (csrc/include/pyoptim/rules/<rule>.hpp): each pass as the roof kernel's arrays, the
# first state or the parameter read only where the pass does not write it. A rule
# with reductions must be listed here, or its roof would count one pass.
ROOF_PASSES = {
    # pass 1 reads p, g, m, v and writes m, v; pass 2 reads p, m, v and writes p
    "lamb": [dict(param_read_only=True, grad="grad", states=("exp_avg", "exp_avg_sq")),
             dict(grad="exp_avg", states=("exp_avg_sq",), last_state_read_only=True)],
    # pass 1 reads p, g; pass 2 reads p, g, buf and writes p, buf
    "lars": [dict(param_read_only=True, grad="grad", states=()),
             dict(grad="grad", states=("momentum_buffer",))],
}


def roof_passes(rule: str) -> list:
    """The roof kernel's passes for one step of `rule` (with the benchmark's
    hyperparameters): one over every array it uses, or the rule's own two."""
    used = used_states(rule)
    kernel_rule = pyoptim.Optimizer.registry[rule].rule
    if not _core.RULES[kernel_rule]["reductions"]:
        return [dict(grad="grad", states=tuple(used))]
    if kernel_rule not in ROOF_PASSES:
        raise ValueError(f"{rule}: a rule with reductions needs its passes in bench/contenders.py ROOF_PASSES")
    return [{**p, "states": tuple(name for name in p["states"] if name in used)} for p in ROOF_PASSES[kernel_rule]]


def bytes_per_element(rule: str, itemsize: int = 4) -> int:
    """Reads and writes of one step, over all its passes."""
    total = 0
    for p in roof_passes(rule):
        k = len(p["states"])
        read_only = int(p.get("param_read_only", False)) + int(k > 0 and p.get("last_state_read_only", False))
        total += (2 + k) + (1 + k - read_only)
    return itemsize * total


def roof_step(optimizer):
    """The memory-roof kernel over `optimizer`'s own arrays, pass for pass as the
    rule makes them (roof_passes), leaving their values unchanged."""
    rule = type(optimizer).__name__
    plans = []
    for p in roof_passes(rule):
        tensors = []
        for i, (param, grad) in enumerate(optimizer._pairs):
            arrays = {"grad": grad, **optimizer.state[i]}
            states = tuple(arrays[name] for name in p["states"])
            tensors.append((param, arrays[p["grad"]]) + states + (None,) * (4 - len(states)))
        options = (float(len(p["states"])), 0.0, float(p.get("param_read_only", False)),
                   float(p.get("last_state_read_only", False)))
        plans.append((_core.StepPlan("memory_roof", tensors), options))

    def roof():
        for plan, options in plans:
            plan.step(options, 1)
    return roof


def aligned_copy(array: np.ndarray, offset: int = 0) -> np.ndarray:
    copy = pyoptim.empty_aligned(array.shape, array.dtype, offset=offset)
    copy[...] = array
    return copy


def make_step(impl: str, rule: str, sizes: list, threads: int, seed: int = 0):
    """A zero-argument function performing one step of `rule` over float32 tensors
    of the given sizes, or None where the contender lacks the rule."""
    rng = np.random.default_rng(seed)
    # On 64-byte boundaries, where torch's allocator puts its tensors too.
    params = [aligned_copy(rng.standard_normal(n, dtype=np.float32)) for n in sizes]
    grads = [aligned_copy(rng.standard_normal(n, dtype=np.float32) * np.float32(0.01)) for n in sizes]
    cls, h = pyoptim.Optimizer.registry[rule], hyper(rule)
    if impl == "pyoptim":
        pyoptim.set_num_threads(threads)
        return pyoptim.Optimizer.registry[rule](list(zip(params, grads)), **h).step
    if impl == "numpy":
        fn = getattr(reference, f"{rule.lower()}_step")
        group = {**cls.default_hyper(), **h}
        states = [[cls.initial_state(s, p, group) for s in kernels.state_names(cls.rule)] for p in params]
        counter = {"t": 0, "scalars": [{} for _ in params]}

        def numpy_step():
            counter["t"] += 1
            for i, (p, g, s) in enumerate(zip(params, grads, states)):
                counter["scalars"][i] = fn(p, g, *s, step=counter["t"], **h, **counter["scalars"][i]) or {}
        return numpy_step
    if impl in ("torch", "torch_fused"):
        if torch is None or rule not in TORCH_TWIN:
            return None
        torch.set_num_threads(threads)
        tparams = [torch.from_numpy(p) for p in params]
        for p, g in zip(tparams, grads):
            p.grad = torch.from_numpy(g)
        extra = {"fused": True} if impl == "torch_fused" else {"foreach": False}
        try:
            opt = getattr(torch.optim, TORCH_TWIN[rule])(tparams, **h, **extra)
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            return None  # no fused CPU kernel for this rule
        return opt.step
    raise ValueError(f"impl: unknown contender {impl!r}")
