"""pyoptim.torch as a drop-in for torch.optim: torch's own optimizer test
configurations (optim_db) in float64, and the behaviours torch's optimizer tests
check (tensor hyperparameters, deepcopy and pickling, state_dict loading in both
directions and from older versions, layouts, hooks, gradient policy, bad input)."""

import copy
import io
import math
import pickle
import sys

import pytest

torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402
from pyoptim import Optimizer  # noqa: E402
from rule_cases import MATRIX_ONLY, torch_in_params_dtype  # noqa: E402
from torch.optim.optimizer import (register_optimizer_step_post_hook,  # noqa: E402
                                   register_optimizer_step_pre_hook)

# pyoptim.torch found their twins; a closure-driven rule (LBFGS) has its own tests (tests/test_lbfgs.py)
TWINS = [name for name in Optimizer.registry if getattr(pt, name).twin and not Optimizer.registry[name].closure_driven]
SHAPES = [(7,), (3, 5), (2, 1, 4), (0, 3), (1,)]


def optim_db_configurations():
    """(rule, description, kwargs) for every CPU configuration torch tests of the rules pyoptim.torch has."""
    try:
        from torch.testing._internal.common_optimizers import optim_db
    except Exception:  # torch's test helpers need `expecttest` (the test extra has it)
        return []
    found = []
    for info in optim_db:
        name = info.optim_cls.__name__
        if name in TWINS:
            for oi in info.optim_inputs_func(device="cpu"):
                found.append(pytest.param(name, oi.kwargs, id=f"{name}-{oi.desc}"))
    return found


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (0 for empty tensors)."""
    if a.numel() == 0:
        return 0.0
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale else 1.0)


def seeded_grads(params, k, skip=()):
    gen = torch.Generator().manual_seed(1000 + k)
    out = []
    for i, p in enumerate(params):
        g = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        out.append(None if i in skip else g)
    return out


def as_grad(name, g, k):
    """The gradient a rule takes: dense, or for a row-sparse rule (SparseAdam) sparse COO
    with every third row (shifting with the step) left out, as torch's tests give it."""
    if not getattr(pt, name).rule_class.row_sparse or g is None:
        return g
    g = g.clone()
    if g.dim() and g.shape[0]:
        g[(torch.arange(g.shape[0]) + k) % 3 == 0] = 0
    return g.to_sparse(1)


DENSE_TWINS = [name for name in TWINS if not getattr(pt, name).rule_class.row_sparse]


# Shapes for the rules that step matrices only (Muon).
MATRIX_SHAPES = [(7, 3), (3, 5), (1, 9), (4, 4), (6, 1)]


def train_pair(name, kwargs, shapes=SHAPES, steps=35, dtype=torch.float64, skips=None, make_ours=None,
               ref_kwargs=None):
    """The same params and gradients through pyoptim.torch.<name> and torch.optim.<name>
    (with `ref_kwargs` instead of `kwargs` if given)."""
    if name in MATRIX_ONLY:
        shapes = [s if len(s) == 2 else (1, math.prod(s)) for s in shapes if math.prod(s)] or MATRIX_SHAPES
    with torch_in_params_dtype(name):
        return _train_pair(name, kwargs, shapes, steps, dtype, skips, make_ours, ref_kwargs)


def _train_pair(name, kwargs, shapes, steps, dtype, skips, make_ours, ref_kwargs):
    gen = torch.Generator().manual_seed(0)
    init = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    ours = [x.clone().requires_grad_() for x in init]
    theirs = [x.clone().requires_grad_() for x in init]
    opt = (make_ours or getattr(pt, name))(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **(kwargs if ref_kwargs is None else ref_kwargs))
    skips = skips or {}
    for k in range(steps):
        for p, q, g in zip(ours, theirs, seeded_grads(init, k, skips.get(k, ()))):
            g = as_grad(name, g, k)
            p.grad = None if g is None else g.clone()
            q.grad = None if g is None else g.clone()
        opt.step()
        ref.step()
    return ours, theirs, opt, ref


