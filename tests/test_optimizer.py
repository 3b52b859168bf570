"""The optimizer classes: groups, state, state_dict, flat buffers, bad input."""

import copy

import numpy as np
import pytest

import pyoptim
from pyoptim import kernels
from rule_cases import CASES, as_param, case_ids, initial_states


def make_pairs(sizes=(7, 33, 1023), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)) for n in sizes]


def snapshot(opt):
    return copy.deepcopy(opt.state_dict()), [p.copy() for p, _ in opt._pairs]


def assert_same(a, b):
    (sd_a, params_a), (sd_b, params_b) = a, b
    for x, y in zip(params_a, params_b):
        np.testing.assert_array_equal(x, y)
    assert sd_a["param_groups"] == sd_b["param_groups"]
    assert sd_a["state"].keys() == sd_b["state"].keys()
    for i in sd_a["state"]:
        assert sd_a["state"][i].keys() == sd_b["state"][i].keys()
        for k, v in sd_a["state"][i].items():
            np.testing.assert_array_equal(v, sd_b["state"][i][k])


@pytest.mark.parametrize("name,case", case_ids())
def test_optimizer_equals_kernel_functions(name, case):
    cls, hyper = pyoptim.Optimizer.registry[name], CASES[name][case]
    pairs = [(as_param(name, p), as_param(name, g)) for p, g in make_pairs()]
    opt = cls(pairs, **hyper)
    expected = [(as_param(name, p.copy()), as_param(name, g)) for p, g in make_pairs()]
    states = [initial_states(name, p, hyper) for p, _ in expected]
    scalars = [{} for _ in expected]
    fn = getattr(kernels, f"{name.lower()}_step")
    rng = np.random.default_rng(5)
    for t in range(1, 21):
        for (_, g), (_, g2) in zip(pairs, expected):
            g[...] = rng.standard_normal(g.shape)
            g2[...] = g
        opt.step()
        for k, ((p, g), s) in enumerate(zip(expected, states)):
            scalars[k] = fn(p, g, *s, step=t, **hyper, **scalars[k]) or {}
    for (p, _), (q, _) in zip(pairs, expected):
        np.testing.assert_array_equal(p, q)


def test_param_groups_use_their_own_hyperparameters():
    a, b = make_pairs(), make_pairs()
    opt = pyoptim.SGD([{"params": a[:1]}, {"params": a[1:], "lr": 0.5}], lr=0.1, momentum=0.9)
    ref1, ref2 = pyoptim.SGD(b[:1], lr=0.1, momentum=0.9), pyoptim.SGD(b[1:], lr=0.5, momentum=0.9)
    for _ in range(5):
        opt.step(), ref1.step(), ref2.step()
    for (p, _), (q, _) in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["lr"] == 0.1


def test_changing_lr_between_steps_takes_effect():
    (p, g), = make_pairs((10,))
    g[...] = 1.0
    opt = pyoptim.SGD([(p, g)], lr=0.1)
    start = p.copy()
    opt.step()
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    np.testing.assert_allclose(p, start - 0.1)


def test_turning_on_momentum_later_starts_a_fresh_buffer():
    (p, g), = make_pairs((10,))
    (q, h), = make_pairs((10,))
    opt = pyoptim.SGD([(p, g)], lr=0.1)
    opt.step()
    assert "momentum_buffer" not in opt.state[0]
    opt.param_groups[0]["momentum"] = 0.9
    opt.step(), opt.step()
    ref = pyoptim.SGD([(q, h)], lr=0.1)
    ref.step()
    ref2 = pyoptim.SGD([(q, h)], lr=0.1, momentum=0.9)  # a new buffer from the second step on
    ref2.step(), ref2.step()
    np.testing.assert_array_equal(p, q)


