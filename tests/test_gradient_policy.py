"""Gradient clipping (by global norm, by value) fused into the step, and skipping
steps with non-finite gradients."""

import math

import numpy as np
import pytest

import pyoptim
from pyoptim import _core, kernels
from rule_cases import CASES, as_param, initial_states


def pairs(sizes=(7, 1000, 33), dtype=np.float64, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n).astype(dtype), (scale * rng.standard_normal(n)).astype(dtype)) for n in sizes]


@pytest.mark.parametrize("name", sorted(CASES))
def test_clip_by_norm_and_value_equals_clipping_first(name):
    hyper = CASES[name][-1]
    ours, expected = ([(as_param(name, p), as_param(name, g)) for p, g in pairs()] for _ in range(2))
    opt = pyoptim.Optimizer.registry[name](ours, **hyper)
    opt.set_gradient_policy(max_norm=2.0, clip_value=0.05)
    grads_before = [g.copy() for _, g in ours]
    states = [initial_states(name, p, hyper) for p, _ in expected]
    fn = getattr(kernels, f"{name.lower()}_step")
    scalars = [{} for _ in expected]
    for t in range(1, 6):
        opt.step()
        norm = math.sqrt(sum(float(np.vdot(g, g)) for _, g in expected))
        coef = min(1.0, 2.0 / (norm + 1e-6))
        for k, ((p, g), s) in enumerate(zip(expected, states)):
            clipped = np.clip(g * coef, -0.05, 0.05)
            scalars[k] = fn(p, clipped, *s, step=t, **hyper, **scalars[k]) or {}
    assert opt.last_grad_norm == pytest.approx(norm, rel=1e-12)
    for (p, g), (q, _), before in zip(ours, expected, grads_before):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(g, before)  # gradients are read, never written


def test_clip_by_norm_matches_torch():
    torch = pytest.importorskip("torch")
    ours = pairs()
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p, _ in ours]
    opt = pyoptim.SGD(ours, lr=0.1, momentum=0.9)
    opt.set_gradient_policy(max_norm=1.0)
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    for _ in range(5):
        for (_, g), tp in zip(ours, tparams):
            tp.grad = torch.tensor(g.copy())
        norm = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
        topt.step()
        opt.step()
        assert opt.last_grad_norm == pytest.approx(float(norm), rel=1e-12)
    for (p, _), tp in zip(ours, tparams):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norm_bits_do_not_depend_on_threads_or_simd(dtype):
    sizes = [5, (1 << 18) + 7, 12345, 300001]
    plan_pairs = pairs(sizes, dtype)
    plan = _core.StepPlan("sgd", [(p, g, None) for p, g in plan_pairs])
    results = set()
    before = (pyoptim.get_num_threads(), _core.simd_info()["active"])
    try:
        for path in _core.simd_info()["supported"]:
            _core.select_simd(path)
            for threads in (1, 2, 3):
                pyoptim.set_num_threads(threads)
                results.add(plan.gradient_squares())
    finally:
        pyoptim.set_num_threads(before[0])
        _core.select_simd(before[1])
    assert len(results) == 1
    squares, finite = results.pop()
    exact = sum(float(np.sum(g.astype(np.float64) ** 2)) for _, g in plan_pairs)
    assert finite and squares == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_skip_nonfinite_leaves_everything_untouched(bad):
    ps = pairs()
    opt = pyoptim.Adam(ps, lr=0.1)
    opt.set_gradient_policy(skip_nonfinite=True, max_norm=1.0)
    opt.step()
    before = opt.state_dict(), [p.copy() for p, _ in ps]
    ps[1][1][500] = bad
    opt.step()
    opt.step()
    after = opt.state_dict()
    assert opt.skipped_steps == 2 and math.isnan(opt.last_grad_norm)
    for (p, _), q in zip(ps, before[1]):
        np.testing.assert_array_equal(p, q)
    for i in after["state"]:
        assert after["state"][i]["step"] == 1
        np.testing.assert_array_equal(after["state"][i]["exp_avg"], before[0]["state"][i]["exp_avg"])
    ps[1][1][500] = 0.0
    opt.step()
    assert opt.state_dict()["state"][0]["step"] == 2 and opt.skipped_steps == 2
    assert opt.state_dict()["skipped_steps"] == 2


def test_without_skip_a_nonfinite_gradient_is_applied_unclipped():
    ps = pairs()
    opt = pyoptim.SGD(ps, lr=0.1)
    opt.set_gradient_policy(max_norm=1.0)
    ps[0][1][3] = np.nan
    p_before = ps[0][0].copy()
    opt.step()
    assert np.isnan(ps[0][0][3]) and opt.skipped_steps == 0
    mask = np.arange(7) != 3
    np.testing.assert_array_equal(ps[0][0][mask], p_before[mask] - 0.1 * ps[0][1][mask])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(max_norm=0.0), ValueError, "max_norm"),
    (dict(max_norm="1"), TypeError, "max_norm"),
    (dict(clip_value=-1.0), ValueError, "clip_value"),
    (dict(skip_nonfinite=2), TypeError, "skip_nonfinite"),
])
def test_bad_policy(kwargs, exc, match):
    opt = pyoptim.SGD(pairs())
    with pytest.raises(exc, match=match):
        opt.set_gradient_policy(**kwargs)
