"""Hyperparameter cases shared by the rule tests: non-default values that
exercise every branch of each kernel (momentum, Nesterov, decay, AMSGrad, ...)."""


import contextlib
from unittest import mock

import pyoptim

CASES = {
    "SGD": [
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        dict(lr=0.03, momentum=0.8, nesterov=True, weight_decay=0.02, maximize=True),
        dict(lr=0.03, momentum=0.9, dampening=0.9, momentum_init="zeros"),
        dict(lr=0.03, momentum=0.9, classic_momentum=True, nesterov=True, weight_decay=0.01),
    ],
    "Adam": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        dict(lr=0.02, amsgrad=True, maximize=True),
        dict(lr=0.01, betas=(0.3, 0.9), decoupled_weight_decay=True, weight_decay=0.1),  # lerp's other form
        dict(lr=0.01, eps=1e-3, eps_hat=True),
    ],
    "AdamW": [
        dict(lr=0.01, betas=(0.85, 0.995), weight_decay=0.1, amsgrad=True),
    ],
    "Adagrad": [
        dict(lr=0.05, lr_decay=0.01, weight_decay=0.02, eps=1e-6),
        dict(lr=0.05, initial_accumulator_value=0.1, eps=1e-4, eps_inside_sqrt=True, maximize=True),
    ],
    "RMSprop": [
        dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01),
        dict(lr=0.01, momentum=0.8, centered=True, maximize=True),
        dict(lr=0.01, alpha=0.3, centered=True, eps=1e-3, eps_inside_sqrt=True),
    ],
    "Adadelta": [
        dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01),
        dict(maximize=True),
    ],
    "NAdam": [
        dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, momentum_decay=0.01),
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    ],
    "RAdam": [
        dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.05),  # rectified from step 6 on
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    ],
    "Adamax": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        dict(lr=0.01, betas=(0.3, 0.9), maximize=True),
    ],
    "Lion": [
        dict(lr=0.001, betas=(0.8, 0.95), weight_decay=0.1),
        dict(lr=0.001, maximize=True),
    ],
    "Rprop": [
        dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.05)),  # both bounds reached
        dict(lr=0.02, etas=(0.6, 1.1), maximize=True),
    ],
    "LAMB": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.05),
        dict(lr=0.01, bias_correction=False, maximize=True),
        dict(lr=0.01, weight_decay=0.1, trust_ratio=False),
    ],
    "LARS": [
        dict(lr=0.5, momentum=0.8, weight_decay=0.01, trust_coefficient=0.01, eps=1e-6),
        dict(lr=0.5, nesterov=True, maximize=True),
        dict(lr=0.01, momentum=0.0, trust_ratio=False),
    ],
    "AdamWScheduleFree": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, warmup_steps=3, r=0.5),
        dict(lr=0.02, weight_lr_power=0.0),
    ],
    "SGDScheduleFree": [
        dict(lr=0.05, momentum=0.7, weight_decay=0.01, warmup_steps=2),  # c >= 0.5 in the warmup
        dict(lr=0.1, r=1.0),
    ],
    "SparseAdam": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
        dict(lr=0.02, maximize=True),
    ],
    "Adafactor": [
        dict(lr=0.05, weight_decay=0.1, d=1.5),
        dict(lr=0.02, beta2_decay=-1.0, eps=(1e-6, 1e-2), maximize=True),  # first step: w = 1, lerp's other form
        dict(lr=2.0, beta2_decay=-0.3, eps=(None, 0.5), d=1.0),  # rho = 1 / sqrt(t); alpha from eps2
    ],
    "Muon": [
        dict(lr=0.02, weight_decay=0.1, momentum=0.8),
        dict(lr=0.01, momentum=0.3, nesterov=False, adjust_lr_fn="match_rms_adamw"),  # lerp's other form
        dict(lr=0.01, ns_steps=2, ns_coefficients=(2.0, -1.5, 0.5), eps=1e-3),
    ],
    "ASGD": [
        dict(lr=0.02, lambd=0.01, alpha=0.6, t0=3, weight_decay=0.05),  # averaging from step 5 on
        dict(lr=0.01, lambd=0.1, t0=0, maximize=True),
    ],
}


# Rules that step matrices only (Muon): the rule-wide tests give them each array as one row.
MATRIX_ONLY = {"Muon"}


def as_param(name, array):
    """`array` shaped as rule `name` takes a parameter: as is, or (1, n) for a matrix-only rule."""
    return array.reshape(1, -1) if name in MATRIX_ONLY else array


@contextlib.contextmanager
def torch_in_params_dtype(name):
    """torch.optim.Muon runs Newton-Schulz in bfloat16 (`grad.bfloat16()`); pyoptim in the
    parameter's dtype. For the float64 comparison, torch's cast becomes a copy in the
    parameter's dtype: the rest of torch's step runs as shipped."""
    if name != "Muon":
        yield
        return
    import torch

    with mock.patch.object(torch.Tensor, "bfloat16", lambda self: self.clone()):
        yield


def case_ids():
    return [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


def initial_states(name, param, hyper):
    """The state arrays an optimizer would start `param` with, in kernel order."""
    cls = pyoptim.Optimizer.registry[name]
    group = {**cls.default_hyper(), **hyper}
    return [None if cls.state_shape(s, param.shape) is None else cls.initial_state(s, param, group)
            for s in pyoptim.kernels.state_names(cls.rule)]


def test_every_rule_has_cases():
    assert set(CASES) == set(pyoptim.Optimizer.registry)
