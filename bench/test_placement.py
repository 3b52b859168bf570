"""Where the arrays sit: Adam at 1M elements, 1 thread, with its arrays on
64-byte boundaries, all 16 bytes past one (NumPy guarantees only 16-byte
alignment), and with the gradient at another offset than the parameter. The kernel peels the
elements before the parameter's first boundary and the optimizer places its
state like the parameter, so only the gradient can end up off the boundary.
Times from alternating blocks, relative to the aligned case."""

import numpy as np
import pyoptim

from contenders import aligned_copy
from timing import block_medians

SIZE = 1 << 20
BLOCKS = 9  # alternating blocks of 20 steps per placement
PLACEMENTS = {  # name: (param and state offset, gradient offset), in bytes
    "on 64-byte boundaries": (0, 0),
    "all 16 bytes past a boundary": (16, 16),
    "gradient 16 bytes off the parameter": (0, 16),
}


def adam_step(param_offset: int, grad_offset: int):
    rng = np.random.default_rng(0)
    param = aligned_copy(rng.standard_normal(SIZE, dtype=np.float32), param_offset)
    grad = aligned_copy(rng.standard_normal(SIZE, dtype=np.float32) * np.float32(0.01), grad_offset)
    opt = pyoptim.Adam([(param, grad)])
    assert all(s.ctypes.data % 64 == param_offset for s in opt.state[0].values())
    return opt.step


def test_placement(benchmark):
    pyoptim.set_num_threads(1)
    steps = {name: adam_step(*offsets) for name, offsets in PLACEMENTS.items()}
    for step in steps.values():
        step()
    blocks = block_medians(steps, BLOCKS, 20)
    base = np.array(blocks["on 64-byte boundaries"])
    relative = {name: float(np.median(np.array(times) / base)) for name, times in blocks.items()}
    benchmark.group = "placement"
    benchmark.extra_info.update(kind="placement", size=SIZE, blocks=BLOCKS, relative=relative,
                                seconds={name: float(np.median(t)) for name, t in blocks.items()})
    benchmark(steps["on 64-byte boundaries"])
