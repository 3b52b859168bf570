"""The model file: a plain .npz archive, no pickle.

File format (version 1): a zip archive of .npy files, as ``numpy.savez``
writes it, read back with ``allow_pickle=False``:

- ``architecture``: a 0-d unicode array holding JSON text::

      {"format": "pyoptim.nn.Sequential", "version": 1, "dtype": "float32",
       "layers": [{"type": "Dense", "in_features": 784, "out_features": 128, "init": "he"},
                  {"type": "ReLU"},
                  {"type": "Dense", "in_features": 128, "out_features": 10, "init": "xavier"}],
       "loss": {"type": "SoftmaxCrossEntropy"},
       "metadata": {...any JSON the caller passed...}}

- one array per parameter tensor, named ``"<layer index>.<name>"`` (``"0.weight"``
  of shape (in, out), ``"0.bias"`` of shape (out,), ...), in the model's dtype.

Any other reader (NumPy alone, or any zip + .npy reader) can load the weights
and rebuild the forward pass from this description.

This module knows the file, not the model class: ``Sequential.save`` and
``Sequential.load`` call it (``pyoptim.nn.save_model`` and ``load_model`` are
the same as functions), passing how to build a model from its architecture.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .._atomic import atomic_output

if TYPE_CHECKING:  # for annotations only: the model class calls this module
    from .sequential import Sequential

FORMAT = "pyoptim.nn.Sequential"
VERSION = 1


class ModelFileError(ValueError):
    """A file that is not a readable pyoptim model (corrupt, truncated, or of another format)."""


def write_model_file(model: Sequential, path, metadata: dict | None) -> None:
    """Write `model` with `metadata` (None: none) to `path` (exactly that name; ".npz" is
    not appended).

    The file is written next to its destination and renamed into place, so
    an interrupted save never leaves a half-written model behind.
    """
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a JSON-able dict or None, got {type(metadata).__name__}")
    architecture = {"format": FORMAT, "version": VERSION, **model.config(), "metadata": metadata or {}}
    try:
        text = json.dumps(architecture, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata: expected JSON-able values: {e}") from None
    arrays = {name: param for name, param, _ in model.flat.items()}
    arrays["architecture"] = np.array(text)
    with atomic_output(Path(path)) as out:
        np.savez(out.stream, allow_pickle=False, **arrays)


def read_model_file(path, build: Callable[[dict], Sequential]) -> Sequential:
    """The model in `path`: ``build(architecture)`` makes it (any initial weights), then the
    file's weights are copied in; ModelFileError if the file is not a model file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        # Our own file object: np.load(path) leaves its file open when the zip is damaged.
        with open(path, "rb") as f:
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ModelFileError("it holds a single array, not an .npz archive")
            with archive:
                if "architecture" not in archive.files:
                    raise ModelFileError("it has no 'architecture' entry")
                architecture = _parse_architecture(archive["architecture"])
                model = build(architecture)
                expected = {name: param for name, param, _ in model.flat.items()}
                extra = set(archive.files) - set(expected) - {"architecture"}
                if extra:
                    raise ModelFileError(f"unexpected arrays {sorted(extra)}")
                for name, param in expected.items():
                    if name not in archive.files:
                        raise ModelFileError(f"the array {name!r} is missing")
                    saved = archive[name]
                    if saved.shape != param.shape or saved.dtype != param.dtype:
                        raise ModelFileError(f"the array {name!r} is {saved.dtype}{list(saved.shape)}, "
                                             f"expected {param.dtype}{list(param.shape)}")
                    np.copyto(param, saved)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: not a valid pyoptim model file: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as e:
        # np.load's own messages for a damaged archive ("Failed to interpret file", "Object arrays
        # cannot be loaded", a CRC error, ...) say nothing of models: say what the file was meant to be.
        raise ModelFileError(f"{path}: not a valid pyoptim model file ({type(e).__name__}: {e})") from None
    model.metadata = architecture.get("metadata", {})
    return model


def _parse_architecture(entry: np.ndarray) -> dict:
    if entry.shape != () or entry.dtype.kind != "U":
        raise ModelFileError("its 'architecture' entry is not a JSON string")
    try:
        architecture = json.loads(str(entry))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"its 'architecture' entry is not valid JSON ({e})") from None
    if not isinstance(architecture, dict) or architecture.get("format") != FORMAT:
        raise ModelFileError(f"its 'architecture' does not say format {FORMAT!r}")
    if architecture.get("version") != VERSION:
        raise ModelFileError(f"format version {architecture.get('version')!r}; this pyoptim reads "
                             f"version {VERSION}")
    return architecture
