"""One step of every rule, float32, pyoptim vs NumPy vs torch.optim; and pyoptim's
fraction of the memory roof, from alternating blocks of rule steps and roof
passes over the same arrays (so both see the same caches and the same noise)."""

import numpy as np
import pytest

from contenders import IMPLS, make_step, roof_step, rules
from timing import block_medians

ROOF_BLOCKS = 7  # alternating blocks per roof fraction
SIZES = {"4K": 1 << 12, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24, "64M": 1 << 26}


def paired_roof_fraction(step, roof, size):
    """Median over alternating blocks of (roof time / rule time)."""
    times = block_medians({"rule": step, "roof": roof}, ROOF_BLOCKS, max(3, min(50, (1 << 22) // size)))
    ratios = np.array(times["roof"]) / np.array(times["rule"])
    return float(np.median(ratios)), float(np.median(times["roof"]))


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
