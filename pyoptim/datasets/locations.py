"""Where datasets are looked for and downloaded to."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from .._checks import PathLike

__all__ = ["DATA_DIR_ENV", "SearchLocation", "user_cache_dir", "search_locations"]

#: Environment variable naming a directory that holds (or will receive) dataset files.
DATA_DIR_ENV = "PYOPTIM_DATA_DIR"


@dataclass(frozen=True)
class SearchLocation:
    """A directory to look in, and why (for error messages)."""

    directory: Path
    origin: str


def user_cache_dir(*, platform: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Path:
    """The per-user cache directory of pyoptim (the directory need not exist yet).

    - Windows: ``%LOCALAPPDATA%\\pyoptim\\Cache``
    - macOS: ``~/Library/Caches/pyoptim``
    - elsewhere: ``$XDG_CACHE_HOME/pyoptim``, by default ``~/.cache/pyoptim``

    ``XDG_CACHE_HOME``, when set to an absolute path, is honoured on macOS as well,
    as many command-line tools do. ``platform`` and ``environ`` default to
    ``sys.platform`` and ``os.environ``.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if platform.startswith("win"):
        local = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "pyoptim" / "Cache"
    xdg = environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "pyoptim"
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "pyoptim"
    return Path.home() / ".cache" / "pyoptim"


def search_locations(data_dir: Optional[PathLike], dataset: str) -> list[SearchLocation]:
    """The directories to look in, first choice first: ``data_dir`` (if given),
    ``$PYOPTIM_DATA_DIR`` (if set), then the user cache's ``<dataset>`` folder.
    Duplicates are dropped. Raises ``TypeError``/``ValueError`` naming
    ``data_dir`` or the environment variable when they are not usable directories."""
    locations = []
    if data_dir is not None:
        locations.append(SearchLocation(checked_directory(data_dir, "data_dir"), "the data_dir argument"))
    from_env = os.environ.get(DATA_DIR_ENV, "")
    if from_env:
        locations.append(SearchLocation(checked_directory(from_env, DATA_DIR_ENV), f"${DATA_DIR_ENV}"))
    locations.append(SearchLocation(user_cache_dir() / dataset, "the user cache"))

    unique, seen = [], set()
    for location in locations:
        key = os.path.normcase(os.path.abspath(location.directory))
        if key not in seen:
            seen.add(key)
            unique.append(location)
    return unique


def checked_directory(value: PathLike, argument: str) -> Path:
    """``value`` as a Path, which may be missing but must not be a file."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a directory path (str or os.PathLike) or None, "
                        f"got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{argument}: expected a directory path, got an empty string")
    directory = Path(value).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{argument}: {directory} exists but is not a directory")
    return directory
