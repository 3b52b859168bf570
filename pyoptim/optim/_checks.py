"""Argument checks shared by the optimizers: each raises TypeError or ValueError
naming the argument and what was expected."""

from __future__ import annotations

import math
import numbers


def real(name: str, value, *, min=None, min_open=False, max=None, max_open=False) -> float:
    """`value` as a float, checked to lie in the interval given by min/max."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    x = float(value)
    low_ok = min is None or (x > min if min_open else x >= min)
    high_ok = max is None or (x < max if max_open else x <= max)
    if math.isnan(x) or not (low_ok and high_ok):
        low = "" if min is None else ("(" if min_open else "[") + repr(min)
        high = "" if max is None else repr(max) + (")" if max_open else "]")
        if min is not None and max is not None:
            expected = f"in {low}, {high}"
        elif min is not None:
            expected = (">" if min_open else ">=") + f" {min!r}"
        else:
            expected = ("<" if max_open else "<=") + f" {max!r}"
        raise ValueError(f"{name}: expected a number {expected}, got {value!r}")
    return x


def flag(name: str, value) -> bool:
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def pair(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair of numbers, got {value!r}")
    return tuple(value)


def unit_interval(name: str, value) -> float:
    """A decay rate in [0, 1)."""
    return real(name, value, min=0.0, max=1.0, max_open=True)


def betas(group: dict) -> tuple:
    """Checks group["betas"] (two decay rates in [0, 1)) and stores it as a tuple."""
    beta1, beta2 = pair("betas", group["betas"])
    group["betas"] = (unit_interval("betas[0]", beta1), unit_interval("betas[1]", beta2))
    return group["betas"]


def choice(name: str, value, options: tuple) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {options}, got {type(value).__name__} {value!r}")
    if value not in options:
        raise ValueError(f"{name}: expected one of {options}, got {value!r}")
    return value


def _at_least_zero(name):
    return lambda value: real(name, value, min=0.0)


def _fraction(name):
    return lambda value: real(name, value, min=0.0, max=1.0)


# The checks of hyperparameters that mean the same in every rule that has them,
# by name (a rule adds its own constraints on top; see Optimizer.check_hyper).
SHARED = {
    "lr": _at_least_zero("lr"),
    "weight_decay": _at_least_zero("weight_decay"),
    "momentum": _at_least_zero("momentum"),
    "lr_decay": _at_least_zero("lr_decay"),
    "initial_accumulator_value": _at_least_zero("initial_accumulator_value"),
    "momentum_decay": _at_least_zero("momentum_decay"),
    "dampening": lambda value: real("dampening", value),
    "eps": lambda value: real("eps", value, min=0.0, min_open=True),
    "alpha": _fraction("alpha"),
    "rho": _fraction("rho"),
}
