"""The memory-roof kernel the benchmarks compare each rule against: every
variant (states used, read-only parameter or last state) leaves the arrays as
they were, on every thread count."""

import itertools

import numpy as np
import pytest

import pyoptim
from pyoptim import _core


@pytest.mark.parametrize("states,param_read_only,last_read_only",
                         list(itertools.product(range(5), (False, True), (False, True))))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roof_leaves_every_array_unchanged(states, param_read_only, last_read_only, dtype):
    rng = np.random.default_rng(states)
    sizes = [1, 17, 300_001]
    tensors = [tuple(rng.standard_normal(n).astype(dtype) for _ in range(2 + states)) for n in sizes]
    before = [tuple(a.copy() for a in t) for t in tensors]
    plan = _core.StepPlan("memory_roof", [t + (None,) * (4 - states) for t in tensors])
    options = (float(states), 0.0, float(param_read_only), float(last_read_only))
    for threads in (1, 2):
        with pyoptim.num_threads(threads):
            plan.step(options, 1)
    for t, b in zip(tensors, before):
        for array, copy in zip(t, b):
            np.testing.assert_array_equal(array, copy)


def test_roof_adds_the_scaled_gradient_where_it_writes():
    param, grad, s0, s1 = (np.full(40, 1.0), np.full(40, 2.0), np.full(40, 3.0), np.full(40, 4.0))
    plan = _core.StepPlan("memory_roof", [(param, grad, s0, s1, None, None)])
    plan.step((2.0, 0.5, 0.0, 1.0), 1)  # s1 read only: g = 0.5 * 2 + 0.5 * 4
    np.testing.assert_array_equal(param, 4.0)
    np.testing.assert_array_equal(s0, 6.0)
    np.testing.assert_array_equal(s1, 4.0)
