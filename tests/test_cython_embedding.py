"""Another Cython extension, built here against pyoptim's headers and .pxd,
calls a kernel without the GIL and matches pyoptim.kernels bit for bit."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pyoptim

pytest.importorskip("Cython")
pytestmark = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                reason="needs a C++ compiler")

PYX = textwrap.dedent("""
    # distutils: language = c++
    from pyoptim.cpyoptim cimport Adam, step_one

    def adam(float[::1] p, float[::1] g, float[::1] m, float[::1] v, double[::1] options, long step):
        cdef float* state[3]
        state[0] = &m[0]
        state[1] = &v[0]
        state[2] = NULL
        with nogil:
            step_one[Adam, float](&options[0], step, &p[0], &g[0], state, p.shape[0], 1)
""")

SETUP = textwrap.dedent("""
    from setuptools import Extension, setup
    from Cython.Build import cythonize
    import pyoptim
    ext = Extension("embedded", ["embedded.pyx"], language="c++", include_dirs=[pyoptim.get_include()],
                    extra_compile_args=["-std=c++17", "-O2", "-fno-math-errno", "-ffp-contract=off"])
    setup(ext_modules=cythonize([ext], include_path=[{package_root!r}], language_level=3, quiet=True))
""")


def test_cython_extension_steps_an_array(tmp_path):
    (tmp_path / "embedded.pyx").write_text(PYX)
    package_root = str(Path(pyoptim.__file__).resolve().parent.parent)
    (tmp_path / "setup.py").write_text(SETUP.format(package_root=package_root))
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import embedded
    finally:
        sys.path.remove(str(tmp_path))

    rng = np.random.default_rng(0)
    p = rng.standard_normal(1001).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    q, m2, v2 = p.copy(), m.copy(), v.copy()
    names = pyoptim._core.RULES["adam"]["options"]
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, amsgrad=0, maximize=0,
                 decoupled_weight_decay=0, eps_hat=0)
    options = np.array([hyper[n] for n in names], dtype=np.float64)
    for t in range(1, 6):
        g = rng.standard_normal(1001).astype(np.float32)
        embedded.adam(p, g, m, v, options, t)
        pyoptim.kernels.adam_step(q, g, m2, v2, step=t, lr=0.01, betas=(0.9, 0.99))
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(v, v2)
    assert not np.array_equal(p, rng.standard_normal(1001).astype(np.float32))


def test_get_include_holds_the_headers():
    include = Path(pyoptim.get_include())
    for header in ("pyoptim/pyoptim.hpp", "pyoptim/rules.hpp", "pyoptim/rules/adam.hpp"):
        assert (include / header).is_file()
