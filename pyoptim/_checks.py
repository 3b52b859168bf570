"""Argument checks for every package of pyoptim: each raises TypeError or
ValueError naming the argument and what was expected, and returns the value
as it will be used.

The errors are :class:`InvalidType` (a TypeError) and :class:`InvalidValue`
(a ValueError), which carry the argument's name and the problem apart from
the message: a program that names arguments its own way (the command line's
``--lr`` for ``lr``) reads ``error.argument`` rather than parsing the text.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Union

#: A file-system path argument: str or os.PathLike.
PathLike = Union[str, "os.PathLike[str]"]


class ArgumentError(Exception):
    """An argument a check refused: ``argument`` names it, ``problem`` says what was
    expected; ``str(error)`` is ``"<argument>: <problem>"``."""

    def __init__(self, argument: str, problem: str) -> None:
        # Both pieces go into ``args``, so that the error survives pickling.
        super().__init__(argument, problem)
        self.argument = argument
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.argument}: {self.problem}"


class InvalidType(ArgumentError, TypeError):
    """An argument of the wrong type."""


class InvalidValue(ArgumentError, ValueError):
    """An argument of the right type but a value outside what is accepted."""


def real(name: str, value, *, min=None, min_open=False, max=None, max_open=False,
         expected: str | None = None, type_error: bool = True) -> float:
    """`value` as a float, checked to lie in the interval given by min/max (NaN never does).

    `expected` replaces the message's description of what was expected (by default
    generated from the bounds). ``type_error=False`` reports a value that is not a
    real number as an InvalidValue, as the interfaces whose own checks always raised
    ValueError did.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        refused = InvalidType if type_error else InvalidValue
        if expected is not None:
            raise refused(name, f"expected {expected}, got {value!r}")
        raise refused(name, f"expected a real number, got {type(value).__name__} {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an integer beyond any float (10**400)
        digits = len(str(value).lstrip("-"))
        raise InvalidValue(name, f"expected a finite number, got an integer of {digits} digits") from None
    low_ok = min is None or (x > min if min_open else x >= min)
    high_ok = max is None or (x < max if max_open else x <= max)
    if math.isnan(x) or not (low_ok and high_ok):
        if expected is not None:
            raise InvalidValue(name, f"expected {expected}, got {value!r}")
        low = "" if min is None else ("(" if min_open else "[") + repr(min)
        high = "" if max is None else repr(max) + (")" if max_open else "]")
        if min is not None and max is not None:
            bounds = f" in {low}, {high}"
        elif min is not None:
            bounds = " " + (">" if min_open else ">=") + f" {min!r}"
        elif max is not None:
            bounds = " " + ("<" if max_open else "<=") + f" {max!r}"
        else:
            bounds = ""  # no bounds: only NaN is refused
        raise InvalidValue(name, f"expected a number{bounds}, got {value!r}")
    return x


def integer(name: str, value, *, min=None, max=None, expected: str | None = None,
            type_error: bool = True) -> int:
    """`value` as an int (Python or NumPy integer, not bool), checked to lie in [min, max].

    `expected` and `type_error` as for :func:`real`.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        refused = InvalidType if type_error else InvalidValue
        if expected is not None:
            raise refused(name, f"expected {expected}, got {value!r}")
        raise refused(name, f"expected an integer, got {type(value).__name__} {value!r}")
    n = int(value)
    if (min is not None and n < min) or (max is not None and n > max):
        if expected is not None:
            raise InvalidValue(name, f"expected {expected}, got {value!r}")
        if min is not None and max is not None:
            bounds = f"in [{min}, {max}]"
        elif min is not None:
            bounds = f">= {min}"
        else:
            bounds = f"<= {max}"
        raise InvalidValue(name, f"expected an integer {bounds}, got {n}")
    return n


#: The largest number of elements an array may have (what fits an int64 byte count).
MAX_ELEMENTS = 2 ** 62 // 8


def shape(name: str, value) -> tuple:
    """`value` (an int or a sequence of ints >= 0) as a shape tuple whose element count
    fits in memory addresses (no int64 overflow to a small size)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise InvalidType(name, f"expected a shape (an int or a sequence of ints), got {type(value).__name__} {value!r}")
    dims = tuple(integer(f"{name}[{i}]", d, min=0, type_error=False) for i, d in enumerate(value))
    count = math.prod(dims)
    if count > MAX_ELEMENTS:
        raise InvalidValue(name, f"expected at most {MAX_ELEMENTS} elements, got {count} (shape {dims})")
    return dims


def flag(name: str, value) -> bool:
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise InvalidType(name, f"expected True or False, got {value!r}")
    return bool(value)


def pair(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidType(name, f"expected a pair of numbers, got {value!r}")
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
        raise InvalidType(name, f"expected one of {options}, got {type(value).__name__} {value!r}")
    if value not in options:
        raise InvalidValue(name, f"expected one of {options}, got {value!r}")
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
