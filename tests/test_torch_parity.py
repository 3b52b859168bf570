"""Same trajectories as torch.optim (float64), when torch is installed (the `torch` extra)."""

import numpy as np
import pytest

import pyoptim
from rule_cases import CASES, MATRIX_ONLY, case_ids, torch_in_params_dtype

torch = pytest.importorskip("torch")

import pyoptim.torch as pt  # noqa: E402

# pyoptim's rules with a torch.optim twin (as pyoptim.torch found them); options that
# exist only in pyoptim are left out.
TORCH_NAMES = {name: getattr(pt, name).twin for name in pyoptim.Optimizer.registry
               if getattr(pt, name).twin and not pyoptim.Optimizer.registry[name].closure_driven}  # LBFGS: test_lbfgs
PYOPTIM_ONLY = {"momentum_init", "classic_momentum", "eps_hat", "eps_inside_sqrt"}


@pytest.fixture(autouse=True)
def float64_scalars():
    """torch keeps per-step scalar state (NAdam's mu_product) in the default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("name,case", [c for c in case_ids()
                                       if c[0] in TORCH_NAMES and not PYOPTIM_ONLY & set(CASES[c[0]][c[1]])])
def test_matches_torch_optim_float64(name, case):
    hyper = CASES[name][case]
    rng = np.random.default_rng(11)
    shapes = [(7,), (33, 3), (1023,)]
    if name in MATRIX_ONLY:
        shapes = [(1, 7), (33, 3), (31, 33)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [np.zeros(s) for s in shapes]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = pyoptim.Optimizer.registry[name](list(zip(params, grads)), **hyper)
    topt = getattr(torch.optim, TORCH_NAMES[name])(tparams, **hyper)
    for _ in range(60):
        for g, tp in zip(grads, tparams):
            g[...] = rng.standard_normal(g.shape)
            tp.grad = torch.tensor(g.copy())
            if pyoptim.Optimizer.registry[name].row_sparse:  # every row touched: the dense step
                tp.grad = tp.grad.to_sparse(1)
        opt.step()
        with torch_in_params_dtype(name):
            topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-11, atol=1e-13)
    assert not np.allclose(params[0], np.random.default_rng(11).standard_normal(7))


def test_defaults_match_torch():
    import inspect
    for name, tname in TORCH_NAMES.items():
        ours = pyoptim.Optimizer.registry[name].default_hyper()
        theirs = {k: p.default for k, p in inspect.signature(getattr(torch.optim, tname).__init__).parameters.items()}
        for k, v in ours.items():
            if k not in PYOPTIM_ONLY:
                assert theirs[k] == v, (name, k)
