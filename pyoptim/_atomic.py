"""Atomic file creation: a file appears under its final name complete or not at all."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

try:
    import fcntl
except ImportError:  # Windows: stale temporary files are recognised by age alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["AtomicOutput", "atomic_output", "TEMP_SUFFIX"]

#: Suffix of the hidden temporary files; they never match a dataset, model or checkpoint name.
TEMP_SUFFIX = ".part"

#: A temporary file of ours older than this, and not locked by a writer, was left by
#: a write that was killed; the next successful write beside it removes it.
STALE_AFTER = 60.0  # seconds


@dataclass(frozen=True)
class AtomicOutput:
    """The open temporary file (``stream``) and where it lives (``temp_path``)."""

    stream: BinaryIO
    temp_path: Path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[AtomicOutput]:
    """Write a file that appears at ``path`` only once the block succeeds.

    Yields a temporary file in the same directory (so the final rename never
    crosses file systems). When the block exits normally the data is flushed,
    fsync'ed and renamed onto ``path`` with :func:`os.replace`; when it raises
    (including ``KeyboardInterrupt``) the temporary file is deleted, so readers
    never see a partial file. The block may read ``temp_path`` back, e.g. to
    verify it, after calling ``stream.flush()``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path, fd = _create_temp_beside(path)
    try:
        if fcntl is not None:  # held while writing: tells a live write from a killed one's leftovers
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with os.fdopen(fd, "wb") as stream:
            yield AtomicOutput(stream, temp_path)
            stream.flush()
            os.fsync(stream.fileno())
        # Renamed once closed (Windows cannot rename an open file); a file just
        # written is never stale, so no cleaner takes it in between.
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    _fsync_directory(path.parent)
    remove_stale_temps(path)


def remove_stale_temps(path: Path) -> list:
    """Delete the temporary files that killed writes of `path` left beside it (ours by
    name, older than STALE_AFTER, and locked by no writer); returns their paths."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[0-9a-f]{{8}}{re.escape(TEMP_SUFFIX)}$")
    removed: list[Path] = []
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.match(p.name)]
    except OSError:
        return removed
    now = time.time()
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if now - candidate.stat().st_mtime < STALE_AFTER:
                continue
            fd = os.open(candidate, os.O_RDONLY)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a writer holds it
                os.unlink(candidate)
                removed.append(candidate)
            finally:
                os.close(fd)
    return removed


def _create_temp_beside(path: Path) -> tuple[Path, int]:
    # os.open with mode 0o666 lets the umask decide permissions, as for any
    # new file (mkstemp would force 0o600 on a possibly shared data directory).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return temp_path, os.open(temp_path, flags, 0o666)
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open directories.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
