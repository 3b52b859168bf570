"""Where a second thread starts to pay: Adam over many small tensors (4096
elements each, 4 to 512 of them), one thread against two with the per-thread
threshold lowered so that two always run; alternating blocks. The kernels start
a team only from pyoptim._core.get_min_elements_per_thread() elements per
thread; this measures whether that threshold sits where the speed-up begins.

Two settings: steps back to back (the second thread is still spinning when the
next step starts), and steps 1 ms apart, as in training, where the forward and
backward passes run between two steps and OpenMP's idle worker has gone to sleep
(pyoptim sets GOMP_SPINCOUNT=3000), so each step pays for waking it."""

import time

import numpy as np

import pyoptim
from pyoptim import _core
from contenders import aligned_copy
from timing import block_medians, median_ratio

TENSOR = 4096
COUNTS = [4, 8, 16, 32, 64, 128, 256, 512]  # 16K to 2M elements in all
BLOCKS = 7
PAUSES = {"back to back": 0.0, "1 ms apart": 1e-3}


def pause(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_two_threads_threshold(benchmark):
    rng = np.random.default_rng(0)
    default = _core.get_min_elements_per_thread()
    previous = pyoptim.get_num_threads()
    speedups: dict = {setting: {} for setting in PAUSES}

    def measure():
        _core.set_min_elements_per_thread(1)
        try:
            for count in COUNTS:
                pairs = [(aligned_copy(rng.standard_normal(TENSOR, dtype=np.float32)),
                          aligned_copy(rng.standard_normal(TENSOR, dtype=np.float32) * np.float32(0.01)))
                         for _ in range(count)]
                step = pyoptim.Adam(pairs).step
                step()
                for setting, seconds in PAUSES.items():
                    steps = {"1 thread": step, "2 threads": step}
                    prepare = {"1 thread": lambda s=seconds: (pause(s), pyoptim.set_num_threads(1)),
                               "2 threads": lambda s=seconds: (pause(s), pyoptim.set_num_threads(2))}
                    blocks = block_medians(steps, BLOCKS, max(5, min(50, (1 << 21) // (count * TENSOR))), prepare)
                    speedups[setting][str(count * TENSOR)] = median_ratio(blocks, "1 thread", "2 threads")
        finally:
            _core.set_min_elements_per_thread(default)
            pyoptim.set_num_threads(previous)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(kind="threads", tensor=TENSOR, blocks=BLOCKS, threshold=default,
                                speedup=speedups)
