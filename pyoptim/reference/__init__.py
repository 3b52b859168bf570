"""Pure-NumPy reference implementations of every update rule.

Each function has the signature of its kernel in :mod:`pyoptim.kernels` and
performs the same operations in the same order and precision (per-step scalars
in double, rounded once to the array's dtype), so on finite inputs the kernels
must reproduce it bit for bit. Slow by design: it is the yardstick for the tests
and the NumPy baseline for the benchmarks.

One module per kernel rule (``pyoptim/reference/<rule>.py``), defining
``<class>_step`` for each optimizer class of that rule (``adam_step``,
``adamw_step``); the names are gathered here from the registry (see
:mod:`pyoptim.optim`).
"""

import importlib

from ..optim import Optimizer

__all__ = []
for _cls in sorted(Optimizer.registry.values(), key=lambda c: c.__name__):
    _module = importlib.import_module(f".{_cls.rule}", __name__)
    _name = f"{_cls.__name__.lower()}_step"
    globals()[_name] = getattr(_module, _name)
    __all__.append(_name)
del _cls, _module, _name