def test_flat_parameters_one_pass_equals_separate_arrays():
    shapes = {"w1": (784, 16), "b1": (16,), "w2": (16, 10), "b2": (10,)}
    flat = pyoptim.FlatParameters(shapes, dtype=np.float32)
    rng = np.random.default_rng(0)
    separate = []
    for name, p, g in flat.items():
        p[...] = rng.standard_normal(p.shape)
        separate.append((p.copy(), np.zeros_like(p)))
    assert flat["w1"].base is not None and np.shares_memory(flat["w1"], flat.params)
    assert all(p.ctypes.data % 64 == 0 for _, p, _ in flat.items())
    opt = pyoptim.Adam(flat.parameters(), lr=0.01)
    ref = pyoptim.Adam(separate, lr=0.01)
    assert len(opt._runs[0].plan) == 1
    for _ in range(10):
        for (name, _, g), (_, g2) in zip(flat.items(), separate):
            g[...] = rng.standard_normal(g.shape)
            g2[...] = g
        opt.step(), ref.step()
    for (_, p, _), (q, _) in zip(flat.items(), separate):
        np.testing.assert_array_equal(p, q)
    padding = np.ones(flat.params.size, bool)
    for _, p, _ in flat.items():
        start = (p.ctypes.data - flat.params.ctypes.data) // 4
        padding[start:start + p.size] = False
    assert not flat.params[padding].any()


@pytest.mark.parametrize("name,case", case_ids())
def test_state_dict_round_trip_resumes_exactly(name, case):
    cls, hyper = pyoptim.Optimizer.registry[name], CASES[name][case]
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((20, 3)) for _ in range(20)]

    pairs = make_pairs([(60,)] and (60,))
    straight = cls([(pairs[0][0].reshape(20, 3), np.zeros((20, 3)))], **hyper)
    p, g = straight._pairs[0]
    for t in range(20):
        g[...] = grads[t]
        if t == 10:
            saved, saved_param = straight.state_dict(), p.copy()
        straight.step()

    resumed_param = saved_param.copy()
    resumed_grad = np.zeros((20, 3))
    resumed = cls([(resumed_param, resumed_grad)], **hyper)
    resumed.load_state_dict(saved)
    assert_same((resumed.state_dict(), []), (saved, []))
    for t in range(10, 20):
        resumed_grad[...] = grads[t]
        resumed.step()
    np.testing.assert_array_equal(resumed_param, p)


def test_state_dict_is_a_snapshot_with_torch_layout():
    opt = pyoptim.Adam(make_pairs(), lr=0.1)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups", "skipped_steps"}
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 1
    sd["state"][0]["exp_avg"][...] = 99.0
    assert not (opt.state[0]["exp_avg"] == 99.0).any()


# ---- bad input: a clear error, and nothing changes --------------------------------------------

