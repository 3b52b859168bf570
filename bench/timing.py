"""The one timing method the paired benchmarks share: alternating blocks, so
that every contender sees the same caches and the same drifts of the machine."""

from __future__ import annotations

import random
import time

import numpy as np


def block_medians(functions: dict, blocks: int, per_block: int, prepare: dict | None = None) -> dict:
    """{name: [median seconds of each block]}: `blocks` rounds, each timing
    `per_block` calls of every function in turn, in an order that changes from
    block to block. ``prepare[name]``, if given, runs before each timed call of
    ``name``, untimed."""
    prepare = prepare or {}
    medians = {name: [] for name in functions}
    order, shuffle = list(functions), random.Random(0).shuffle
    for _ in range(blocks):
        # A new order every block (seeded): no contender always runs right after the
        # same other one and finds the caches as that one left them.
        shuffle(order)
        for name in order:
            fn = functions[name]
            before = prepare.get(name)
            samples = []
            for _ in range(per_block):
                if before is not None:
                    before()
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            medians[name].append(float(np.median(samples)))
    return medians


def median_ratio(blocks: dict, numerator: str, denominator: str) -> float:
    """The median over blocks of numerator's time / denominator's."""
    return float(np.median(np.array(blocks[numerator]) / np.array(blocks[denominator])))
