"""The rules without a torch.optim twin against optax, their published reference:
LAMB and LARS (per-tensor trust ratios) step for step in float64 on a model's
worth of tensors of different sizes and scales."""

import numpy as np
import pytest

import pyoptim

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

SHAPES = {"embedding": (50, 30), "weight": (300, 70), "bias": (70,), "scale": (1,), "big": (9000,)}

# (pyoptim class, its keywords, the optax transformation with the same meaning)
CASES = {
    "lamb-defaults": ("LAMB", dict(lr=0.01), lambda: optax.lamb(0.01)),
    "lamb-decay": ("LAMB", dict(lr=0.003, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.1),
                   lambda: optax.lamb(0.003, b1=0.8, b2=0.95, eps=1e-4, weight_decay=0.1)),
    "lars-defaults": ("LARS", dict(lr=0.5), lambda: optax.lars(0.5)),
    "lars-nesterov": ("LARS", dict(lr=0.2, momentum=0.8, weight_decay=0.01, trust_coefficient=0.02, eps=1e-8,
                                   nesterov=True),
                      lambda: optax.lars(0.2, momentum=0.8, weight_decay=0.01, trust_coefficient=0.02, eps=1e-8,
                                         nesterov=True)),
    "lars-no-momentum": ("LARS", dict(lr=0.1, momentum=0.0), lambda: optax.lars(0.1, momentum=0.0)),
}


def problem(seed):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) * rng.uniform(0.01, 3.0) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) * rng.uniform(0.001, 2.0) for k, s in SHAPES.items()} for _ in range(6)]
    return params, grads


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_optax_step_for_step(case):
    name, keywords, make_optax = CASES[case]
    params, grads = problem(seed=len(case))
    ours = {k: v.copy() for k, v in params.items()}
    names = sorted(ours)
    ours_grads = {k: np.zeros_like(ours[k]) for k in names}
    opt = getattr(pyoptim, name)([(ours[k], ours_grads[k]) for k in names], **keywords)

    transform = make_optax()
    theirs = {k: jnp.asarray(v) for k, v in params.items()}
    state = transform.init(theirs)
    for g in grads:
        for k in names:
            ours_grads[k][...] = g[k]
        opt.step()
        updates, state = transform.update({k: jnp.asarray(v) for k, v in g.items()}, state, theirs)
        theirs = optax.apply_updates(theirs, updates)
        for k in names:
            np.testing.assert_allclose(ours[k], np.asarray(theirs[k]), rtol=1e-11, atol=1e-14, err_msg=k)


def test_a_zero_tensor_keeps_the_plain_step_as_optax():
    # optax's trust ratio is 1 where the parameter's norm is 0 (a freshly zeroed bias).
    params = {"w": np.ones(10), "b": np.zeros(4)}
    grads = {"w": np.full(10, 0.5), "b": np.full(4, 0.25)}
    ours = {k: v.copy() for k, v in params.items()}
    opt = pyoptim.LAMB([(ours["b"], grads["b"].copy()), (ours["w"], grads["w"].copy())], lr=0.1)
    opt.step()
    transform = optax.lamb(0.1)
    theirs = {k: jnp.asarray(v) for k, v in params.items()}
    updates, _ = transform.update({k: jnp.asarray(v) for k, v in grads.items()}, transform.init(theirs), theirs)
    theirs = optax.apply_updates(theirs, updates)
    for k in ours:
        np.testing.assert_allclose(ours[k], np.asarray(theirs[k]), rtol=1e-12)
    assert np.all(ours["b"] != 0.0)
