"""Benchmarks: run on purpose (``python bench/report.py``, or
``python -m pytest bench -m benchmark``); never pass/fail on time."""

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.benchmark)


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what ran: SIMD path, build, threads, BLAS kernel, library versions."""
    import os
    import platform

    import numpy

    import pyoptim

    info = {"pyoptim": pyoptim.__version__, "simd": pyoptim.simd_info(), "build": dict(pyoptim._core.BUILD),
            "numpy": numpy.__version__, "python": platform.python_version(),
            "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: v for k, v in pool.items() if k in ("internal_api", "version", "architecture",
                                                                  "num_threads", "filepath")}
                        for pool in threadpool_info()]
    except ImportError:
        info["blas"] = None
    machine_info["pyoptim"] = info


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files, found as the tests find them (tests/conftest.py)."""
    import importlib.util

    repository = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("pyoptim_tests_conftest", repository / "tests" / "conftest.py")
    tests_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests_conftest)
    directory = tests_conftest.find_test_mnist(repository)
    if directory is None:
        pytest.skip("MNIST not found; set PYOPTIM_TEST_MNIST_DIR")
    return directory
