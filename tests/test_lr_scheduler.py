"""Learning-rate schedules: the lr sequence torch.optim.lr_scheduler produces."""

import math

import numpy as np
import pytest

import pyoptim
from pyoptim import lr_scheduler as S


def optimizer(lr=0.1, groups=1):
    return pyoptim.SGD([{"params": [(np.zeros(3), np.zeros(3))], "lr": lr * (i + 1)} for i in range(groups)],
                       lr=lr, momentum=0.9)


def lrs(opt, sched, epochs=25, metric=None):
    out = []
    for epoch in range(epochs):
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(epoch))
        out.append([g["lr"] for g in opt.param_groups])
    return out


SPECS = {
    "step": lambda o, m: m.StepLR(o, step_size=4, gamma=0.5),
    "multistep": lambda o, m: m.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.3),
    "exponential": lambda o, m: m.ExponentialLR(o, gamma=0.9),
    "cosine": lambda o, m: m.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
    "linear": lambda o, m: m.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
    "lambda": lambda o, m: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "warmup_cosine": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.01, total_iters=4), m.CosineAnnealingLR(o, T_max=10)], milestones=[4]),
    "chained": lambda o, m: m.ChainedScheduler(
        [m.ExponentialLR(o, gamma=0.95), m.StepLR(o, step_size=3, gamma=0.5)]),
}


def test_closed_forms():
    opt = optimizer()
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    assert [round(x[0], 12) for x in lrs(opt, sched, 5)] == [0.1, 0.05, 0.05, 0.025, 0.025]
    opt = optimizer()
    sched = S.CosineAnnealingLR(opt, T_max=4)
    got = [x[0] for x in lrs(opt, sched, 4)]
    np.testing.assert_allclose(got, [0.05 * (1 + math.cos(math.pi * t / 4)) for t in range(1, 5)], atol=1e-15)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_matches_torch(kind):
    torch = pytest.importorskip("torch")
    opt = optimizer(groups=2)
    ours = lrs(opt, SPECS[kind](opt, S))
    tparams = [torch.zeros(3, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(tparams)], lr=0.1, momentum=0.9)
    theirs = lrs(topt, SPECS[kind](topt, torch.optim.lr_scheduler))
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert len({round(x[0], 12) for x in ours}) > 2  # the schedule moved


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metric = lambda e: [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.5][e % 12]
    kwargs = dict(mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.003)
    opt = optimizer()
    ours = lrs(opt, S.ReduceLROnPlateau(opt, **kwargs), 30, metric)
    topt = torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=0.1)
    theirs = lrs(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs), 30, metric)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert ours[-1][0] < 0.1


def test_scheduled_lr_reaches_the_kernel():
    p, g = np.zeros(1), np.ones(1)
    opt = pyoptim.SGD([(p, g)], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    np.testing.assert_allclose(p, -(1.0 + 0.5 + 0.25))


def test_state_dict_round_trip():
    opt = optimizer()
    sched = SPECS["warmup_cosine"](opt, S)
    lrs(opt, sched, 6)
    saved = sched.state_dict()
    expected = lrs(opt, sched, 6)
    opt2 = optimizer()
    sched2 = SPECS["warmup_cosine"](opt2, S)
    sched2.load_state_dict(saved)
    for group, lr in zip(opt2.param_groups, saved["_last_lr"]):
        group["lr"] = lr  # as an optimizer state_dict would restore it
    assert lrs(opt2, sched2, 6)[-1][0] == pytest.approx(expected[-1][0], rel=1e-12)


@pytest.mark.parametrize("make,match", [
    (lambda o: S.StepLR(o, step_size=0), "step_size"),
    (lambda o: S.ExponentialLR(o, gamma=-1), "gamma"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: S.LinearLR(o, start_factor=0), "start_factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), "milestones"),
    (lambda o: S.StepLR("opt", 2), "optimizer"),
])
def test_bad_arguments(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make(optimizer())
