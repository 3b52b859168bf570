"""Every kernel, on every SIMD path and both dtypes, against the NumPy reference.

The kernels perform the reference's operations in the same order and precision
(no FMA contraction, no fast-math), so the comparison is exact, bit for bit.
"""

import numpy as np
import pytest

import pyoptim
from pyoptim import _core, kernels, reference
from rule_cases import CASES, as_param, case_ids, initial_states

PATHS = _core.simd_info()["supported"]
SIZES = [1, 7, 33, 1023, 100003]
STEPS = 50


@pytest.fixture(params=PATHS)
def simd_path(request):
    previous = _core.simd_info()["active"]
    _core.select_simd(request.param)
    assert _core.simd_info()["active"] == request.param
    yield request.param
    _core.select_simd(previous)


def run_both(name, hyper, n, dtype, *, offset=0, grad_offset=None, state_offset=None, steps=STEPS, seed=0):
    """Steps the kernel and the reference side by side; returns both final states.
    Offsets count elements past a 64-byte boundary."""
    grad_offset = offset if grad_offset is None else grad_offset
    state_offset = offset if state_offset is None else state_offset
    rng = np.random.default_rng(seed)
    kernel = getattr(kernels, f"{name.lower()}_step")
    ref = getattr(reference, f"{name.lower()}_step")

    def arrays(offset):
        base = pyoptim.empty_aligned(n + offset, dtype)
        base[...] = rng.standard_normal(n + offset)
        return base[offset:]

    param = as_param(name, arrays(offset))
    states = []
    for start in initial_states(name, param, hyper):
        if start is None:  # not kept for a parameter of this shape (Adafactor's factors of a vector)
            states.append(None)
            continue
        state = pyoptim.zeros_aligned(n + state_offset, dtype)[state_offset:].reshape(param.shape)
        state[...] = start
        states.append(state)
    param_ref, states_ref = param.copy(), [None if s is None else s.copy() for s in states]
    scalars = scalars_ref = {}
    for t in range(1, steps + 1):
        grad = as_param(name, arrays(grad_offset))
        grad *= dtype(0.5)
        grad += dtype(0.1)
        assert grad.ctypes.data % 64 == grad_offset * grad.itemsize % 64
        scalars = kernel(param, grad, *states, step=t, **hyper, **scalars) or {}
        scalars_ref = ref(param_ref, grad, *states_ref, step=t, **hyper, **scalars_ref) or {}
    assert scalars == scalars_ref
    return (param, *states), (param_ref, *states_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name,case", case_ids())
def test_kernel_matches_reference_exactly(simd_path, name, case, n, dtype):
    got, want = run_both(name, CASES[name][case], n, dtype)
    assert np.isfinite(got[0]).all()
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [1, 3])
@pytest.mark.parametrize("name,case", case_ids())
def test_unaligned_slices(simd_path, name, case, offset, dtype):
    got, want = run_both(name, CASES[name][case], 1021, dtype, offset=offset, steps=10)
    assert got[0].ctypes.data % 64 != 0
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 17, 40, 1021])
@pytest.mark.parametrize("name,case", case_ids())
def test_each_array_at_its_own_offset(simd_path, name, case, n, dtype):
    """A pass first updates the elements before the parameter's cache-line
    boundary; the other arrays may sit anywhere relative to it."""
    got, want = run_both(name, CASES[name][case], n, dtype, offset=7, grad_offset=2, state_offset=5, steps=5)
    size = np.dtype(dtype).itemsize
    assert got[0].ctypes.data % 64 == 7 * size % 64
    assert all(s.ctypes.data % 64 == 5 * size % 64 for s in got[1:] if s is not None)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_reference_moves_parameters():
    """Guards the exact comparisons above against two implementations that do nothing."""
    for name, cases in CASES.items():
        for hyper in cases:
            (param, *_), _ = run_both(name, hyper, 33, np.float64, steps=3)
            start = np.random.default_rng(0).standard_normal(33)
            assert not np.allclose(param, start), (name, hyper)


def test_all_paths_agree_bitwise():
    results = []
    previous = _core.simd_info()["active"]
    try:
        for path in PATHS:
            _core.select_simd(path)
            got, _ = run_both("Adam", CASES["Adam"][0], 4099, np.float32, steps=20)
            results.append(got[0])
    finally:
        _core.select_simd(previous)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_does_not_change_bits(name, dtype):
    sizes = [1, 5000, (1 << 18) + 13, 77, 300000]  # work split across tensor boundaries
    rng = np.random.default_rng(1)
    grads = [as_param(name, rng.standard_normal(n).astype(dtype)) for n in sizes]
    results = []
    before = pyoptim.get_num_threads()
    try:
        for threads in (1, 2, 3):
            pyoptim.set_num_threads(threads)
            params = [as_param(name, np.ones(n, dtype)) for n in sizes]
            opt = pyoptim.Optimizer.registry[name](list(zip(params, grads)), **CASES[name][-1])
            for _ in range(5):
                opt.step()
            results.append(params)
    finally:
        pyoptim.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_env_var_caps_the_simd_path(tmp_path):
    import subprocess
    import sys

    code = "import pyoptim; print(pyoptim.simd_info()['active'])"
    for path in PATHS:
        out = subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "PYOPTIM_SIMD": path},
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == path
    bad = subprocess.run([sys.executable, "-W", "always", "-c", code],
                         env={**__import__("os").environ, "PYOPTIM_SIMD": "sse9"}, capture_output=True, text=True)
    assert bad.returncode == 0 and "PYOPTIM_SIMD ignored" in bad.stderr
    assert bad.stdout.strip() == PATHS[-1]


def test_simd_info_reports_the_best_supported_path():
    info = pyoptim.simd_info()
    assert info["active"] in info["supported"]
    assert set(info["supported"]) <= set(info["compiled"])
    assert info["compiled"][0] == "generic"
    import platform
    if platform.machine() in ("x86_64", "AMD64"):
        assert {"avx2", "avx512"} <= set(info["compiled"])


def test_kernel_functions_check_step_and_names():
    p, g, m, v = (np.zeros(4) for _ in range(4))
    with pytest.raises(ValueError, match="step"):
        kernels.adam_step(p, g, m, v, step=0)
    with pytest.raises(TypeError, match="unknown arguments"):
        kernels.adam_step(p, g, m, v, step=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        kernels.adam_step(p, g, m, v, step=1, amsgrad=True)
    assert not p.any() and not m.any() and not v.any()
    kernels.adam_step(p, g + 1, exp_avg=m, exp_avg_sq=v, step=1)
    assert (p < 0).all()