def assert_same_run(ours, theirs, opt, ref, tolerance=1e-10):
    for p, q in zip(ours, theirs):
        assert relative_error(p.detach(), q.detach()) <= tolerance
        a, b = opt.state.get(p, {}), ref.state.get(q, {})
        assert set(a) == set(b), (sorted(a), sorted(b))
        for key, value in b.items():
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                assert a[key].dtype == value.dtype and relative_error(a[key], value) <= tolerance, key
            elif isinstance(value, torch.Tensor):
                assert a[key].shape == value.shape and relative_error(a[key], value) <= tolerance, key
            else:
                assert a[key] == value, key


# Gradients missing at some steps (None: the parameter skips that step and keeps its step count).
SKIPS = {10: (1,), 15: (2,), 16: (2,)}


OPTIM_DB = optim_db_configurations()


def test_torchs_optimizer_test_configurations_are_there():
    if not OPTIM_DB:
        pytest.skip("torch.testing._internal.common_optimizers does not import (it needs expecttest)")
    assert {p.values[0] for p in OPTIM_DB} == set(TWINS)


@pytest.mark.parametrize("name,kwargs", OPTIM_DB)
def test_every_optim_db_cpu_configuration_matches_torch(name, kwargs):
    ref_kwargs = None
    if name in ("SparseAdam", "Muon") and isinstance(kwargs.get("lr"), torch.Tensor):
        # torch's SparseAdam and Muon compute their step sizes (Muon: its adjusted lr and
        # decay) in the tensor lr's dtype (float32), so they leave their own float-lr
        # result; pyoptim gives the float's result.
        ref_kwargs = {**kwargs, "lr": kwargs["lr"].item()}
    shapes = SHAPES
    if name in NO_EMPTY_PARAMS:
        shapes = [s for s in SHAPES if math.prod(s)] + [(4, 3, 6), (1, 9)]
    if name in MATRIX_ONLY:
        shapes = MATRIX_SHAPES
    assert_same_run(*train_pair(name, kwargs, shapes=shapes, skips=SKIPS, ref_kwargs=ref_kwargs))


def test_sparse_adam_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="omplex"):
        pt.SparseAdam([torch.zeros(3, dtype=torch.complex128, requires_grad=True)])
    p = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    opt = pt.SparseAdam([p])
    p.grad = torch.ones(4, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="dense gradients"):
        opt.step()
    assert not opt.state and not p.detach().any()


# torch refuses complex parameters for these (RuntimeError), and so does pyoptim.torch.
REAL_ONLY = {"Adafactor", "Muon"}
# torch's step divides by a parameter's element count (Adafactor's RMS): an empty
# parameter raises ZeroDivisionError there; pyoptim leaves it (and its state) alone.
NO_EMPTY_PARAMS = {"Adafactor"}


@pytest.mark.parametrize("name", sorted(REAL_ONLY))
def test_complex_parameters_are_refused_where_torch_refuses_them(name):
    p = torch.zeros(3, 2, dtype=torch.complex128, requires_grad=True)
    q = p.detach().clone().requires_grad_()
    opt, ref = getattr(pt, name)([p]), getattr(torch.optim, name)([q])
    p.grad = torch.ones_like(p)
    q.grad = torch.ones_like(q)
    with pytest.raises(RuntimeError, match="complex"):
        ref.step()
    with pytest.raises(RuntimeError, match="complex"):
        opt.step()
    assert not opt.state and not p.detach().any()


def test_empty_parameters_are_left_alone():
    for name in sorted(NO_EMPTY_PARAMS):
        empty, full = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True), torch.ones(2, 3, requires_grad=True)
        opt = getattr(pt, name)([empty, full])
        empty.grad, full.grad = torch.zeros(0, 3, dtype=torch.float64), torch.ones(2, 3)
        opt.step()
        assert opt.state[empty]["step"].item() == 1 and not full.detach().eq(1).all()


