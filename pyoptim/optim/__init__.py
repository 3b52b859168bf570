"""Optimizer classes: one module per kernel rule, on the shared base in optimizer.py.

The one list of rules is the kernels' (``PYOPTIM_FOR_EACH_RULE`` in
csrc/include/pyoptim/rules.hpp, published as ``pyoptim._core.RULES``). For each
rule ``<name>`` there, ``pyoptim/optim/<name>.py`` defines its classes (``adam.py``:
Adam and AdamW), which register themselves in :attr:`Optimizer.registry`; every
other list of rules (``pyoptim.<Class>``, :mod:`pyoptim.kernels`,
:mod:`pyoptim.torch`, :mod:`pyoptim.reference`) is derived from that registry, and
the stubs beside them (``__init__.pyi``, ``kernels.pyi``, ...) are written by
``python tools/stubs.py``.
"""

import importlib

from .. import _core
from .combined import Combined
from .optimizer import Optimizer

#: The kernel rule that is not an optimizer: the benchmarks' memory roof.
ROOF = "memory_roof"

for _rule in _core.RULES:
    if _rule != ROOF:
        importlib.import_module(f".{_rule}", __name__)
del _rule

globals().update(Optimizer.registry)
__all__ = ["Combined", "Optimizer", *sorted(Optimizer.registry)]
