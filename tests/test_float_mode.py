"""Denormals: IEEE by default (bit-exact with the NumPy reference, as torch.optim),
flushed to zero on request on every thread of a step, and every thread of a step
in the calling thread's mode."""

import numpy as np
import pytest

import pyoptim
from pyoptim import reference

TINY = np.float32(1e-40)  # a float32 denormal
N = 300_000  # enough for a team of threads


@pytest.fixture
def restore():
    threads, flush = pyoptim.get_num_threads(), pyoptim.get_flush_denormal()
    yield
    pyoptim.set_num_threads(threads)
    pyoptim.set_flush_denormal(flush)


def adam_on_denormals(threads: int):
    """One Adam step whose first moment ends up denormal (zero gradients on tiny moments)."""
    pyoptim.set_num_threads(threads)
    param = np.ones(N, np.float32)
    grad = np.zeros(N, np.float32)
    grad[::7] = 1.0
    opt = pyoptim.Adam([(param, grad)], lr=1e-3)
    opt.state[0]["exp_avg"][...] = TINY * 3
    opt.state[0]["exp_avg_sq"][...] = np.float32(1e-8)
    opt.step()
    return param, opt.state[0]["exp_avg"]


def is_denormal(a):
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


def test_ieee_by_default_and_bit_exact_with_the_reference(restore):
    param, exp_avg = adam_on_denormals(1)
    assert not pyoptim.get_flush_denormal()
    assert is_denormal(exp_avg).any()
    p, g = np.ones(N, np.float32), np.zeros(N, np.float32)
    g[::7] = 1.0
    m, v = np.full(N, TINY * 3, np.float32), np.full(N, 1e-8, np.float32)
    reference.adam_step(p, g, m, v, step=1, lr=1e-3)
    assert np.array_equal(param, p) and np.array_equal(exp_avg, m)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_flushing_reaches_every_thread(restore, threads):
    pyoptim.set_flush_denormal(True)
    param, exp_avg = adam_on_denormals(threads)
    assert not is_denormal(exp_avg).any() and (exp_avg == 0).any()
    base_param, base_m = adam_on_denormals(1)
    assert np.array_equal(param, base_param) and np.array_equal(exp_avg, base_m)


def test_workers_take_the_calling_threads_mode(restore):
    torch = pytest.importorskip("torch")
    if not torch.set_flush_denormal(True):  # the calling thread only
        pytest.skip("this CPU has no flush-to-zero mode")
    try:
        for threads in (1, 2):
            param, exp_avg = adam_on_denormals(threads)
            assert not is_denormal(exp_avg).any(), threads
    finally:
        torch.set_flush_denormal(False)
    param, exp_avg = adam_on_denormals(2)
    assert is_denormal(exp_avg).any()  # the caller's mode is restored after the step


def test_bad_argument():
    with pytest.raises(TypeError, match="enabled"):
        pyoptim.set_flush_denormal("yes")