@pytest.mark.parametrize("name", [n for n in DENSE_TWINS if n not in REAL_ONLY])
def test_complex_parameters_step_as_their_real_view(name):
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    assert_same_run(*train_pair(name, kwargs, shapes=[(4, 3), (5,)], dtype=torch.complex128, steps=30))


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "slice", "grad strides differ"])
@pytest.mark.parametrize("name", ["Adam", "SGD", "RMSprop"])
def test_layouts_step_in_place(name, layout):
    kwargs = {"momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    gen = torch.Generator().manual_seed(3)
    if layout == "channels_last":
        base = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        base = torch.randn(6, 4, generator=gen, dtype=torch.float64).t()
    elif layout == "slice":
        base = torch.randn(6, 8, generator=gen, dtype=torch.float64)[:, ::2]
    else:
        base = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    p, q = base.clone(memory_format=torch.preserve_format).requires_grad_(), base.clone().requires_grad_()
    if layout == "slice":  # a view with gaps: the parameter is a slice of a bigger tensor
        big = torch.zeros(6, 8, dtype=torch.float64)
        big[:, ::2] = base
        p = big[:, ::2].requires_grad_()
    address = p.data_ptr()
    opt, ref = getattr(pt, name)([p], **kwargs), getattr(torch.optim, name)([q], **kwargs)
    for k in range(20):
        g = torch.randn(base.shape[::-1] if layout == "grad strides differ" else base.shape, generator=gen,
                        dtype=torch.float64)
        g = g.t() if layout == "grad strides differ" else g
        p.grad, q.grad = g.clone(memory_format=torch.preserve_format), g.clone(memory_format=torch.preserve_format)
        opt.step()
        ref.step()
    assert p.data_ptr() == address
    assert relative_error(p.detach(), q.detach()) <= 1e-12
    if layout == "slice":
        assert not big[:, 1::2].any()  # the gaps were not written


def test_zero_size_parameters_and_frozen_parameters():
    ours, theirs, opt, ref = train_pair("Adam", {"lr": 0.01}, shapes=[(0,), (3,), (0, 4)], skips={k: (1,) for k in range(5, 9)})
    assert_same_run(ours, theirs, opt, ref)
    assert opt.state[ours[1]]["step"].item() == 31 and opt.state[ours[0]]["step"].item() == 35


def test_tensor_hyperparameters_give_the_float_result():
    for value in (torch.tensor(0.01, dtype=torch.float64), torch.tensor(0.003)):
        a = train_pair("Adam", {"lr": value}, shapes=[(5, 3)], steps=10)[0]
        b = train_pair("Adam", {"lr": value.item()}, shapes=[(5, 3)], steps=10)[0]
        assert torch.equal(a[0], b[0])
    betas = (torch.tensor(0.8, dtype=torch.float64), torch.tensor(0.99, dtype=torch.float64))
    a = train_pair("Adam", {"betas": betas}, shapes=[(4,)], steps=5)[0]
    b = train_pair("Adam", {"betas": (0.8, 0.99)}, shapes=[(4,)], steps=5)[0]
    assert torch.equal(a[0], b[0])


def test_a_tensor_lr_changed_in_place_takes_effect():
    lr = torch.tensor(0.1, dtype=torch.float64)
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = pt.SGD([p], lr=lr)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    lr.fill_(0.5)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), 1 - 0.1 - 0.5, dtype=torch.float64))


def stepped(name="Adam", steps=3, **kwargs):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    opt = getattr(pt, name)(net.parameters(), **kwargs)
    x = torch.randn(8, 4, dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        net(x).square().sum().backward()
        opt.step()
    return net, opt, x


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_copies_step_like_the_original(copier):
    net, opt, x = stepped(steps=3)
    opt.set_gradient_policy(max_norm=0.5)
    twin = copier(opt)
    assert set(vars(twin)) >= {"defaults", "state", "param_groups"}
    params = twin.param_groups[0]["params"]
    for p, q in zip(net.parameters(), params):
        assert torch.equal(p, q) and p is not q
        p.grad = torch.ones_like(p)
        q.grad = torch.ones_like(q)
    opt.step()
    twin.step()
    for p, q in zip(net.parameters(), params):
        assert torch.equal(p, q)
    assert twin.state[params[0]]["step"].item() == 4 and twin.last_grad_norm == opt.last_grad_norm


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
                                         ("SGD", {"momentum": 0.9, "nesterov": True}), ("Adagrad", {"lr_decay": 0.1}),
                                         ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adadelta", {}),
                                         ("NAdam", {"decoupled_weight_decay": True, "weight_decay": 0.1}),
                                         ("RAdam", {}), ("Adamax", {})])
