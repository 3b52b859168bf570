"""Rules whose state is not shaped like the parameter (Adafactor's row and column
factors of a matrix's second moment): the kernel against its reference on matrices
and stacks of them, every SIMD path and thread count, state_dict round trips, and
bad input that changes nothing."""

import numpy as np
import pytest

import pyoptim
from pyoptim import _core, kernels, reference

# (shape, what it reaches): one block of rows, several, a row wider than a block,
# a stack of matrices, a column vector.
SHAPES = [(5, 7), (40, 300), (3, 9000), (2, 3, 17), (33, 1), (1, 40)]
PATHS = [p for p in ("generic", "avx2", "avx512") if p in _core.simd_info()["supported"]]


def factored_states(param):
    cls = pyoptim.Adafactor
    return [None if cls.state_shape(n, param.shape) is None else np.zeros(cls.state_shape(n, param.shape), param.dtype)
            for n in kernels.state_names("adafactor")]


@pytest.fixture(params=PATHS)
def simd_path(request):
    previous = _core.simd_info()["active"]
    _core.select_simd(request.param)
    yield request.param
    _core.select_simd(previous)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("hyper", [dict(lr=0.05, weight_decay=0.1, d=1.5),
                                   dict(lr=0.02, beta2_decay=-1.0, eps=(1e-6, 1e-2), maximize=True)])
def test_matrix_steps_equal_the_reference_bit_for_bit(simd_path, shape, dtype, hyper):
    rng = np.random.default_rng(3)
    param = rng.standard_normal(shape).astype(dtype)
    states = factored_states(param)
    param_ref, states_ref = param.copy(), [None if s is None else s.copy() for s in states]
    for t in range(1, 6):
        grad = (rng.standard_normal(shape) * 0.5 + 0.1).astype(dtype)
        kernels.adafactor_step(param, grad, *states, step=t, **hyper)
        reference.adafactor_step(param_ref, grad, *states_ref, step=t, **hyper)
    assert states[2] is None and states[0].shape == shape[:-1] + (1,) and states[1].shape == shape[:-2] + (1, shape[-1])
    np.testing.assert_array_equal(param, param_ref)
    for s, r in zip(states, states_ref):
        np.testing.assert_array_equal(s, r)
    assert not np.array_equal(param, np.random.default_rng(3).standard_normal(shape).astype(dtype))


@pytest.mark.parametrize("shape", [(600, 700), (3, 200, 300), (300000,)])
def test_thread_count_changes_no_bit(shape):
    results = []
    for n in (1, 2):
        rng = np.random.default_rng(0)
        param = rng.standard_normal(shape).astype(np.float32)
        grad = np.zeros_like(param)
        opt = pyoptim.Adafactor([(param, grad)], lr=0.01, weight_decay=0.1)
        with pyoptim.num_threads(n):
            for _ in range(3):
                grad[...] = rng.standard_normal(shape)
                opt.step()
        results.append((param, *[opt.state[0][k] for k in sorted(opt.state[0]) if k != "step"]))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_state_is_factored_and_round_trips():
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal(s), np.zeros(s)) for s in [(6, 5), (4,), (2, 3, 4)]]
    opt = pyoptim.Adafactor(pairs, lr=0.01)
    for _ in range(3):
        for _, g in pairs:
            g[...] = rng.standard_normal(g.shape)
        opt.step()
    assert {k: v.shape for k, v in opt.state[0].items() if k != "step"} == {"row_var": (6, 1), "col_var": (1, 5)}
    assert {k: v.shape for k, v in opt.state[1].items() if k != "step"} == {"variance": (4,)}
    assert {k: v.shape for k, v in opt.state[2].items() if k != "step"} == {"row_var": (2, 3, 1), "col_var": (2, 1, 4)}
    saved = opt.state_dict()
    twin_pairs = [(p.copy(), g.copy()) for p, g in pairs]
    twin = pyoptim.Adafactor(twin_pairs, lr=0.01)
    twin.load_state_dict(saved)
    opt.step()
    twin.step()
    for (p, _), (q, _) in zip(pairs, twin_pairs):
        np.testing.assert_array_equal(p, q)


def test_bad_state_changes_nothing():
    param = np.ones((4, 3))
    opt = pyoptim.Adafactor([(param, np.ones((4, 3)))])
    opt.step()
    saved = opt.state_dict()
    before = (param.copy(), {k: v.copy() for k, v in opt.state[0].items() if k != "step"})
    wrong_shape = {**saved, "state": {0: {**saved["state"][0], "row_var": np.zeros((4, 3))}}}
    with pytest.raises(ValueError, match=r"row_var.*\(4, 1\)"):
        opt.load_state_dict(wrong_shape)
    not_kept = {**saved, "state": {0: {**saved["state"][0], "variance": np.zeros((4, 3))}}}
    with pytest.raises(ValueError, match="keeps no 'variance'"):
        opt.load_state_dict(not_kept)
    np.testing.assert_array_equal(param, before[0])
    for k, v in before[1].items():
        np.testing.assert_array_equal(opt.state[0][k], v)
    with pytest.raises(ValueError, match="C order"):
        pyoptim.Adafactor([(np.ones((4, 3), order="F"), np.ones((4, 3), order="F"))])
    g = np.ones((4, 3))
    with pytest.raises(ValueError, match="col_var.*shape"):
        kernels.adafactor_step(param, g, np.zeros((4, 1)), np.zeros((3, 1)), step=1)
    with pytest.raises(ValueError, match="keeps no 'variance'"):
        kernels.adafactor_step(param, g, np.zeros((4, 1)), np.zeros((1, 3)), np.zeros((4, 3)), step=1)
    with pytest.raises(ValueError, match="needs every state array"):
        kernels.adafactor_step(param, g, np.zeros((4, 1)), step=1)
    np.testing.assert_array_equal(param, before[0])


def test_memory_per_parameter():
    """A 1024 x 4096 matrix keeps 1024 + 4096 numbers of state, not 4M."""
    param = np.zeros((1024, 4096), np.float32)
    opt = pyoptim.Adafactor([(param, np.zeros_like(param))])
    kept = sum(v.nbytes for v in opt.state[0].values() if isinstance(v, np.ndarray))
    assert kept == (1024 + 4096) * 4
