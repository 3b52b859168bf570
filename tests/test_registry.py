"""One registry of rules: everything that names the rules follows the kernels'
list (PYOPTIM_FOR_EACH_RULE, published as pyoptim._core.RULES), and every file
that must name each rule does (the stubs, the Cython declarations, the test lists)."""

import importlib
import inspect
import sys
from pathlib import Path

import pytest

import pyoptim
from pyoptim import _core, kernels, reference
from pyoptim.optim import ROOF

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import stubs  # noqa: E402


def optimizer_rules():
    return sorted(r for r in _core.RULES if r != ROOF)


def test_every_kernel_rule_has_classes_and_every_class_a_kernel_rule():
    ruled = {cls.rule for cls in pyoptim.Optimizer.registry.values()}
    assert ruled == set(optimizer_rules())
    for rule in optimizer_rules():
        assert importlib.import_module(f"pyoptim.optim.{rule}")  # the module named after the rule


@pytest.mark.parametrize("name", sorted(pyoptim.Optimizer.registry))
def test_every_class_has_its_public_names(name):
    cls = pyoptim.Optimizer.registry[name]
    assert getattr(pyoptim, name) is cls and name in pyoptim.__all__
    step = f"{name.lower()}_step"
    assert step in kernels.__all__ and step in reference.__all__
    reference_fn = getattr(reference, step)
    assert reference_fn.__module__ == f"pyoptim.reference.{cls.rule}"
    # the reference takes what the kernel function takes
    assert list(inspect.signature(reference_fn).parameters) == list(inspect.signature(getattr(kernels, step)).parameters)


def test_the_stubs_and_the_cython_declarations_are_current():
    assert stubs.stale() == [], "run python tools/stubs.py"


def test_the_cython_declarations_name_every_rule():
    text = (ROOT / "pyoptim" / "cpyoptim.pxd").read_text()
    for rule in optimizer_rules():
        assert f"cdef cppclass {_core.RULES[rule]['type']}:" in text


def test_the_test_lists_name_every_rule():
    from rule_cases import CASES
    from test_build import RULES as PACKED

    # Closure-driven rules (LBFGS) cannot take the rule-wide tests' step(); each has its own module.
    closure_driven = {n for n, c in pyoptim.Optimizer.registry.items() if c.closure_driven}
    assert set(CASES) | closure_driven == set(pyoptim.Optimizer.registry) and not closure_driven & set(CASES)
    for name in closure_driven:
        assert (ROOT / "tests" / f"test_{name.lower()}.py").exists(), name
    assert {_core.RULES[r]["type"] for r in _core.RULES} == set(PACKED)


def test_torch_classes_follow_the_registry():
    torch = pytest.importorskip("torch")
    import pyoptim.torch as pt

    assert set(pt.__all__) == {"PyoptimTorchOptimizer", *pyoptim.Optimizer.registry}
    for name, cls in pyoptim.Optimizer.registry.items():
        ours = getattr(pt, name)
        assert ours.rule_class is cls and issubclass(ours, torch.optim.Optimizer)
        assert ours.__module__ == "pyoptim.torch" and ours.__qualname__ == name
        hyper = inspect.signature(ours.__init__).parameters
        assert set(cls.default_hyper()) <= set(hyper)
