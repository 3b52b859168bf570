"""Each formulation from textbooks and other frameworks, reached through
pyoptim's options, reproduces its formula written out here by hand (float64).
One test per row of the "Textbook forms" table in README.md."""

import math

import numpy as np
import pytest

import pyoptim

STEPS = 40


def gradients(n=50, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n) for _ in range(steps)]


def run(cls, grads, lrs=None, **hyper):
    theta, g = np.linspace(-1, 1, grads[0].size), np.zeros_like(grads[0])
    opt = cls([(theta, g)], **hyper)
    for t, grad in enumerate(grads):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[t]
        g[...] = grad
        opt.step()
    return theta


def start(grads):
    return np.linspace(-1, 1, grads[0].size)


def test_momentum_as_exponential_average():
    """v = beta v + (1 - beta) g (v0 = 0); theta -= lr v   (e.g. Ng's deep-learning course)."""
    beta, lr, grads = 0.9, 0.1, gradients()
    theta, v = start(grads), np.zeros(50)
    for g in grads:
        v = beta * v + (1 - beta) * g
        theta = theta - lr * v
    got = run(pyoptim.SGD, grads, lr=lr, momentum=beta, dampening=beta, momentum_init="zeros")
    np.testing.assert_allclose(got, theta, rtol=1e-14, atol=1e-15)
    torch_form = run(pyoptim.SGD, grads, lr=lr, momentum=beta, dampening=beta)
    assert not np.allclose(torch_form, theta, rtol=1e-6)  # the option is what makes the difference


@pytest.mark.parametrize("nesterov", [False, True])
def test_classic_velocity_momentum(nesterov):
    """v = beta v - lr g; theta += v   (Sutskever et al. 2013; Keras SGD);
    Nesterov (Keras): theta += beta v - lr g.  With lr changing every step."""
    beta, grads = 0.9, gradients()
    lrs = [0.1 * 0.95 ** t for t in range(STEPS)]
    theta, v = start(grads), np.zeros(50)
    for g, lr in zip(grads, lrs):
        v = beta * v - lr * g
        theta = theta + (beta * v - lr * g if nesterov else v)
    got = run(pyoptim.SGD, grads, lrs, lr=lrs[0], momentum=beta, nesterov=nesterov, classic_momentum=True)
    np.testing.assert_allclose(got, theta, rtol=1e-13, atol=1e-14)
    torch_form = run(pyoptim.SGD, grads, lrs, lr=lrs[0], momentum=beta, nesterov=nesterov)
    assert not np.allclose(torch_form, theta, rtol=1e-6)


def test_adagrad_eps_inside_sqrt():
    """G += g^2; theta -= lr g / sqrt(G + eps)   (Keras Adagrad, many texts)."""
    lr, eps, grads = 0.1, 1e-3, gradients()
    theta, G = start(grads), np.zeros(50)
    for g in grads:
        G = G + g * g
        theta = theta - lr * g / np.sqrt(G + eps)
    got = run(pyoptim.Adagrad, grads, lr=lr, eps=eps, eps_inside_sqrt=True)
    np.testing.assert_allclose(got, theta, rtol=1e-13, atol=1e-14)


def test_rmsprop_eps_inside_sqrt():
    """E = rho E + (1 - rho) g^2; theta -= lr g / sqrt(E + eps)   (Keras RMSprop, Goodfellow et al. 8.5.2)."""
    lr, rho, eps, grads = 0.01, 0.9, 1e-3, gradients()
    theta, E = start(grads), np.zeros(50)
    for g in grads:
        E = rho * E + (1 - rho) * g * g
        theta = theta - lr * g / np.sqrt(E + eps)
    got = run(pyoptim.RMSprop, grads, lr=lr, alpha=rho, eps=eps, eps_inside_sqrt=True)
    np.testing.assert_allclose(got, theta, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("cls", [pyoptim.Adam, pyoptim.AdamW])
def test_adam_epsilon_hat(cls):
    """lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); theta -= lr_t m / (sqrt(v) + eps_hat)
    (Kingma & Ba section 2's efficient form; TensorFlow, Keras, scikit-learn's MLP)."""
    lr, b1, b2, eps, grads = 0.01, 0.9, 0.999, 1e-3, gradients()
    theta, m, v = start(grads), np.zeros(50), np.zeros(50)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        theta = theta - lr_t * m / (np.sqrt(v) + eps)
    got = run(cls, grads, lr=lr, betas=(b1, b2), eps=eps, eps_hat=True, weight_decay=0.0)
    np.testing.assert_allclose(got, theta, rtol=1e-12, atol=1e-14)
    corrected = run(cls, grads, lr=lr, betas=(b1, b2), eps=eps, weight_decay=0.0)
    assert not np.allclose(corrected, theta, rtol=1e-6)


@pytest.mark.parametrize("inside", [False, True])
def test_adagrad_initial_accumulator(inside):
    """G0 = 0.1 (Keras, optax); G += g^2; theta -= lr g / (sqrt(G) + eps), or / sqrt(G + eps)."""
    lr, eps, grads = 0.1, 1e-7, gradients()
    theta, G = start(grads), np.full(50, 0.1)
    for g in grads:
        G = G + g * g
        theta = theta - lr * g / (np.sqrt(G + eps) if inside else np.sqrt(G) + eps)
    got = run(pyoptim.Adagrad, grads, lr=lr, eps=eps, initial_accumulator_value=0.1, eps_inside_sqrt=inside)
    np.testing.assert_allclose(got, theta, rtol=1e-13, atol=1e-14)
