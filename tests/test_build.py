"""The built binary: each instruction-set build really vectorises its hot loops,
and the portable build uses nothing beyond the x86-64 baseline."""

import platform
import re
import shutil
import subprocess

import pytest

from pyoptim import _core

pytestmark = [
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or shutil.which("objdump") is None,
                       reason="needs x86-64 and objdump"),
    pytest.mark.skipif(_core.BUILD["sanitized"], reason="a sanitizer build instruments the loops"),
]


@pytest.fixture(scope="module")
def functions():
    """Disassembly of the extension, by demangled function name."""
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", _core.__file__],
                         capture_output=True, text=True, check=True).stdout
    blocks, name = {}, None
    for line in out.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            name = header.group(1)
            blocks[name] = []
        elif name:
            blocks[name].append(line)
    return {k: "\n".join(v) for k, v in blocks.items()}


# C++ rule name -> the packed operations its update must contain.
RULES = {"SGD": ["mul"], "Adam": ["mul", "sqrt", "div"], "Adagrad": ["mul", "sqrt", "div"],
         "RMSprop": ["mul", "sqrt", "div"], "Adadelta": ["mul", "sqrt", "div"], "NAdam": ["mul", "sqrt", "div"],
         "RAdam": ["mul", "sqrt", "div"], "Adamax": ["mul", "div"], "Lion": ["mul"],
         "Rprop": ["mul", "sub"], "ASGD": ["mul", "add"], "LAMB": ["mul", "sqrt", "div"], "LARS": ["mul", "add"],
         "ScheduleFree": ["mul", "sqrt", "div"], "SparseAdam": ["mul", "sqrt", "div"],
         "Adafactor": ["mul", "sqrt", "div"], "Muon": ["mul"], "LBFGS": ["mul", "add"],
         "MemoryRoof": ["add"]}


def test_every_compiled_rule_is_checked():
    assert {name.lower() for name in RULES} == {name.replace("_", "") for name in _core.RULES}


def code_of(functions, isa, rule, dtype, gradient=""):
    """The code of the update loops of `rule` (with the given gradient reader)."""
    # The driver's instantiations (update_range<Rule, T, ...>) or, for a whole-tensor
    # rule, its own passes (Rule::step_...<T, ...>).
    pattern = re.compile(rf"pyoptim::{isa}::{rule}(, |::\w+<){dtype}[,>].*{gradient}")
    bodies = [body for name, body in functions.items() if pattern.search(name)]
    assert bodies, f"no {isa} {rule} {dtype} {gradient} code found"
    return "\n".join(bodies)


@pytest.mark.parametrize("gradient", ["RawGradient", "ClippedGradient"])
@pytest.mark.parametrize("dtype,suffix", [("float", "ps"), ("double", "pd")])
@pytest.mark.parametrize("isa,register", [("generic", "xmm"), ("avx2", "ymm"), ("avx512", "zmm")])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_hot_loops_are_packed_at_full_width(functions, rule, isa, register, dtype, suffix, gradient):
    code = code_of(functions, isa, rule, dtype, gradient)
    for op in RULES[rule]:
        assert re.search(rf"{op}{suffix}\s+.*%{register}", code), f"{isa} {rule}: no packed {op} on {register}"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_generic_build_is_portable(functions, rule):
    for dtype in ("float", "double"):
        code = code_of(functions, "generic", rule, dtype)
        assert "%ymm" not in code and "%zmm" not in code


def test_no_fma_contraction_anywhere(functions):
    """FMA would change the bits against the NumPy reference (see CMakeLists.txt)."""
    kernels = "\n".join(body for name, body in functions.items() if re.search(r"pyoptim::(avx2|avx512)::", name))
    assert kernels and not re.search(r"\bvfn?m(add|sub)", kernels)
