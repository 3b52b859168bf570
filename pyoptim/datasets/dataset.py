"""Image-classification datasets stored as the four MNIST-style IDX files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _checks
from .._checks import PathLike
from .errors import DatasetError
from .idx import read_idx
from .locations import checked_directory

__all__ = ["Dataset", "IDX_DATASET_FILES", "load_idx_dataset", "find_idx_file", "missing_idx_files"]

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
#: The four file names (without ``.gz``) every IDX dataset directory holds.
IDX_DATASET_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
_SPLIT_FILES = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split of images and integer class labels.

    Attributes:
        train_images: ``(n_train, rows, cols)`` array, uint8 as stored, or
            float32 in [0, 1] when loaded with ``as_float=True``.
        train_labels: ``(n_train,)`` integer labels (uint8 for MNIST).
        test_images, test_labels: the same for the test split.
        source: the directory the files were read from, if any.

    The arrays are ordinary writable NumPy arrays; the dataclass is frozen only
    in which arrays it holds. ``dataset.train`` and ``dataset.test`` give
    ``(images, labels)`` pairs, and :meth:`features` flattened float32 rows.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Optional[Path] = None

    @property
    def train(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.train_images, self.train_labels

    @property
    def test(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.test_images, self.test_labels

    def features(self, split: str = "train") -> np.ndarray:
        """The images of ``split`` (``"train"`` or ``"test"``) as an
        ``(n, rows * cols)`` float32 matrix with values in [0, 1].

        Float32 images (``as_float=True``) come back as a reshaped view, free;
        uint8 images are converted as ``x / 255`` in a single pass.
        """
        if split not in _SPLIT_FILES:
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        images = self.train_images if split == "train" else self.test_images
        return to_unit_float(images).reshape(len(images), -1)

    def __repr__(self) -> str:
        def describe(array: np.ndarray) -> str:
            return f"{array.dtype}{list(array.shape)}"
        return (f"Dataset(train_images={describe(self.train_images)}, train_labels={describe(self.train_labels)}, "
                f"test_images={describe(self.test_images)}, test_labels={describe(self.test_labels)}, "
                f"source={str(self.source) if self.source else None!r})")


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 ``x / 255``; float images as float32 unchanged in value."""
    if images.dtype == np.uint8:
        # Cast, then divide in place: ~20x faster than one divide with a casting
        # loop (NumPy buffers that in small chunks), same values.
        scaled = images.astype(np.float32)
        return np.divide(scaled, np.float32(255), out=scaled)
    if np.issubdtype(images.dtype, np.floating):
        return images.astype(np.float32, copy=False)
    raise TypeError(f"images: scaling to [0, 1] is defined for uint8 pixels (x / 255) or float images, "
                    f"got {images.dtype}; convert them yourself")


