"""Shared fixtures and marker registration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


MARKERS = {
    "slow": "long-running tests (run with -m slow)",
    "network": "reaches the internet (PyPI); runs only with PYOPTIM_NETWORK_TESTS=1",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, description in MARKERS.items():
        if name not in registered:  # pyproject.toml may declare some already
            config.addinivalue_line("markers", f"{name}: {description}")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files, never downloaded by tests: ``shared/data/mnist``
    beside the repository, or ``$PYOPTIM_TEST_MNIST_DIR``."""
    override = os.environ.get("PYOPTIM_TEST_MNIST_DIR")
    directory = Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    missing = [name for name in MNIST_FILES
               if not (directory / name).is_file() and not (directory / f"{name}.gz").is_file()]
    if missing:
        pytest.skip(f"MNIST test data not found: {directory} lacks {', '.join(missing)} (raw or .gz); "
                    "set PYOPTIM_TEST_MNIST_DIR to a directory holding the four IDX files")
    return directory
