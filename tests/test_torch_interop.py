"""pyoptim.torch: torch.optim optimizers driven by pyoptim's kernels."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pyoptim  # noqa: E402
import pyoptim.torch as pt  # noqa: E402
from rule_cases import CASES, MATRIX_ONLY, torch_in_params_dtype  # noqa: E402

from test_torch_parity import PYOPTIM_ONLY, TORCH_NAMES  # noqa: E402


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def model(seed=0, bias=True):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16, bias=bias), torch.nn.Tanh(), torch.nn.Linear(16, 3, bias=bias))


def train(net, opt, sched=None, steps=25, clip=None):
    torch.manual_seed(1)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        if sched:
            sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", sorted(n for n in TORCH_NAMES
                                         if not pyoptim.Optimizer.registry[n].row_sparse))  # dense grads here
def test_trains_like_torch_optim(name):
    hyper = next((h for h in CASES[name] if not PYOPTIM_ONLY & set(h)), {})
    ours, theirs = model(bias=name not in MATRIX_ONLY), model(bias=name not in MATRIX_ONLY)  # Muon: matrices only
    opt = getattr(pt, name)(ours.parameters(), **hyper)
    ref = getattr(torch.optim, name)(theirs.parameters(), **hyper)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.7)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, step_size=5, gamma=0.7)
    a = train(ours, opt, sched, clip=1.0)
    with torch_in_params_dtype(name):
        b = train(theirs, ref, ref_sched, clip=1.0)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert a[-1] < a[0]


def test_steps_in_place_without_copies():
    net = model()
    opt = pt.Adam(net.parameters(), lr=0.01)
    weight = net[0].weight
    address, storage = weight.data_ptr(), weight.detach().numpy()
    train(net, opt, steps=3)
    assert weight.data_ptr() == address
    assert np.shares_memory(storage, weight.detach().numpy())
    assert opt.state[weight]["step"] == 3 and opt.state[weight]["exp_avg"].shape == weight.shape


def test_state_dict_round_trip_and_params_without_grad():
    net = model()
    opt = pt.Adam(net.parameters(), lr=0.1)
    train(net, opt, steps=3)
    saved = copy.deepcopy(opt.state_dict())  # torch's state_dict holds references
    net[2].weight.requires_grad_(False)  # no grad: skipped, keeps its own step count
    net2 = model()
    net2.load_state_dict(net.state_dict())
    net2[2].weight.requires_grad_(False)
    opt2 = pt.Adam(net2.parameters(), lr=0.1)
    opt2.load_state_dict(saved)
    a, b = train(net, opt, steps=4), train(net2, opt2, steps=4)
    assert a == b
    assert opt.state[net[2].weight]["step"] == 3 and opt.state[net[0].weight]["step"] == 7
    assert opt2.state[net2[2].weight]["step"] == 3 and opt2.state[net2[0].weight]["step"] == 7


def test_bad_tensors_and_hyperparameters():
    with pytest.raises(ValueError, match="lr"):
        pt.Adam(model().parameters(), lr=-1.0)
    with pytest.raises(TypeError, match="unknown"):
        pt.Adam(model().parameters(), learning_rate=0.1)
    p = torch.zeros(4, dtype=torch.float16, requires_grad=True)
    p.grad = torch.ones(4, dtype=torch.float16)
    with pytest.raises(TypeError, match="float32, float64"):
        pt.SGD([p], lr=0.1).step()


def test_every_rule_is_exported():
    import pyoptim
    assert set(pt.__all__) - {"PyoptimTorchOptimizer"} == set(pyoptim.Optimizer.registry)
    assert issubclass(pt.Lion, torch.optim.Optimizer)
