"""LBFGS (closure-driven, with history): torch's own test configurations against
torch.optim.LBFGS in float64 through pyoptim.torch and the NumPy API, the closure's
call count, state_dict in both directions, the kernel's move on every SIMD path,
and bad input."""

import copy

import numpy as np
import pytest

import pyoptim
from pyoptim import _core, kernels, reference

SHAPES = [(7,), (3, 5), (2, 1, 4), (1,)]
N = sum(int(np.prod(s)) for s in SHAPES)
PATHS = [p for p in ("generic", "avx2", "avx512") if p in _core.simd_info()["supported"]]


def problem(seed=0):
    """A smooth non-quadratic loss of all parameters together, 0.5 |A x - b|^2 + 0.1 sum(log(1 + x^2)),
    conditioned so that L-BFGS's default (lr=1, no line search) converges: on a problem where it
    oscillates, the last bits of any two implementations' dot products part their paths."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N + 3, N)) / np.sqrt(N + 3), rng.standard_normal(N + 3)


def loss_and_grad(x, a, b):
    z = a @ x - b
    return float(0.5 * z @ z + 0.1 * np.log1p(x * x).sum()), a.T @ z + 0.2 * x / (1 + x * x)


def start(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 17, 1000, 70001])
def test_the_move_equals_the_reference(path, dtype, n):
    previous = _core.simd_info()["active"]
    _core.select_simd(path)
    try:
        rng = np.random.default_rng(n)
        p, d = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
        q = p.copy()
        kernels.lbfgs_step(p, d, step=1, lr=0.37)
        reference.lbfgs_step(q, d, step=1, lr=0.37)
        np.testing.assert_array_equal(p, q)
        assert not np.array_equal(p, rng.standard_normal(n).astype(dtype))
    finally:
        _core.select_simd(previous)


# 15 steps of up to max_iter (20) iterations: 60 to 300 closure calls per configuration.
STEPS = 15


def numpy_run(kwargs, steps=STEPS):
    a, b = problem()
    params = start()
    grads = [np.zeros_like(p) for p in params]
    opt = pyoptim.LBFGS(list(zip(params, grads)), **kwargs)
    calls = []

    def closure():
        x = np.concatenate([p.reshape(-1) for p in params])
        loss, g = loss_and_grad(x, a, b)
        at = 0
        for grad in grads:
            grad[...] = g[at:at + grad.size].reshape(grad.shape)
            at += grad.size
        calls.append(loss)
        return loss

    losses = [opt.step(closure) for _ in range(steps)]
    return params, opt, losses, calls


torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402


def optim_db_configurations():
    try:
        from torch.testing._internal.common_optimizers import optim_db
    except Exception:  # torch's test helpers need `expecttest` (the test extra has it)
        return []
    info = next(i for i in optim_db if i.optim_cls.__name__ == "LBFGS")
    return [pytest.param(oi.kwargs, id=oi.desc) for oi in info.optim_inputs_func(device="cpu")]


def torch_run(cls, kwargs, steps=STEPS):
    a, b = (torch.tensor(v) for v in problem())
    params = [torch.tensor(p, requires_grad=True) for p in start()]
    opt = cls(params, **kwargs)
    calls = []

    def closure():
        opt.zero_grad()
        x = torch.cat([p.reshape(-1) for p in params])
        z = a @ x - b
        loss = 0.5 * z @ z + 0.1 * torch.log1p(x * x).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return params, opt, losses, calls


def as_numbers(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy() if v.dim() else v.item()
    if isinstance(v, list):
        return [as_numbers(x) for x in v]
    return v


# The history near convergence is made of differences of nearly equal gradients (y = g - g_prev,
# ro = 1 / y.s) and of gradients that are themselves small sums of large terms: their relative
# error grows as the iterates converge, whoever computes them. The parameters, the losses and
# the closure calls are held to 1e-10; the history to 1e-6 relative or 1e-12 absolute (the
# problem's scale is 1), a list's entries to 1e-6 of its largest.
def assert_same_state(ours: dict, theirs: dict, rtol=1e-6, atol=1e-12):
    assert set(ours) == set(theirs), (sorted(ours), sorted(theirs))
    for key in theirs:
        a, b = as_numbers(ours[key]), as_numbers(theirs[key])
        if key in ("func_evals", "n_iter"):
            assert a == b, key
        elif isinstance(b, list):
            assert len(a) == len(b), key
            # An entry near zero (al[i] = s_i.q * ro_i, a difference of nearly equal terms) is
            # held to rtol of the list's largest entry: its own relative error depends on how
            # the dot products were summed (NumPy's BLAS kernel, which varies by CPU, or torch's).
            scale = max((float(np.max(np.abs(y))) for y in b if y is not None), default=0.0)
            for x, y in zip(a, b):
                assert (x is None) == (y is None), key
                if y is not None:
                    np.testing.assert_allclose(x, y, rtol=rtol, atol=max(atol, rtol * scale), err_msg=key)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-10 if key == "prev_loss" and rtol else rtol, atol=atol,
                                       err_msg=key)


OPTIM_DB = optim_db_configurations()


@pytest.mark.parametrize("kwargs", OPTIM_DB)
def test_every_optim_db_cpu_configuration_matches_torch(kwargs):
    # A 0-d tensor lr gives the float's result (torch computes its first step length in the
    # tensor's float32, and so leaves its own float-lr result): compared with torch at lr.item().
    floats = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    theirs = torch_run(torch.optim.LBFGS, floats)
    for ours in (torch_run(pt.LBFGS, kwargs), numpy_run(floats)):
        params, opt, losses, calls = ours
        assert len(calls) == len(theirs[3]) >= 4 * STEPS  # the same closure calls
        np.testing.assert_allclose(losses, theirs[2], rtol=1e-10)
        for p, q in zip(params, theirs[0]):
            np.testing.assert_allclose(np.asarray(p.detach() if isinstance(p, torch.Tensor) else p),
                                       q.detach().numpy(), rtol=1e-10, atol=1e-12)
        first = opt.state[params[0]] if isinstance(params[0], torch.Tensor) else opt.state[0]
        assert_same_state(first, theirs[1].state[theirs[0][0]])
    assert theirs[2][-1] < theirs[2][0]


def test_state_dicts_load_both_ways():
    kwargs = {"line_search_fn": "strong_wolfe", "history_size": 5}
    ours_params, ours, _, _ = torch_run(pt.LBFGS, kwargs, steps=3)
    theirs_params, theirs, _, _ = torch_run(torch.optim.LBFGS, kwargs, steps=3)
    # torch's state into pyoptim.torch and pyoptim.torch's into torch: the next steps agree.
    a = pt.LBFGS([p.detach().clone().requires_grad_() for p in theirs_params], **kwargs)
    a.load_state_dict(copy.deepcopy(theirs.state_dict()))
    b = torch.optim.LBFGS([p.detach().clone().requires_grad_() for p in ours_params], **kwargs)
    b.load_state_dict(copy.deepcopy(ours.state_dict()))
    x, y = problem()
    x, y = torch.tensor(x), torch.tensor(y)
    for opt in (a, b):
        params = opt.param_groups[0]["params"]

        def closure():
            opt.zero_grad()
            w = torch.cat([p.reshape(-1) for p in params])
            z = x @ w - y
            loss = 0.5 * z @ z + 0.1 * torch.log1p(w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
    for p, q in zip(a.param_groups[0]["params"], b.param_groups[0]["params"]):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10)


def test_numpy_state_dict_round_trip_and_bad_state():
    params, opt, _, _ = numpy_run({"history_size": 4}, steps=3)
    saved = opt.state_dict()
    assert len(saved["state"][0]["old_dirs"]) == 4 and saved["state"][0]["old_dirs"][0] is not opt.state[0]["old_dirs"][0]
    before = copy.deepcopy(opt.state[0])
    bad = copy.deepcopy(saved)
    bad["state"][0]["d"] = np.zeros(3)
    with pytest.raises(ValueError, match="d must be a vector"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(saved)
    bad["state"][0]["ro"] = bad["state"][0]["ro"][:-1]
    with pytest.raises(ValueError, match="same length"):
        opt.load_state_dict(bad)
    assert_same_state(opt.state[0], before, rtol=0, atol=0)
    opt.load_state_dict(saved)
    assert_same_state(opt.state[0], before, rtol=0, atol=0)


def test_bad_input_is_refused():
    p, g = np.ones(3), np.zeros(3)
    with pytest.raises(TypeError, match="closure"):
        pyoptim.LBFGS([(p, g)]).step()
    with pytest.raises(ValueError, match="one param group"):
        pyoptim.LBFGS([{"params": [(p, g)]}, {"params": [(np.ones(2), np.zeros(2))]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        pyoptim.LBFGS([(p, g)], line_search_fn="armijo")
    with pytest.raises(ValueError, match="history_size"):
        pyoptim.LBFGS([(p, g)], history_size=0)
    with pytest.raises(ValueError, match="C-contiguous"):
        pyoptim.LBFGS([(np.ones((3, 2), order="F"), np.zeros((3, 2), order="F"))])
    with pytest.raises(TypeError, match="closure"):
        pt.LBFGS([torch.ones(3, requires_grad=True)]).step()