@pytest.mark.parametrize("saved_by", ["torch", "pyoptim"])
def test_state_dicts_load_across_and_step_on_identically(name, kwargs, saved_by):
    """A state_dict saved by either (through torch.save / torch.load(weights_only=True))
    loads into pyoptim.torch and into torch.optim, and both step on alike."""
    ours, theirs, opt, ref = train_pair(name, kwargs, shapes=[(4, 3), (6,)], steps=6)
    source, source_params = (ref, theirs) if saved_by == "torch" else (opt, ours)
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    loaded = []
    for cls in (getattr(pt, name), getattr(torch.optim, name)):
        buffer.seek(0)
        params = [p.detach().clone().requires_grad_() for p in source_params]
        target = cls(params, **kwargs)
        target.load_state_dict(torch.load(buffer, weights_only=True))
        loaded.append((params, target))
    (mine, mine_opt), (torchs, torch_opt) = loaded
    for k in range(6, 12):
        for p, q, g in zip(mine, torchs, seeded_grads(mine, k)):
            p.grad, q.grad = g.clone(), g.clone()
        mine_opt.step()
        torch_opt.step()
    assert_same_run(mine, torchs, mine_opt, torch_opt, tolerance=1e-12)


@pytest.mark.parametrize("name", TWINS)
def test_older_state_dicts_load_with_defaults_filled_in(name):
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    ours, theirs, opt, ref = train_pair(name, kwargs, shapes=[(3,), (2, 2)], steps=4)
    old = copy.deepcopy(opt.state_dict())
    for group in old["param_groups"]:  # keys torch added over the years, and pyoptim's own
        for key in ("maximize", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay",
                    "eps_hat", "classic_momentum", "momentum_init", "eps_inside_sqrt"):
            group.pop(key, None)
    for entry in old["state"].values():  # steps saved as numbers, as torch once did
        if "step" in entry:
            entry["step"] = float(entry["step"])
    params = [p.detach().clone().requires_grad_() for p in ours]
    fresh = getattr(pt, name)(params, **kwargs)
    fresh.load_state_dict(old)
    for group in fresh.param_groups:
        assert set(group) >= set(opt.param_groups[0]) - {"param_names"}
    for entry in fresh.state.values():  # torch's SparseAdam keeps a Python int
        assert "step" not in entry or isinstance(entry["step"], (int, float) if name == "SparseAdam" else torch.Tensor)
    # torch's own twin, reloaded from its own state_dict: its load casts the state to the
    # parameter's dtype (NAdam's mu_product, ASGD's eta and mu: float32 -> float64).
    twin_params = [q.detach().clone().requires_grad_() for q in theirs]
    twin = getattr(torch.optim, name)(twin_params, **kwargs)
    twin.load_state_dict(copy.deepcopy(ref.state_dict()))
    for k in range(4, 8):
        for p, q, g in zip(params, twin_params, seeded_grads(params, k)):
            g = as_grad(name, g, k)
            p.grad, q.grad = g.clone(), g.clone()
        fresh.step()
        with torch_in_params_dtype(name):
            twin.step()
    assert_same_run(params, twin_params, fresh, twin)


