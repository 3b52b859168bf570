"""One step of every rule, float32, pyoptim vs NumPy vs torch.optim vs the memory roof."""

import pytest

from contenders import IMPLS, make_step, rules

SIZES = {"4K": 1 << 12, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24, "64M": 1 << 26}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("rule", rules())
def test_step(benchmark, rule, size, threads, impl):
    step = make_step(impl, rule, [SIZES[size]], threads)
    if step is None:
        pytest.skip(f"{impl} has no {rule}")
    benchmark.group = f"{rule} {size} {threads}t"
    benchmark.extra_info.update(kind="rule", rule=rule, size=SIZES[size], threads=threads, impl=impl)
    step()  # warm up: first-touch of state, thread pools
    benchmark(step)
