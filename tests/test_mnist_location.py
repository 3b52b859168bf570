"""Where tests and benchmarks find MNIST: their CI's copy beside the repository,
else wherever pyoptim itself keeps it on this machine (after `pyoptim compare`
fetched it), never a download."""

import gzip
from pathlib import Path

from conftest import find_test_mnist

import pyoptim.datasets as datasets

FILES = datasets.IDX_DATASET_FILES


def fill(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (directory / f"{name}.gz").write_bytes(gzip.compress(b""))
    return directory


def test_the_shared_copy_first_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("PYOPTIM_TEST_MNIST_DIR", raising=False)
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repository = tmp_path / "clone"
    repository.mkdir()
    assert find_test_mnist(repository) is None  # a fresh clone, nothing fetched yet
    cache = fill(datasets.mnist_cache_dir())
    assert cache == tmp_path / "cache" / "pyoptim" / "mnist"
    assert find_test_mnist(repository) == cache  # where `pyoptim compare` put it
    shared = fill(tmp_path / "shared" / "data" / "mnist")
    assert find_test_mnist(repository) == shared  # CI's copy beside the repository wins
    monkeypatch.setenv("PYOPTIM_TEST_MNIST_DIR", str(fill(tmp_path / "elsewhere")))
    assert find_test_mnist(repository) == tmp_path / "elsewhere"


def test_find_mnist_needs_all_four_files(tmp_path):
    partial = fill(tmp_path / "partial")
    (partial / f"{FILES[0]}.gz").unlink()
    assert datasets.find_mnist(partial) is None or datasets.find_mnist(partial) != partial