def test_named_parameters_keep_their_names():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    opt = pt.Adam(net.named_parameters(), lr=0.01)
    net(torch.ones(1, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    saved = opt.state_dict()
    assert saved["param_groups"][0]["param_names"] == ["weight", "bias"]
    ref = torch.optim.Adam(torch.nn.Linear(3, 2).double().named_parameters(), lr=0.01)
    ref.load_state_dict(copy.deepcopy(saved))
    assert ref.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_implementation_flags_are_accepted_and_change_nothing():
    base = train_pair("Adam", {}, shapes=[(5,)], steps=5)[0][0]
    for flags in ({"foreach": True}, {"foreach": False}, {"fused": True}, {"fused": False}):
        assert torch.equal(train_pair("Adam", flags, shapes=[(5,)], steps=5)[0][0], base)
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="capturable"):
        pt.Adam(p, capturable=True)
    with pytest.raises(ValueError, match="differentiable"):
        pt.SGD(p, differentiable=True)
    with pytest.raises(ValueError, match="foreach, fused"):
        pt.Adam(p, foreach=True, fused=True)
    with pytest.raises(TypeError, match="foreach"):
        pt.Adam(p, foreach="yes")


def test_param_groups_added_mid_run_and_schedulers():
    net, opt, x = stepped("SGD", steps=2, lr=0.1, momentum=0.9)
    extra = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt.add_param_group({"params": [extra], "lr": 0.5})
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    extra.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    sched.step()
    assert torch.allclose(extra.detach(), torch.full((3,), 0.5, dtype=torch.float64))
    extra.grad = torch.ones(3, dtype=torch.float64)
    opt.step()  # lr halved by the scheduler; the buffer b = 0.9 b + g = 1.9
    assert torch.allclose(extra.detach(), torch.full((3,), 0.5 - 0.25 * 1.9, dtype=torch.float64))


def test_step_hooks_run_once_in_torchs_order():
    calls = []
    net, opt, x = stepped(steps=1)
    handles = [
        register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre")),
        opt.register_step_pre_hook(lambda o, a, k: calls.append("pre")),
        opt.register_step_post_hook(lambda o, a, k: calls.append("post")),
        register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post")),
    ]
    try:
        opt.step()
    finally:
        for h in handles:
            h.remove()
    assert calls == ["global pre", "pre", "post", "global post"]
    opt.step()
    assert len(calls) == 4

    class Mine(pt.Adam):  # a user's override: torch wraps it, and the hooks still run once
        def step(self, closure=None):
            calls.append("mine")
            return super().step(closure)

    mine = Mine(net.parameters())
    mine.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    mine.step()
    assert calls[4:] == ["pre", "mine"]


def test_state_dict_hooks_and_closure():
    net, opt, x = stepped(steps=1)
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append("sd pre"))
    opt.register_state_dict_post_hook(lambda o, sd: seen.append("sd post"))
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append("load pre"))
    opt.register_load_state_dict_post_hook(lambda o: seen.append("load post"))
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert seen == ["sd pre", "sd post", "load pre", "load post"]

    def closure():
        opt.zero_grad()
        loss = net(x).square().sum()
        loss.backward()
        return loss
    with torch.no_grad():  # the closure runs with gradients enabled all the same
        loss = opt.step(closure)
    assert loss.item() > 0


def test_gradient_policy_matches_torch_clipping():
    torch.manual_seed(0)
    init = [torch.randn(5, 4, dtype=torch.float64), torch.randn(7, dtype=torch.float64)]
    ours = [x.clone().requires_grad_() for x in init]
    theirs = [x.clone().requires_grad_() for x in init]
    opt, ref = pt.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    opt.set_gradient_policy(max_norm=0.7)
    for k in range(10):
        for p, q, g in zip(ours, theirs, seeded_grads(init, k)):
            p.grad, q.grad = g.clone(), g.clone()
        torch.nn.utils.clip_grad_norm_(theirs, 0.7)
        opt.step()
        ref.step()
    for p, q, g in zip(ours, theirs, seeded_grads(init, 9)):
        assert relative_error(p.detach(), q.detach()) <= 1e-12
        assert torch.equal(p.grad, g)  # the gradients themselves are not clipped
    before = [p.detach().clone() for p in ours]
    opt.set_gradient_policy(skip_nonfinite=True)
    ours[0].grad[0, 0] = float("nan")
    opt.step()
    assert opt.skipped_steps == 1 and all(torch.equal(a, p) for a, p in zip(before, ours))
    assert opt.state[ours[0]]["step"].item() == 10


