"""Schedule-Free AdamW and SGD against the authors' package (schedulefree on PyPI):
step for step in float64 through the NumPy API and through pyoptim.torch, with
warmup, weight decay, polynomial weighting, and train()/eval() switches mid-run."""

import copy

import numpy as np
import pytest

import pyoptim

torch = pytest.importorskip("torch")
schedulefree = pytest.importorskip("schedulefree")
import pyoptim.torch as pt  # noqa: E402

SHAPES = [(7, 5), (13,), (1,), (40, 3)]
CASES = {
    "adamw-defaults": ("AdamWScheduleFree", {}),
    "adamw-warmup": ("AdamWScheduleFree", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05,
                                               warmup_steps=6, r=0.5, weight_lr_power=1.0)),
    "sgd-defaults": ("SGDScheduleFree", dict(lr=0.1)),
    "sgd-warmup": ("SGDScheduleFree", dict(lr=0.2, momentum=0.6, weight_decay=0.01, warmup_steps=4, r=1.0,
                                           weight_lr_power=0.0)),
}
STEPS = 32
SWITCH_AT = {10, 21}  # eval() then train() before these steps, in both


def theirs(name, params, hyper):
    return getattr(schedulefree, name)(params, foreach=False, **hyper)


def gradients(seed):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]


def start(seed):
    rng = np.random.default_rng(seed + 100)
    return [rng.standard_normal(s) for s in SHAPES]


def assert_close(ours, reference, where):
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-13, err_msg=where)


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_api_matches_schedulefree(case):
    name, hyper = CASES[case]
    values, grads = start(len(case)), gradients(len(case))
    ours = [v.copy() for v in values]
    our_grads = [np.zeros_like(v) for v in values]
    opt = getattr(pyoptim, name)(list(zip(ours, our_grads)), **hyper)
    ref_params = [torch.tensor(v, requires_grad=True) for v in values]
    ref = theirs(name, ref_params, hyper)
    opt.train()
    ref.train()
    for t, g in enumerate(grads, start=1):
        if t in SWITCH_AT:
            opt.eval()
            ref.eval()
            for a, b in zip(ours, ref_params):
                assert_close(a, b.detach().numpy(), f"eval before step {t}")
            opt.train()
            ref.train()
        for k, gk in enumerate(g):
            our_grads[k][...] = gk
            ref_params[k].grad = torch.tensor(gk)
        opt.step()
        ref.step()
        for a, b in zip(ours, ref_params):
            assert_close(a, b.detach().numpy(), f"step {t}")
    opt.eval()
    ref.eval()
    for i, b in enumerate(ref_params):
        assert_close(ours[i], b.detach().numpy(), "final eval")
        assert_close(opt.state[i]["z"], ref.state[b]["z"].numpy(), "z")
    assert opt.state_dict()["state"][0]["weight_sum"] == pytest.approx(ref.param_groups[0]["weight_sum"], rel=1e-14)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_adapter_matches_schedulefree(case):
    name, hyper = CASES[case]
    values, grads = start(len(case)), gradients(len(case))
    ours = [torch.tensor(v, requires_grad=True) for v in values]
    ref_params = [torch.tensor(v, requires_grad=True) for v in values]
    opt = getattr(pt, name)(ours, **hyper)
    ref = theirs(name, ref_params, hyper)
    assert opt.param_groups[0]["train_mode"] is True  # pyoptim starts in train mode
    opt.eval()
    with pytest.raises(RuntimeError, match="train"):
        opt.step()
    opt.train()
    ref.train()
    for t, g in enumerate(grads, start=1):
        if t in SWITCH_AT:
            opt.eval()
            ref.eval()
            opt.train()
            ref.train()
        for a, b, gk in zip(ours, ref_params, g):
            a.grad = torch.tensor(gk)
            b.grad = torch.tensor(gk)
        opt.step()
        ref.step()
        for a, b in zip(ours, ref_params):
            assert_close(a.detach().numpy(), b.detach().numpy(), f"step {t}")
    assert opt.param_groups[0]["train_mode"] is True
    state = opt.state[ours[0]]
    assert state["weight_sum"].dtype == torch.float64
    assert state["weight_sum"].item() == pytest.approx(ref.param_groups[0]["weight_sum"], rel=1e-14)


def test_the_mode_is_saved_and_loaded_with_the_groups():
    values = start(0)
    params = [v.copy() for v in values]
    grads = [np.ones_like(v) for v in values]
    opt = pyoptim.AdamWScheduleFree(list(zip(params, grads)), lr=0.1)
    opt.train()
    for _ in range(3):
        opt.step()
    opt.eval()
    saved = copy.deepcopy(opt.state_dict())
    assert saved["param_groups"][0]["train_mode"] is False
    twin_params = [p.copy() for p in params]
    twin = pyoptim.AdamWScheduleFree(list(zip(twin_params, [g.copy() for g in grads])), lr=0.1)
    twin.load_state_dict(saved)
    assert twin.param_groups[0]["train_mode"] is False
    opt.train()
    twin.train()
    for a, b in zip(params, twin_params):
        np.testing.assert_array_equal(a, b)
    opt.step()
    twin.step()
    for a, b in zip(params, twin_params):
        np.testing.assert_array_equal(a, b)


def test_a_bad_mode_in_a_state_dict_changes_nothing():
    params = [v.copy() for v in start(1)]
    opt = pyoptim.SGDScheduleFree([(p, np.ones_like(p)) for p in params])
    saved = opt.state_dict()
    saved["param_groups"][0]["train_mode"] = "yes"
    with pytest.raises(TypeError, match="train_mode"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["train_mode"] is True


@pytest.mark.parametrize("bad,match", [(dict(betas=(0.0, 0.9)), "betas"), (dict(warmup_steps=-1), "warmup_steps"),
                                       (dict(warmup_steps=1.5), "warmup_steps"), (dict(r=-1.0), "r"),
                                       (dict(weight_lr_power=-2.0), "weight_lr_power")])
def test_bad_hyperparameters_are_refused(bad, match):
    p = np.zeros(3)
    with pytest.raises((TypeError, ValueError), match=match):
        pyoptim.AdamWScheduleFree([(p, np.zeros(3))], **bad)


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.5])
def test_sgd_momentum_must_be_inside_zero_one(momentum):
    with pytest.raises(ValueError, match="momentum"):
        pyoptim.SGDScheduleFree([(np.zeros(3), np.zeros(3))], momentum=momentum)
