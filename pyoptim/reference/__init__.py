"""Pure-NumPy reference implementations of every update rule.

Each function has the signature of its kernel in :mod:`pyoptim.kernels` and
performs the same operations in the same order and precision (per-step scalars
in double, rounded once to the array's dtype), so on finite inputs the kernels
must reproduce it bit for bit. Slow by design: it is the yardstick for the tests
and the NumPy baseline for the benchmarks.
"""

from .adam import adam_step, adamw_step
from .sgd import sgd_step

__all__ = ["sgd_step", "adam_step", "adamw_step"]
