"""Combined: several optimizers as one (Muon for the matrices beside AdamW for the rest):
steps, schedules, state_dict round trips all or nothing, fit() and checkpoints."""

import copy

import numpy as np
import pytest

import pyoptim
from pyoptim import nn, train


def split(model):
    items = model.flat.items()
    return ([(p, g) for _, p, g in items if p.ndim == 2], [(p, g) for _, p, g in items if p.ndim != 2])


def combined(model, lr=0.002):
    weights, others = split(model)
    return pyoptim.Combined(pyoptim.Muon(weights, lr=lr), pyoptim.AdamW(others, lr=3e-3))


def synthetic(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return train.Split(rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n))


def test_steps_each_optimizer_as_its_own():
    a, b = nn.mlp(6, (5,), 3, seed=1), nn.mlp(6, (5,), 3, seed=1)
    opt = combined(a)
    weights, others = split(b)
    muon, adamw = pyoptim.Muon(weights, lr=0.002), pyoptim.AdamW(others, lr=3e-3)
    data = synthetic()
    for model in (a, b):
        model.loss_and_grad(data.x[:16], data.y[:16])
    opt.step()
    muon.step()
    adamw.step()
    np.testing.assert_array_equal(a.get_weights(), b.get_weights())
    assert len(opt.param_groups) == 2 and opt.param_groups[0] is opt.optimizers[0].param_groups[0]


def test_fit_schedules_and_checkpoints(tmp_path):
    model = nn.mlp(6, (5,), 3, seed=2)
    opt = combined(model)
    scheduler = pyoptim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = train.fit(model, opt, synthetic(), epochs=2, batch_size=8, scheduler=scheduler,
                        checkpoint=tmp_path / "run.npz")
    assert not history.diverged
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.002 * 0.25, 3e-3 * 0.25])
    fresh_model = nn.mlp(6, (5,), 3, seed=2)
    fresh = combined(fresh_model)
    state = train.load_checkpoint(tmp_path / "run.npz", model=fresh_model, optimizer=fresh,
                                  scheduler=pyoptim.lr_scheduler.StepLR(fresh, step_size=1, gamma=0.5))
    assert state is not None
    np.testing.assert_array_equal(fresh_model.get_weights(), model.get_weights())
    for k in opt.state:
        for key, value in opt.state[k].items():
            np.testing.assert_array_equal(fresh.state[k][key], value)
    assert [g["lr"] for g in fresh.param_groups] == [g["lr"] for g in opt.param_groups]


def test_state_dict_loads_all_or_nothing():
    model = nn.mlp(6, (5,), 3, seed=3)
    opt = combined(model)
    data = synthetic()
    model.loss_and_grad(data.x[:16], data.y[:16])
    opt.step()
    saved = opt.state_dict()
    assert [g["optimizer"] for g in saved["param_groups"]] == [0, 1]
    before = copy.deepcopy(opt.state)
    bad = copy.deepcopy(saved)
    key = next(i for i in bad["state"] if "exp_avg" in bad["state"][i])  # AdamW's, after Muon's loaded
    bad["state"][key]["exp_avg"] = np.zeros(1)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(bad)
    for k, entry in before.items():
        for name, value in entry.items():
            np.testing.assert_array_equal(opt.state[k][name], value)
    opt.load_state_dict(saved)


def test_bad_input():
    model = nn.mlp(6, (5,), 3, seed=4)
    weights, others = split(model)
    with pytest.raises(ValueError, match="at least one"):
        pyoptim.Combined()
    with pytest.raises(TypeError, match="optimizers\\[1\\]"):
        pyoptim.Combined(pyoptim.Muon(weights), "adam")
    with pytest.raises(ValueError, match="share a parameter"):
        pyoptim.Combined(pyoptim.Muon(weights), pyoptim.AdamW(weights + others))
    with pytest.raises(TypeError, match="each of Combined"):
        pyoptim.Combined(pyoptim.Muon(weights)).set_gradient_policy(max_norm=1.0)
