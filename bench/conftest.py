"""Benchmarks: run on purpose (``python bench/report.py``, or
``python -m pytest bench -m benchmark``); never pass/fail on time."""

import os
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
    """The real MNIST files beside the repository (shared/data/mnist) or $PYOPTIM_TEST_MNIST_DIR."""
    override = os.environ.get("PYOPTIM_TEST_MNIST_DIR")
    directory = Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    if not directory.is_dir():
        pytest.skip(f"MNIST not found at {directory}; set PYOPTIM_TEST_MNIST_DIR")
    return directory
