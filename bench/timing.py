"""The one timing method the paired benchmarks share: alternating blocks, so
that every contender sees the same caches and the same drifts of the machine."""

import time

import numpy as np


def block_medians(functions: dict, blocks: int, per_block: int) -> dict:
    """{name: [median seconds of each block]}: `blocks` rounds, each timing
    `per_block` calls of every function in turn."""
    medians = {name: [] for name in functions}
    for _ in range(blocks):
        for name, fn in functions.items():
            samples = []
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            medians[name].append(float(np.median(samples)))
    return medians
