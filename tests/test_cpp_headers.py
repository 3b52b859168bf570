"""The kernel headers on their own, compiled here as a C++ user would: the
arithmetic of the peel to the parameter's cache-line boundary (a wrong peel
length would change no bits, so the Python-side tests cannot see it), and a
step through the headers matching pyoptim.kernels bit for bit."""

import shutil
import subprocess
import textwrap

import numpy as np
import pytest

import pyoptim

COMPILER = shutil.which("c++") or shutil.which("g++")
pytestmark = pytest.mark.skipif(COMPILER is None, reason="needs a C++ compiler")

PROGRAM = textwrap.dedent("""
    #include <pyoptim/pyoptim.hpp>
    #include <cstdio>
    #include <cstdlib>

    template <class T>
    int check_peel() {
      alignas(64) static unsigned char buffer[256];
      int failures = 0;
      for (std::size_t offset = 0; offset < 64; offset += sizeof(T)) {
        const T* p = reinterpret_cast<const T*>(buffer + offset);
        const std::size_t expected = (64 - offset) % 64 / sizeof(T);
        const std::size_t got = pyoptim::elements_to_cache_line(p);
        if (got != expected) {
          std::printf("offset %zu: %zu, expected %zu\\n", offset, got, expected);
          ++failures;
        }
        if (reinterpret_cast<std::uintptr_t>(p + got) % 64 != 0) ++failures;
      }
      return failures;
    }

    int main(int argc, char** argv) {
      const int failures = check_peel<float>() + check_peel<double>();
      // Then one Adam step of n floats starting `shift` elements past a line.
      const std::size_t n = std::strtoul(argv[1], nullptr, 10), shift = std::strtoul(argv[2], nullptr, 10);
      alignas(64) static float p[4096], g[4096], m[4096], v[4096];
      for (std::size_t i = 0; i < n + shift; ++i) {
        p[i] = 0.5f - 0.01f * float(i % 97);
        g[i] = 0.003f * float(i % 13) - 0.02f;
      }
      const double options[] = {1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0, 0.0, 0.0, 0.0};
      float* state[] = {m + shift, v + shift, nullptr, nullptr};
      for (int step = 1; step <= 3; ++step)
        pyoptim::step_one<pyoptim::Adam, float>(options, step, p + shift, g + shift, state, n, 1);
      for (std::size_t i = 0; i < n; ++i) std::printf("%.9g\\n", double(p[shift + i]));
      return failures;
    }
""")


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    folder = tmp_path_factory.mktemp("headers")
    (folder / "check.cpp").write_text(PROGRAM)
    subprocess.run([COMPILER, "-std=c++17", "-O2", "-fno-math-errno", "-ffp-contract=off",
                    f"-I{pyoptim.get_include()}", "check.cpp", "-o", "check"],
                   cwd=folder, check=True, capture_output=True, text=True)
    return folder / "check"


@pytest.mark.parametrize("n,shift", [(1, 0), (5, 3), (40, 1), (1000, 15), (1000, 16)])
def test_headers_peel_and_step(program, n, shift):
    run = subprocess.run([str(program), str(n), str(shift)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    got = np.array(run.stdout.split(), dtype=np.float64).astype(np.float32)

    i = np.arange(shift, n + shift)
    param = (np.float32(0.5) - np.float32(0.01) * (i % 97).astype(np.float32)).astype(np.float32)
    grad = (np.float32(0.003) * (i % 13).astype(np.float32) - np.float32(0.02)).astype(np.float32)
    m, v = np.zeros_like(param), np.zeros_like(param)
    for step in (1, 2, 3):
        pyoptim.kernels.adam_step(param, grad, m, v, step=step, lr=1e-3)
    np.testing.assert_array_equal(got, param)