def test_a_step_bumps_autograd_versions_like_torch():
    w = torch.ones(3, requires_grad=True)
    opt = pt.SGD([w], lr=0.1)
    y = (w * w).sum()  # saves w for backward
    w.grad = torch.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def python_calls_of_a_step(params) -> int:
    opt = pt.Adam(params)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    for p in params:  # new gradient tensors, as zero_grad(set_to_none=True) + backward give
        p.grad = torch.ones_like(p)
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(event) if event == "call" else None)
    try:
        opt.step()
    finally:
        sys.setprofile(None)
    return len(calls)


def test_the_steady_state_does_no_python_work_per_parameter():
    few = python_calls_of_a_step([torch.zeros(4, requires_grad=True) for _ in range(2)])
    many = python_calls_of_a_step([torch.zeros(4, requires_grad=True) for _ in range(200)])
    assert few == many and few < 20


def test_bad_input_is_refused_before_anything_changes():
    a = torch.nn.Parameter(torch.ones(4))
    b = torch.nn.Parameter(torch.ones(6))
    opt = pt.Adam([a], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        opt.add_param_group({"params": [b], "betas": (1.5, 0.9)})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="lr"):
        pt.Adam([a], lr=-1.0)
    with pytest.raises(TypeError, match="unknown"):
        pt.Adam([a], learning_rate=0.1)

    # Two parameters sharing memory in the second group: nothing is stepped, not even the first group.
    base = torch.zeros(8)
    first, shared1, shared2 = torch.nn.Parameter(torch.ones(3)), base[:4], base[2:6]
    shared1.requires_grad_(), shared2.requires_grad_()
    opt = pt.SGD([{"params": [first]}, {"params": [shared1.detach().requires_grad_(), base[2:6].detach().requires_grad_()]}], lr=0.1)
    for p in (first, *opt.param_groups[1]["params"]):
        p.grad = torch.ones_like(p)
    with pytest.raises(ValueError, match="share memory"):
        opt.step()
    assert torch.equal(first.detach(), torch.ones(3)) and not opt.state

    # A float16 parameter, a sparse gradient, a gradient aliasing a parameter.
    for make_grad, param, error in [
        (lambda p: torch.ones_like(p), torch.nn.Parameter(torch.ones(4, dtype=torch.float16)), TypeError),
        (lambda p: torch.ones_like(p).to_sparse(), torch.nn.Parameter(torch.ones(4)), TypeError),
    ]:
        good = torch.nn.Parameter(torch.ones(3))
        opt = pt.Adam([good, param], lr=0.1)
        good.grad, param.grad = torch.ones(3), make_grad(param)
        with pytest.raises(error, match=r"param_groups\[0\]\['params'\]\[1\]"):
            opt.step()
        assert torch.equal(good.detach(), torch.ones(3)) and not opt.state
    p, q = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    opt = pt.SGD([p, q], lr=0.1)
    p.grad, q.grad = torch.ones(4), p.detach()
    with pytest.raises(ValueError, match="share memory"):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(4))


def test_bad_state_dicts_are_refused_whole():
    net, opt, x = stepped(steps=2)
    before = copy.deepcopy(opt.state_dict())
    for corrupt in [
        lambda sd: sd["state"][0].__setitem__("exp_avg", torch.zeros(7)),
        lambda sd: sd["state"][1].__setitem__("step", torch.tensor(-5.0)),
        lambda sd: sd["state"][1].__setitem__("step", torch.tensor(2.5)),
        lambda sd: sd["param_groups"][0].__setitem__("lr", -1.0),
        lambda sd: sd["param_groups"][0].__setitem__("capturable", True),
    ]:
        bad = copy.deepcopy(before)
        corrupt(bad)
        with pytest.raises(ValueError):
            opt.load_state_dict(bad)
        after = opt.state_dict()
        assert after["param_groups"] == before["param_groups"]
        for k, entry in before["state"].items():
            assert all(torch.equal(v, after["state"][k][n]) for n, v in entry.items())
    opt.step()  # still steps