def _unchanged_after(opt, fn, exc, match):
    before = snapshot(opt)
    with pytest.raises(exc, match=match):
        fn()
    assert_same(before, snapshot(opt))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(lr=-0.1), ValueError, "lr: expected a number >= 0"),
    (dict(lr="0.1"), TypeError, "lr: expected a real number"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\]: expected a number in \[0.0, 1.0\)"),
    (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    (dict(betas=0.9), TypeError, "betas: expected a pair"),
    (dict(eps=0.0), ValueError, "eps: expected a number > 0"),
    (dict(weight_decay=-1), ValueError, "weight_decay"),
    (dict(amsgrad="yes"), TypeError, "amsgrad"),
])
def test_bad_adam_hyperparameters(kwargs, exc, match):
    pairs = make_pairs()
    before = [p.copy() for p, _ in pairs]
    with pytest.raises(exc, match=match):
        pyoptim.Adam(pairs, **kwargs)
    for (p, _), q in zip(pairs, before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("kwargs,match", [
    (dict(momentum=-0.5), "momentum"),
    (dict(nesterov=True), "nesterov: Nesterov momentum requires momentum > 0"),
    (dict(nesterov=True, momentum=0.9, dampening=0.1), "dampening = 0"),
    (dict(weight_decay=-0.1), "weight_decay"),
])
def test_bad_sgd_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pyoptim.SGD(make_pairs(), **kwargs)


def test_bad_hyperparameter_set_between_steps_changes_nothing():
    opt = pyoptim.Adam([{"params": make_pairs(seed=1)}, {"params": make_pairs(seed=2)}], lr=0.1)
    opt.step()
    opt.param_groups[1]["lr"] = -1.0
    _unchanged_after(opt, opt.step, ValueError, "lr")
    opt.param_groups[1]["lr"] = 0.1
    opt.param_groups[0]["amsgrad"] = True  # needs new state: allocated only once the step is valid
    opt.param_groups[1]["betas"] = (0.9, 2.0)
    _unchanged_after(opt, opt.step, ValueError, r"betas\[1\]")
    assert "max_exp_avg_sq" not in opt.state[0]
    opt.param_groups[1]["betas"] = (0.9, 0.999)
    opt.step()
    assert "max_exp_avg_sq" in opt.state[0] and opt.state_dict()["state"][0]["step"] == 2


@pytest.mark.parametrize("make,exc,match", [
    (lambda: [(np.zeros(4, np.int64), np.zeros(4, np.int64))], TypeError, r"param\[0\]: expected dtype float32 or float64"),
    (lambda: [(np.zeros(4, np.float16), np.zeros(4, np.float16))], TypeError, "float32 or float64"),
    (lambda: [(np.zeros(4), np.zeros(4, np.float32))], TypeError, r"grad\[0\]: dtype float32 does not match"),
    (lambda: [(np.zeros(8)[::2], np.zeros(4))], ValueError, r"param\[0\]: expected a contiguous array"),
    (lambda: [(np.zeros(4), np.zeros(8)[::2])], ValueError, r"grad\[0\]: expected a contiguous array"),
    (lambda: [(np.zeros(4), np.zeros(5))], ValueError, r"grad\[0\]: shape \(5,\) does not match"),
    (lambda: [(np.zeros((2, 3)), np.zeros((3, 2)))], ValueError, "does not match"),
    (lambda: [(np.zeros((3, 4)), np.zeros((3, 4), order="F"))], ValueError, "memory order"),
    (lambda: [(np.zeros(4).astype(">f8"), np.zeros(4).astype(">f8"))], TypeError, "native byte order"),
    (lambda: [([0.0, 1.0], np.zeros(2))], TypeError, r"params\[0\]: expected a \(param, grad\) pair"),
    (lambda: [np.zeros(3)], TypeError, "pair"),
    (lambda: [], ValueError, "empty parameter list"),
    (lambda: np.zeros(3), TypeError, "params: expected an iterable"),
])
def test_bad_arrays(make, exc, match):
    with pytest.raises(exc, match=match):
        pyoptim.Adam(make())


def test_read_only_param_is_refused():
    p = np.zeros(4)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"param\[0\]: array is read-only"):
        pyoptim.SGD([(p, np.zeros(4))])


def test_read_only_grad_is_fine():
    g = np.ones(4)
    g.flags.writeable = False
    p = np.zeros(4)
    pyoptim.SGD([(p, g)], lr=1.0).step()
    np.testing.assert_array_equal(p, -1.0)


def test_parameter_registered_twice_is_refused():
    p, g = np.zeros(10), np.zeros(10)
    with pytest.raises(ValueError, match="share memory"):
        pyoptim.Adam([(p, g), (p, np.zeros(10))])
    with pytest.raises(ValueError, match="share memory"):
        pyoptim.Adam([(p, g), (p[5:], np.zeros(5))])  # a view of a registered array
    with pytest.raises(ValueError, match="share memory"):
        pyoptim.Adam([(p, p)])  # gradient aliasing its own parameter
    opt = pyoptim.Adam([(p, g)])
    _unchanged_after(opt, lambda: opt.add_param_group({"params": [(p[:3], np.zeros(3))]}), ValueError,
                     "share memory")
    assert len(opt.param_groups) == 1
    pyoptim.Adam([(p, g), (np.zeros(10), g)])  # two parameters may share a (read-only) gradient


def test_unknown_group_key_is_refused():
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        pyoptim.Adam([{"params": make_pairs(), "learning_rate": 0.1}])


def test_load_state_dict_checks_everything_first():
    opt = pyoptim.Adam(make_pairs(), lr=0.1)
    opt.step()
    good = opt.state_dict()
    other = pyoptim.Adam(make_pairs(seed=9), lr=0.1)

    bad = copy.deepcopy(good)
    bad["state"][2]["exp_avg"] = np.zeros(5)
    _unchanged_after(other, lambda: other.load_state_dict(bad), ValueError, r"state\[2\]\['exp_avg'\]")
    bad = copy.deepcopy(good)
    bad["param_groups"][0]["lr"] = -3
    _unchanged_after(other, lambda: other.load_state_dict(bad), ValueError, "lr")
    bad = copy.deepcopy(good)
    bad["param_groups"][0]["params"] = [0, 1]
    _unchanged_after(other, lambda: other.load_state_dict(bad), ValueError, "has 2 params")
    bad = copy.deepcopy(good)
    bad["state"][1]["step"] = 7
    _unchanged_after(other, lambda: other.load_state_dict(bad), ValueError, "different step counts")
    _unchanged_after(other, lambda: other.load_state_dict({"state": {}}), TypeError, "state_dict")
    other.load_state_dict(good)
    assert_same((other.state_dict(), []), (good, []))