def find_idx_file(directory: Path, name: str) -> Optional[Path]:
    """``directory/name`` if it is a file, else ``directory/name.gz``, else None.
    The raw file wins when both exist: it is faster to read."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_idx_files(directory: Path) -> list[str]:
    """The names of :data:`IDX_DATASET_FILES` found neither raw nor gzipped in ``directory``."""
    return [name for name in IDX_DATASET_FILES if find_idx_file(directory, name) is None]


def load_idx_dataset(directory: PathLike, *, as_float: bool = False, num_classes: Optional[int] = 10,
                     image_shape: Optional[Sequence[int]] = None) -> Dataset:
    """Load a dataset stored like MNIST: the four files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``), in ``directory``.

    Fashion-MNIST, KMNIST and other datasets in this layout load the same way.
    Only the structure is checked: images are 3-D ``(n, rows, cols)``, labels
    1-D integers in ``[0, num_classes)`` (``num_classes=None`` skips that
    check), each split has as many labels as images, both splits share one
    image shape, which must equal ``image_shape`` when given.

    ``as_float=True`` returns uint8 images as float32 ``x / 255`` in [0, 1].

    Raises ``FileNotFoundError`` when a file is missing, :class:`DatasetError`
    naming the file when one is malformed.
    """
    _check_reading(as_float, num_classes)  # the arguments first, then the file system
    directory = checked_directory(directory, "directory")
    if not directory.is_dir():
        raise FileNotFoundError(f"directory: {directory} does not exist")
    missing = missing_idx_files(directory)
    if missing:
        raise FileNotFoundError(f"{directory} lacks {', '.join(missing)} (raw or .gz)")
    return read_dataset_directory(directory, as_float=as_float, num_classes=num_classes,
                                  image_shape=image_shape)


def _check_reading(as_float, num_classes) -> None:
    if not isinstance(as_float, bool):
        raise TypeError(f"as_float: expected a bool, got {type(as_float).__name__}")
    if num_classes is not None:
        _checks.integer("num_classes", num_classes, min=1, expected="a positive int or None", type_error=False)


def read_dataset_directory(directory: Path, *, as_float: bool, num_classes: Optional[int],
                           image_shape: Optional[Sequence[int]],
                           expected_sha256: Optional[Mapping[str, str]] = None,
                           mismatch_hint: str = "") -> Dataset:
    """Read and check the four files of ``directory``; with ``expected_sha256``
    also compare each file's uncompressed SHA256, after the structural checks
    (so a wrong label says "label 11", not just "hash differs")."""
    _check_reading(as_float, num_classes)
    if image_shape is not None:
        image_shape = tuple(image_shape)
    want_digest = expected_sha256 is not None

    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    digests: dict[str, Optional[str]] = {}

    def read(name: str) -> None:
        path = find_idx_file(directory, name)
        if path is None:
            raise FileNotFoundError(f"{directory / name}: not found (nor {name}.gz)")
        arrays[name], digests[name] = read_idx(path, sha256=want_digest)
        paths[name] = path

    # The small test split first, labels before images: most problems then
    # surface before the large training images are read.
    for split in ("test", "train"):
        images_name, labels_name = _SPLIT_FILES[split]
        read(labels_name)
        _check_labels(arrays[labels_name], paths[labels_name], num_classes)
        read(images_name)
        _check_images(arrays[images_name], paths[images_name], image_shape)
        n_images, n_labels = len(arrays[images_name]), len(arrays[labels_name])
        if n_images != n_labels:
            raise DatasetError(paths[labels_name], f"{n_labels:,} labels but {paths[images_name].name} "
                                                   f"holds {n_images:,} images")
    train_shape, test_shape = arrays[TRAIN_IMAGES].shape[1:], arrays[TEST_IMAGES].shape[1:]
    if train_shape != test_shape:
        raise DatasetError(paths[TEST_IMAGES], f"images are {_size(test_shape)} but "
                                               f"{paths[TRAIN_IMAGES].name} holds {_size(train_shape)} images")

    if expected_sha256 is not None:
        for name in IDX_DATASET_FILES:
            if digests[name] != expected_sha256[name]:
                raise DatasetError(paths[name], f"contents differ from the expected file (uncompressed sha256 "
                                                f"{digests[name]}, expected {expected_sha256[name]}){mismatch_hint}")

    if as_float:
        arrays[TRAIN_IMAGES] = to_unit_float(arrays[TRAIN_IMAGES])
        arrays[TEST_IMAGES] = to_unit_float(arrays[TEST_IMAGES])
    return Dataset(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], arrays[TEST_IMAGES], arrays[TEST_LABELS],
                   source=directory)


def _size(shape: Sequence[int]) -> str:
    return "x".join(str(size) for size in shape)


def _check_images(images: np.ndarray, path: Path, image_shape: Optional[tuple]) -> None:
    if images.ndim != 3:
        raise DatasetError(path, f"images must have 3 dimensions (count, rows, columns), "
                                 f"the header declares {images.ndim}: shape {images.shape}")
    if image_shape is not None and images.shape[1:] != image_shape:
        raise DatasetError(path, f"images must be {_size(image_shape)}, these are {_size(images.shape[1:])}")


def _check_labels(labels: np.ndarray, path: Path, num_classes: Optional[int]) -> None:
    if labels.ndim != 1:
        raise DatasetError(path, f"labels must have 1 dimension, the header declares {labels.ndim}: "
                                 f"shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(path, f"labels must be integers, the header declares {labels.dtype}")
    if num_classes is not None and labels.size:
        outside = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if outside.size:
            first = int(outside[0])
            raise DatasetError(path, f"label values must be 0-{num_classes - 1}, found {labels[first]} "
                                     f"at index {first} ({outside.size:,} labels out of range)")
