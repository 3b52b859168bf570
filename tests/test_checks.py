"""pyoptim._checks: the argument checks every package uses, and the errors they raise."""

import pickle

import numpy as np
import pytest

from pyoptim import _checks


def test_errors_carry_the_argument_apart_from_the_message():
    with pytest.raises(ValueError) as caught:
        _checks.integer("epochs", 0, min=1)
    error = caught.value
    assert isinstance(error, _checks.InvalidValue) and isinstance(error, _checks.ArgumentError)
    assert (error.argument, error.problem) == ("epochs", "expected an integer >= 1, got 0")
    assert str(error) == "epochs: expected an integer >= 1, got 0"
    with pytest.raises(TypeError) as caught:
        _checks.real("lr", "fast")
    assert isinstance(caught.value, _checks.InvalidType) and caught.value.argument == "lr"


def test_errors_survive_pickling():
    error = pickle.loads(pickle.dumps(_checks.InvalidValue("lr", "expected a number >= 0.0, got -1.0")))
    assert isinstance(error, ValueError) and error.argument == "lr" and str(error).startswith("lr: ")


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_integer_takes_python_and_numpy_integers(value):
    assert _checks.integer("n", value, min=0, max=3) == 3 and type(_checks.integer("n", value)) is int


@pytest.mark.parametrize("value", [True, 3.0, "3", None])
def test_integer_refuses_what_is_not_an_integer(value):
    with pytest.raises(TypeError, match="^n: expected an integer, got"):
        _checks.integer("n", value)
    with pytest.raises(ValueError, match="^n: expected an integer, got"):  # for checks that always raised ValueError
        _checks.integer("n", value, type_error=False)


def test_expected_rewords_both_errors():
    for value, error in ((0, ValueError), ("x", TypeError)):
        with pytest.raises(error, match=f"^batch_size: expected an int >= 1 or 'full', got {value!r}$"):
            _checks.integer("batch_size", value, min=1, expected="an int >= 1 or 'full'")
    with pytest.raises(ValueError, match="^timeout: expected a positive number of seconds, got inf$"):
        _checks.real("timeout", float("inf"), min=0, min_open=True, max=float("inf"), max_open=True,
                     expected="a positive number of seconds")


def test_real_refuses_nan_and_bounds_open_or_closed():
    assert _checks.real("x", 1, min=0, max=1) == 1.0
    for value, kwargs in ((float("nan"), {}), (0.0, {"min": 0, "min_open": True}), (1.0, {"max": 1, "max_open": True})):
        with pytest.raises(ValueError, match="^x: expected"):
            _checks.real("x", value, **kwargs)