def test_parameter_storage_replaced_mid_run_is_followed():
    p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
    opt = pt.SGD([p], lr=0.5)
    p.grad = torch.ones(4, dtype=torch.float64)
    opt.step()
    with torch.no_grad():
        p.data = torch.full((4,), 3.0, dtype=torch.float64)
    p.grad = torch.ones(4, dtype=torch.float64)
    opt.step()
    assert torch.equal(p.detach(), torch.full((4,), 2.5, dtype=torch.float64))
    with torch.no_grad():
        p.data = torch.ones(5, dtype=torch.float64)  # a shape its state cannot follow (SGD has none: fine)
    p.grad = torch.ones(5, dtype=torch.float64)
    opt.step()
    assert torch.equal(p.detach(), torch.full((5,), 0.5, dtype=torch.float64))
    q = torch.nn.Parameter(torch.ones(4))
    adam = pt.Adam([q])
    q.grad = torch.ones(4)
    adam.step()
    with torch.no_grad():
        q.data = torch.ones(6)
    q.grad = torch.ones(6)
    with pytest.raises(ValueError, match="exp_avg"):
        adam.step()


@pytest.mark.parametrize("count", [3, 7])  # 7: re-adding the deleted entry resizes (compacts) the dict
@pytest.mark.parametrize("change", ["entry replaced", "tensor replaced", "entry deleted"])
def test_state_changed_in_place_is_followed(change, count):
    """What torch.optim reads afresh each step: a parameter's state entry replaced by
    another dict (ZeroRedundancyOptimizer.load_state_dict does that), one of its
    tensors replaced, the entry deleted (the parameter starts over)."""
    runs = []
    for cls in (torch.optim.Adam, pt.Adam):
        params = [torch.nn.Parameter(torch.full((5,), float(k + 1), dtype=torch.float64)) for k in range(count)]
        opt = cls(params, lr=0.1)
        for k in range(4):
            for i, p in enumerate(params):
                p.grad = torch.full((5,), 0.3 * (i + 1) - 0.1 * k, dtype=torch.float64)
            opt.step()
            if k == 1:
                target = params[0 if change == "entry deleted" else 1]
                if change == "entry replaced":
                    opt.state[target] = {key: value.clone() * 0.5 for key, value in opt.state[target].items()}
                elif change == "tensor replaced":
                    opt.state[target]["exp_avg"] = opt.state[target]["exp_avg"] * -2.0
                else:
                    del opt.state[target]
        runs.append((params, opt))
    (theirs, their_opt), (ours, our_opt) = runs
    for p, q in zip(theirs, ours):
        assert relative_error(q.detach(), p.detach()) <= 1e-12
        for key, value in their_opt.state[p].items():
            assert relative_error(our_opt.state[q][key].reshape(-1), value.reshape(-1)) <= 1e-12


def test_thread_count_changes_no_bit():
    import pyoptim
    results = []
    previous = pyoptim.get_num_threads()
    try:
        for threads in (1, 2, 3):
            pyoptim.set_num_threads(threads)
            results.append(train_pair("Adam", {}, shapes=[(70_000,), (150_000,), (3,)], steps=3,
                                      dtype=torch.float32)[0])
    finally:
        pyoptim.set_num_threads(previous)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_muon_agrees_with_torchs_bfloat16_products_to_their_precision():
    """Unpatched torch.optim.Muon (Newton-Schulz in bfloat16) and pyoptim's (in float64):
    one step's updates agree to about bfloat16's precision, not better."""
    gen = torch.Generator().manual_seed(4)
    shapes = [(40, 30), (16, 64)]
    ours = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    start = [p.detach().clone() for p in ours]
    opt, ref = pt.Muon(ours, lr=0.02), torch.optim.Muon(theirs, lr=0.02)
    for p, q in zip(ours, theirs):
        g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        p.grad, q.grad = g.clone(), g.clone()
    opt.step()
    ref.step()
    errors = [relative_error(p.detach() - s, q.detach() - s) for p, q, s in zip(ours, theirs, start)]
    assert all(1e-6 < e < 3e-2 for e in errors), errors
