"""The data loader under fuzzing: random truncations and byte flips of IDX files
(raw and gzip) give a clear DatasetError every time (or a correct load when the
damage leaves a valid file), never another exception or a hang, and a download
of damaged bytes never leaves anything in the cache."""

import gzip
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyoptim.datasets import DatasetError, download_mnist, load_idx, load_idx_dataset, load_mnist, save_idx

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """A tiny IDX dataset laid out like MNIST (same four names)."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("tiny")
    for prefix, n in (("train", 40), ("t10k", 10)):
        save_idx(root / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        save_idx(root / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return root


def damage(data: bytes, cut: int, flips: list) -> bytes:
    out = bytearray(data[:cut])
    for position, mask in flips:
        if out:
            out[position % len(out)] ^= mask
    return bytes(out)


damages = st.tuples(st.floats(0.0, 1.0),
                    st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), max_size=4))


def check_load(path: Path, truncated: bool, nbytes: int):
    """A damaged file raises DatasetError naming it; only an untruncated one may
    still load (a flip in the pixels, or in a dimension that keeps the size)."""
    start = time.perf_counter()
    try:
        array = load_idx(path)
    except DatasetError as e:
        assert path.name in str(e)
    else:
        assert not truncated, "a truncated file loaded"
        assert array.nbytes == nbytes
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("gz", [False, True])
@FUZZ
@given(d=damages)
def test_fuzzed_idx_files_fail_cleanly(small_dataset, tmp_path, gz, d):
    source = small_dataset / "t10k-images-idx3-ubyte"
    data = source.read_bytes()
    if gz:
        data = gzip.compress(data, mtime=0)
    fraction, flips = d
    cut = int(len(data) * fraction) if fraction < 1.0 else len(data)
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(damage(data, cut, flips))
    check_load(path, truncated=cut < len(data), nbytes=load_idx(source).nbytes)


@FUZZ
@given(d=damages)
def test_fuzzed_real_mnist_labels_are_caught_by_the_checksum(mnist_dir, tmp_path, d):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        link = tmp_path / f"{name}.gz"
        if not link.exists():
            link.symlink_to(mnist_dir / f"{name}.gz")
    data = gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    fraction, flips = d
    damaged = damage(data, int(len(data) * fraction), flips) if fraction < 1.0 or flips else None
    if damaged is None or damaged == data:
        return
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(damaged)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path, download=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d=damages)
def test_damaged_download_never_enters_the_cache(mnist_dir, tmp_path_factory, mirror, d):
    cache = tmp_path_factory.mktemp("cache")
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        shutil.copy(mnist_dir / f"{name}.gz", cache / f"{name}.gz")
    good = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    fraction, flips = d
    bad = damage(good, int(len(good) * fraction), flips)
    if bad == good:
        return
    served = mirror({"t10k-labels-idx1-ubyte.gz": bad})
    with pytest.raises(Exception) as info:
        download_mnist(cache, mirrors=[served.url], timeout=2.0, pypi=False)
    assert not isinstance(info.value, (AssertionError, MemoryError, RecursionError))
    # Nothing was added: no damaged file, no partial temporary file.
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{n}.gz" for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"))


def test_fuzz_dataset_directory_structure(small_dataset, tmp_path):
    """Counts that disagree between images and labels name the files."""
    for p in small_dataset.iterdir():
        shutil.copy(p, tmp_path / p.name)
    save_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(DatasetError, match="t10k"):
        load_idx_dataset(tmp_path)
