"""Several optimizers stepping from several Python threads at once (the GIL is
released in the kernels) give exactly the results of stepping them in turn."""

import threading

import numpy as np

import pyoptim
from rule_cases import CASES

NAMES = sorted(CASES)


def build(seed):
    rng = np.random.default_rng(seed)
    sizes = [100_000, 3, 70_000]
    pairs = [(rng.standard_normal(n).astype(np.float32), np.zeros(n, np.float32)) for n in sizes]
    grads = [[rng.standard_normal(n).astype(np.float32) for n in sizes] for _ in range(30)]
    name = NAMES[seed % len(NAMES)]
    opt = pyoptim.Optimizer.registry[name](pairs, **CASES[name][-1])
    return opt, pairs, grads


def train(opt, pairs, grads):
    for step_grads in grads:
        for (_, g), new in zip(pairs, step_grads):
            g[...] = new
        opt.step()


def test_threads_equal_sequential():
    before = pyoptim.get_num_threads()
    pyoptim.set_num_threads(2)  # each optimizer may start its own OpenMP team too
    try:
        sequential = [build(seed) for seed in range(6)]
        for opt, pairs, grads in sequential:
            train(opt, pairs, grads)
        concurrent = [build(seed) for seed in range(6)]
        barrier = threading.Barrier(len(concurrent))

        def worker(job):
            barrier.wait()
            train(*job)

        threads = [threading.Thread(target=worker, args=(job,)) for job in concurrent]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        pyoptim.set_num_threads(before)
    for (_, a, _), (_, b, _) in zip(sequential, concurrent):
        for (p, _), (q, _) in zip(a, b):
            np.testing.assert_array_equal(p, q)
