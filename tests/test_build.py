"""The built binary: each instruction-set build really vectorises its hot loops,
and the portable build uses nothing beyond the x86-64 baseline."""

import platform
import re
import shutil
import subprocess

import pytest

from pyoptim import _core

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or shutil.which("objdump") is None,
    reason="needs x86-64 and objdump")


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


def code_of(functions, isa, rule, dtype):
    bodies = [body for name, body in functions.items()
              if f"pyoptim::{isa}::" in name and f"pyoptim::{isa}::{rule}" in name and f", {dtype}>" in name]
    assert bodies, f"no {isa} {rule} {dtype} code found"
    return "\n".join(bodies)


@pytest.mark.parametrize("dtype,suffix", [("float", "ps"), ("double", "pd")])
@pytest.mark.parametrize("isa,register", [("generic", "xmm"), ("avx2", "ymm"), ("avx512", "zmm")])
def test_adam_sqrt_and_division_are_packed_at_full_width(functions, isa, register, dtype, suffix):
    code = code_of(functions, isa, "Adam", dtype)
    assert re.search(rf"sqrt{suffix}\s+.*%{register}", code), f"{isa}: no packed sqrt on {register}"
    assert re.search(rf"div{suffix}\s+.*%{register}", code), f"{isa}: no packed division on {register}"


@pytest.mark.parametrize("rule", ["SGD", "Adam"])
def test_generic_build_is_portable(functions, rule):
    for dtype in ("float", "double"):
        code = code_of(functions, "generic", rule, dtype)
        assert "%ymm" not in code and "%zmm" not in code


def test_no_fma_contraction_anywhere(functions):
    """FMA would change the bits against the NumPy reference (see CMakeLists.txt)."""
    kernels = "\n".join(body for name, body in functions.items() if re.search(r"pyoptim::(avx2|avx512)::", name))
    assert kernels and not re.search(r"\bvfn?m(add|sub)", kernels)