def test_stepping_one_optimizer_from_two_threads_never_corrupts():
    import threading

    pairs = [(np.zeros(1 << 20, np.float32), np.ones(1 << 20, np.float32))]
    opt = pyoptim.SGD(pairs, lr=1.0)
    errors, done = [], []

    def worker():
        for _ in range(50):
            try:
                opt.step()
                done.append(1)
            except RuntimeError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("already stepping" in e for e in errors)
    assert len(done) + len(errors) == 100
    np.testing.assert_array_equal(pairs[0][0], -float(len(done)))


# ---- non-finite gradients ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradient_propagates_to_that_element_only(bad):
    """Default (as torch.optim): no check; a NaN/Inf gradient element makes that element's
    parameter non-finite and leaves every other element untouched by it."""
    p, g = np.ones(100), np.full(100, 0.5)
    q, h = p.copy(), g.copy()
    g[17] = bad
    opt, ref = pyoptim.Adam([(p, g)], lr=0.1), pyoptim.Adam([(q, h)], lr=0.1)
    opt.step(), ref.step()
    assert not np.isfinite(p[17])
    mask = np.arange(100) != 17
    np.testing.assert_array_equal(p[mask], q[mask])


def test_zero_grad_and_repr():
    pairs = make_pairs()
    opt = pyoptim.SGD(pairs, lr=0.1)
    opt.zero_grad()
    assert all(not g.any() for _, g in pairs)
    assert "lr: 0.1" in repr(opt)


def test_closure_is_called_and_its_loss_returned():
    opt = pyoptim.SGD(make_pairs(), lr=0.1)
    assert opt.step(lambda: 3.5) == 3.5


# Out-of-range values per hyperparameter name, for every rule that has it.
OUT_OF_RANGE = {"lr": -0.1, "eps": 0.0, "weight_decay": -0.1, "momentum": -0.5, "alpha": 1.5, "rho": -0.1,
                "lr_decay": -1.0, "initial_accumulator_value": -1.0, "momentum_decay": -1.0,
                "betas": (0.9, 1.0), "momentum_init": "ones", "dampening": float("nan"), "lambd": -1.0, "t0": -1.0,
                "etas": (1.0, 0.5), "step_sizes": (1.0, 0.5)}
# Where a rule gives a name its own meaning (ASGD's alpha is an exponent; LARS's eps
# may be 0, as optax's default).
RULE_OUT_OF_RANGE = {"ASGD": {"alpha": -0.5}, "LARS": {"eps": -1e-8, "trust_coefficient": -1.0},
                     "AdamWScheduleFree": {"warmup_steps": -1, "r": -1.0, "weight_lr_power": -1.0},
                     "SGDScheduleFree": {"warmup_steps": -1, "r": -1.0, "weight_lr_power": -1.0, "momentum": 1.0},
                     "Adafactor": {"eps": (None, -1.0), "beta2_decay": 0.5, "d": 0.5}}


@pytest.mark.parametrize("name", sorted(pyoptim.Optimizer.registry))
def test_every_hyperparameter_is_checked(name):
    cls = pyoptim.Optimizer.registry[name]
    pairs = [(as_param(name, p), as_param(name, g)) for p, g in make_pairs((5,))]
    before = pairs[0][0].copy()
    out_of_range = {**OUT_OF_RANGE, **RULE_OUT_OF_RANGE.get(name, {})}
    for key, default in cls.default_hyper().items():
        wrong_type = 3 if isinstance(default, str) or key in ("adjust_lr_fn", "line_search_fn") else "x"
        with pytest.raises(TypeError, match=key):
            cls(pairs, **{key: wrong_type})
        if key in out_of_range:
            with pytest.raises(ValueError, match=key):
                cls(pairs, **{key: out_of_range[key]})
    opt = cls(pairs)
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step(lambda: 0.0) if cls.closure_driven else opt.step()
    np.testing.assert_array_equal(pairs[0][0], before)
