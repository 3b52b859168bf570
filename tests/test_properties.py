"""Property-based tests (hypothesis): every rule against the NumPy reference over
random sizes, offsets, dtypes and hyperparameters inside their valid ranges, and
every hyperparameter check outside them."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pyoptim
from pyoptim import kernels, reference
from rule_cases import as_param, initial_states

NAMES = sorted(pyoptim.Optimizer.registry)
unit = st.floats(0.0, 0.999)

# Valid values, by hyperparameter name (shared by every rule that has it).
VALID = {
    "lr": st.floats(0.0, 1.0), "eps": st.floats(1e-10, 1e-2), "weight_decay": st.floats(0.0, 0.5),
    "momentum": st.floats(0.0, 0.99), "dampening": st.floats(0.0, 1.0), "alpha": st.floats(0.0, 1.0),
    "rho": st.floats(0.0, 1.0), "lr_decay": st.floats(0.0, 1.0), "initial_accumulator_value": st.floats(0.0, 1.0),
    "momentum_decay": st.floats(0.0, 0.1), "betas": st.tuples(unit, unit),
    "momentum_init": st.sampled_from(["grad", "zeros"]),
    "etas": st.tuples(st.floats(0.01, 0.99), st.floats(1.01, 3.0)),
    "step_sizes": st.tuples(st.floats(0.0, 1e-3), st.floats(1e-3, 100.0)),
    "lambd": st.floats(0.0, 1.0), "t0": st.floats(0.0, 5.0), "trust_coefficient": st.floats(0.0, 0.1),
    "warmup_steps": st.integers(0, 5), "r": st.floats(0.0, 2.0), "weight_lr_power": st.floats(0.0, 3.0),
}
# Invalid values and the exception they raise.
INVALID = {
    "lr": st.floats(max_value=-1e-12, allow_infinity=False), "eps": st.floats(max_value=0.0),
    "weight_decay": st.floats(max_value=-1e-12, allow_infinity=False), "momentum": st.floats(max_value=-1e-12),
    "alpha": st.floats(min_value=1.0 + 1e-9, allow_infinity=False), "rho": st.floats(max_value=-1e-12),
    "lr_decay": st.floats(max_value=-1e-12), "initial_accumulator_value": st.floats(max_value=-1e-12),
    "momentum_decay": st.floats(max_value=-1e-12),
    "betas": st.tuples(st.floats(min_value=1.0), unit) | st.tuples(unit, st.floats(max_value=-1e-12)),
    "etas": (st.tuples(st.floats(min_value=1.0), st.floats(1.01, 3.0))
             | st.tuples(st.floats(0.01, 0.99), st.floats(max_value=1.0))),
    "step_sizes": (st.tuples(st.floats(max_value=-1e-12), st.floats(0.0, 1.0))
                   | st.tuples(st.floats(1.0, 2.0), st.floats(0.0, 0.999))),
    "lambd": st.floats(max_value=-1e-12), "t0": st.floats(max_value=-1e-12),
    "trust_coefficient": st.floats(max_value=-1e-12),
    "warmup_steps": st.integers(max_value=-1), "r": st.floats(max_value=-1e-12, allow_infinity=False),
    "weight_lr_power": st.floats(max_value=-1e-12, allow_infinity=False),
}
# Where a rule gives a name its own meaning (ASGD's alpha is an exponent, not a decay
# rate; LARS's eps may be 0, as optax's default; Schedule-Free's beta1 and momentum
# must be above 0, its eval() divides by them).
RULE_VALID = {"ASGD": {"alpha": st.floats(0.0, 2.0)}, "LARS": {"eps": st.floats(0.0, 1e-2)},
              "AdamWScheduleFree": {"betas": st.tuples(st.floats(0.01, 0.999), unit)},
              "SGDScheduleFree": {"momentum": st.floats(0.01, 0.99)},
              "Adafactor": {"eps": st.tuples(st.none() | st.floats(0.0, 1e-2), st.floats(0.0, 0.1)),
                            "beta2_decay": st.floats(-1.5, 0.0), "d": st.floats(1.0, 3.0)},
              "LBFGS": {"max_iter": st.integers(1, 30), "max_eval": st.none() | st.integers(1, 40),
                        "history_size": st.integers(1, 200), "tolerance_grad": st.floats(0.0, 1e-3),
                        "tolerance_change": st.floats(0.0, 1e-3), "line_search_fn": st.sampled_from([None, "strong_wolfe"])},
              "Muon": {"ns_coefficients": st.tuples(st.floats(1.0, 3.5), st.floats(-4.8, -1.0), st.floats(0.0, 2.1)),
                       "ns_steps": st.integers(0, 6), "eps": st.floats(1e-9, 1e-3),
                       "adjust_lr_fn": st.sampled_from([None, "original", "match_rms_adamw"])}}
RULE_INVALID = {"ASGD": {"alpha": st.floats(max_value=-1e-12)}, "LARS": {"eps": st.floats(max_value=-1e-12)},
                "SGDScheduleFree": {"momentum": st.floats(max_value=0.0) | st.floats(min_value=1.0)},
                "Adafactor": {"eps": st.tuples(st.none(), st.floats(max_value=-1e-12)),
                              "beta2_decay": st.floats(min_value=1e-12), "d": st.floats(max_value=1.0 - 1e-9)},
                "LBFGS": {"max_iter": st.integers(max_value=0), "history_size": st.integers(max_value=0),
                          "tolerance_grad": st.floats(max_value=-1e-12), "line_search_fn": st.sampled_from(["", "armijo"])},
                "Muon": {"ns_steps": st.integers(min_value=100) | st.integers(max_value=-1),
                         "adjust_lr_fn": st.sampled_from(["", "rms"])}}


def hyper_strategy(name):
    defaults = pyoptim.Optimizer.registry[name].default_hyper()
    valid_values = {**VALID, **RULE_VALID.get(name, {})}
    fields = {k: (valid_values[k] if k in valid_values else st.booleans()) for k in defaults}
    return st.fixed_dictionaries(fields)


def valid(name, hyper):
    try:
        pyoptim.Optimizer.registry[name].check_hyper(dict(hyper))
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 3000), offset=st.integers(0, 3),
       dtype=st.sampled_from([np.float32, np.float64]), steps=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_kernel_equals_reference(name, data, n, offset, dtype, steps, seed):
    hyper = data.draw(hyper_strategy(name))
    assume(valid(name, hyper))
    rng = np.random.default_rng(seed)
    param = as_param(name, rng.standard_normal(n + offset).astype(dtype)[offset:])
    states = []
    for start in initial_states(name, param, hyper):
        if start is None:  # not kept for a vector (Adafactor's row and column factors)
            states.append(None)
            continue
        s = np.empty(n + offset, dtype)[offset:].reshape(param.shape)
        s[...] = start
        states.append(s)
    param_ref, states_ref = param.copy(), [None if s is None else s.copy() for s in states]
    kernel, ref = getattr(kernels, f"{name.lower()}_step"), getattr(reference, f"{name.lower()}_step")
    scalars = scalars_ref = {}
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            grad = as_param(name, rng.standard_normal(n).astype(dtype))
            scalars = kernel(param, grad, *states, step=t, **hyper, **scalars) or {}
            scalars_ref = ref(param_ref, grad, *states_ref, step=t, **hyper, **scalars_ref) or {}
    np.testing.assert_array_equal(param, param_ref)
    for s, r in zip(states, states_ref):
        np.testing.assert_array_equal(s, r)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_out_of_range_hyperparameters_are_refused(name, data):
    cls = pyoptim.Optimizer.registry[name]
    invalid = {**INVALID, **RULE_INVALID.get(name, {})}
    key = data.draw(st.sampled_from(sorted(k for k in cls.default_hyper() if k in invalid)))
    value = data.draw(invalid[key])
    param, grad = np.ones(4), np.ones(4)
    with pytest.raises(ValueError, match=key):
        cls([(param, grad)], **{key: value})
    np.testing.assert_array_equal(param, 1.0)
