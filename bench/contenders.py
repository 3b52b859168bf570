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
    return sorted(pyoptim.Optimizer.registry)


def hyper(rule: str) -> dict:
    return dict(BENCH_HYPER.get(rule, {}))


def state_count(rule: str) -> int:
    """How many state arrays the rule reads and writes with the benchmark's hyperparameters."""
    cls = pyoptim.Optimizer.registry[rule]
    group = {**cls.default_hyper(), **hyper(rule)}
    cls.check_hyper(group)
    from pyoptim.optim.optimizer import StepContext
    return sum(_core.states_used(cls.rule, cls.kernel_option_values(group, StepContext(2, frozenset()))))


def bytes_per_element(rule: str, itemsize: int = 4) -> int:
    """Reads of param, grad and states plus writes of param and states."""
    k = state_count(rule)
    return itemsize * ((2 + k) + (1 + k))


def roof_step(optimizer):
    """One pass of the memory-roof kernel over `optimizer`'s own arrays (its params,
    grads and the state arrays its rule uses), leaving their values unchanged."""
    states = _core.RULES[optimizer.rule]["state"]
    tensors, used = [], 0
    for i, (param, grad) in enumerate(optimizer._pairs):
        arrays = [optimizer.state[i][name] for name in states if name in optimizer.state[i]]
        used = len(arrays)
        tensors.append((param, grad) + tuple(arrays) + (None,) * (4 - len(arrays)))
    plan = _core.StepPlan("memory_roof", tensors)
    return lambda: plan.step((float(used), 0.0), 1)


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
