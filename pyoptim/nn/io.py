"""Saving and loading models as functions: a plain .npz archive, no pickle.

``save_model(model, path)`` and ``load_model(path)`` are ``model.save(path)`` and
``Sequential.load(path)``; the file format is described in
:mod:`pyoptim.nn.model_file`.
"""

from __future__ import annotations

from .model_file import FORMAT, VERSION, ModelFileError
from .sequential import Sequential

__all__ = ["save_model", "load_model", "model_from_config", "ModelFileError", "FORMAT", "VERSION"]


def save_model(model: Sequential, path, *, metadata: dict | None = None) -> None:
    """Write `model` to `path` (exactly that name; ".npz" is not appended) with
    `metadata` (JSON-able; default: none, unlike ``model.save``, which saves
    ``model.metadata``).

    The file is written next to its destination and renamed into place, so
    an interrupted save never leaves a half-written model behind.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a pyoptim.nn.Sequential, got {type(model).__name__}")
    model.save(path, metadata={} if metadata is None else metadata)


def load_model(path) -> Sequential:
    """Read a model written by ``save_model``; ModelFileError if the file is not one."""
    return Sequential.load(path)


def model_from_config(config: dict, *, seed: int | None = 0) -> Sequential:
    """Build a model from ``Sequential.config()`` (freshly initialised with `seed`)."""
    return Sequential.from_config(config, seed=seed)
