"""One step of every rule, float32, pyoptim vs NumPy vs torch.optim; and pyoptim's
fraction of the memory roof, from alternating blocks of rule steps and roof
passes over the same arrays (so both see the same caches and the same noise)."""

import time

import numpy as np
import pytest

from contenders import IMPLS, make_step, roof_step, rules

ROOF_BLOCKS = 7  # alternating blocks per roof fraction
SIZES = {"4K": 1 << 12, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24, "64M": 1 << 26}


def paired_roof_fraction(step, roof, size):
    """Median over alternating blocks of (roof time / rule time)."""
    per_block = max(3, min(50, (1 << 22) // size))
    ratios, roof_times = [], []
    for _ in range(ROOF_BLOCKS):
        times = {}
        for name, fn in (("rule", step), ("roof", roof)):
            samples = []
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            times[name] = float(np.median(samples))
        ratios.append(times["roof"] / times["rule"])
        roof_times.append(times["roof"])
    return float(np.median(ratios)), float(np.median(roof_times))


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
    if impl == "pyoptim":
        fraction, roof_seconds = paired_roof_fraction(step, roof_step(step.__self__), SIZES[size])
        benchmark.extra_info.update(roof_fraction=fraction, roof_seconds=roof_seconds, roof_blocks=ROOF_BLOCKS)
    benchmark(step)
