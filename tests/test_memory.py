"""pyoptim.memory: arrays placed where the kernels' vector loops want them, and
optimizer state placed like its parameter."""

import numpy as np
import pytest

import pyoptim
from rule_cases import as_param
from pyoptim.memory import ALIGNMENT, aligned_like, empty_aligned, zeros_aligned


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("offset", [0, 16, 48])
@pytest.mark.parametrize("shape", [0, 1, 100, (3, 5), (1 << 18,)])
def test_empty_aligned_places_the_data(shape, offset, dtype):
    a = empty_aligned(shape, dtype, offset=offset)
    expected_shape = (shape,) if isinstance(shape, int) else shape
    assert a.shape == expected_shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    if a.size:
        assert a.ctypes.data % ALIGNMENT == offset
    a[...] = 1  # the whole array is usable memory
    assert (a == 1).all()


def test_zeros_aligned_is_zero_and_on_a_boundary():
    a = zeros_aligned((7, 9), np.float64)
    assert a.ctypes.data % ALIGNMENT == 0 and not a.any()


@pytest.mark.parametrize("offset,error", [(4, ValueError), (64, ValueError), (-16, ValueError),
                                          (2.0, TypeError), (True, TypeError)])
def test_bad_offset_is_refused(offset, error):
    with pytest.raises(error, match="offset"):
        empty_aligned(10, np.float64, offset=offset)


def test_bad_order_is_refused():
    with pytest.raises(ValueError, match="order"):
        empty_aligned(10, order="K")


@pytest.mark.parametrize("shape", [-1, (2, -3), (2.5,)])
def test_bad_shape_is_refused(shape):
    with pytest.raises(ValueError, match="shape"):
        empty_aligned(shape)


@pytest.mark.parametrize("start", [0, 1, 4, 13])
def test_aligned_like_copies_the_offset(start):
    base = zeros_aligned(200, np.float32)
    array = base[start:start + 150].reshape(10, 15)
    like = aligned_like(array, 2.5)
    assert like.shape == array.shape and like.dtype == array.dtype
    assert like.ctypes.data % ALIGNMENT == array.ctypes.data % ALIGNMENT == 4 * start % ALIGNMENT
    assert (like == 2.5).all() and not np.shares_memory(like, base)


def test_aligned_like_keeps_fortran_order():
    array = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    like = aligned_like(array)
    assert like.flags.f_contiguous and not like.flags.c_contiguous


def test_fortran_ordered_parameters_get_fortran_ordered_state():
    """The kernel pairs elements by memory position: state must share the parameter's order."""
    param = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    grad = np.asfortranarray(np.ones((3, 4)))
    grad[0, 3] = 5.0
    opt = pyoptim.Adam([(param, grad)], lr=0.1)
    opt.step()
    exp_avg = opt.state_dict()["state"][0]["exp_avg"]
    np.testing.assert_allclose(exp_avg, 0.1 * grad)


def test_aligned_like_refuses_non_arrays():
    with pytest.raises(TypeError, match="array"):
        aligned_like([1.0, 2.0])


@pytest.mark.parametrize("start", [0, 3, 12])
@pytest.mark.parametrize("rule", sorted(pyoptim.Optimizer.registry))
def test_optimizer_state_sits_where_its_parameter_does(rule, start):
    params = as_param(rule, zeros_aligned(1000, np.float32)[start:])
    grads = as_param(rule, zeros_aligned(1000, np.float32)[start:])
    cls = pyoptim.Optimizer.registry[rule]
    if not pyoptim._core.RULES[cls.rule]["state"]:
        pytest.skip(f"{rule} keeps no state arrays per parameter")
    hyper = {"momentum": 0.9} if rule in ("SGD", "RMSprop") else {}
    opt = cls([(params, grads)], **hyper)
    assert opt.state[0], f"{rule} keeps no state with {hyper}"
    for name, array in opt.state[0].items():
        if isinstance(array, np.ndarray) and array.ndim:
            assert array.ctypes.data % ALIGNMENT == 4 * start, name


def test_state_loaded_into_a_fresh_slot_sits_where_its_parameter_does():
    def make(amsgrad):
        params = zeros_aligned(300, np.float32)[5:]
        return params, pyoptim.Adam([(params, np.ones_like(params))], amsgrad=amsgrad)
    _, source = make(True)
    source.step()
    _, target = make(False)
    assert "max_exp_avg_sq" not in target.state[0]
    target.load_state_dict(source.state_dict())
    loaded = target.state[0]["max_exp_avg_sq"]
    np.testing.assert_array_equal(loaded, source.state[0]["max_exp_avg_sq"])
    assert loaded.ctypes.data % ALIGNMENT == 20


def test_flat_parameters_are_on_boundaries():
    flat = pyoptim.FlatParameters({"w": (7, 3), "b": 3, "c": (5,)})
    for _, param, grad in flat.items():
        assert param.ctypes.data % ALIGNMENT == 0 and grad.ctypes.data % ALIGNMENT == 0
