"""Pure-NumPy reference implementations of every update rule.

Each function has the signature of its kernel in :mod:`pyoptim.kernels` and
performs the same operations in the same order and precision (per-step scalars
in double, rounded once to the array's dtype), so on finite inputs the kernels
must reproduce it bit for bit. Slow by design: it is the yardstick for the tests
and the NumPy baseline for the benchmarks.
"""

from .adadelta import adadelta_step
from .adagrad import adagrad_step
from .adam import adam_step, adamw_step
from .adamax import adamax_step
from .lion import lion_step
from .nadam import nadam_step
from .radam import radam_step
from .rmsprop import rmsprop_step
from .sgd import sgd_step

__all__ = ["sgd_step", "adam_step", "adamw_step", "adagrad_step", "rmsprop_step", "adadelta_step",
           "nadam_step", "radam_step", "adamax_step", "lion_step"]
