"""An optimizer step allocates nothing that outlives it, and no array at all."""

import tracemalloc

import numpy as np
import pytest

import pyoptim
from rule_cases import CASES


@pytest.mark.parametrize("name", sorted(CASES))
def test_step_allocates_nothing(name):
    if pyoptim.Optimizer.registry[name].steps_arrays_itself:
        pytest.skip(f"{name}'s matrix products (NumPy's matmul) allocate their results")
    pairs = [(np.ones(n, np.float32), np.full(n, 0.1, np.float32)) for n in (16, 100_000, 5)]
    opt = pyoptim.Optimizer.registry[name](pairs, **CASES[name][-1])
    opt.set_gradient_policy(max_norm=1.0, clip_value=0.05)
    for _ in range(3):
        opt.step()  # first steps: option caches, fresh-state bookkeeping
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(200):
            opt.step()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start == 0, f"{end - start} bytes outlived 200 steps"
    # Only small transient Python objects (a tuple of hyperparameter values, the
    # step count); a NumPy temporary of even the smallest parameter would be 64 bytes
    # of data plus its header, the largest 400 KB.
    assert peak - start < 2048, f"{peak - start} bytes peak within a step"
