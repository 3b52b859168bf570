"""Per-call overhead: a step of one 16-element parameter, and of a model of 200
tensors of 1K-16K elements (seeded sizes)."""

import numpy as np
import pytest

from contenders import make_step

MODEL_SIZES = [int(n) for n in np.random.default_rng(200).integers(1 << 10, 1 << 14, size=200)]


@pytest.mark.parametrize("impl", ["pyoptim", "torch", "torch_fused"])
@pytest.mark.parametrize("case", ["16 elements", "200 tensors"])
def test_overhead(benchmark, case, impl):
    sizes = [16] if case == "16 elements" else MODEL_SIZES
    step = make_step(impl, "Adam", sizes, threads=1)
    if step is None:
        pytest.skip(f"{impl} unavailable")
    benchmark.group = f"overhead {case}"
    benchmark.extra_info.update(kind="overhead", case=case, impl=impl, elements=sum(sizes), tensors=len(sizes))
    step()
    benchmark(step)
