"""A minimal progress bar on stderr for long downloads (no third-party dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "progress_wanted", "status"]


def progress_wanted(progress: bool | None, stream: TextIO | None = None) -> bool:
    """``progress`` itself when given, else whether ``stream`` (default stderr)
    is a terminal, so logs and CI output stay free of carriage-return noise."""
    if progress is not None:
        return progress
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def status(message: str, *, enabled: bool, stream: TextIO | None = None) -> None:
    """One line of news about a long step, when progress output is on."""
    if enabled:
        stream = sys.stderr if stream is None else stream
        print(message, file=stream, flush=True)


class ProgressBar:
    """``label [#######.......]  47%   4.5/9.6 MB``, redrawn in place.

    Redraws at most every ``min_interval`` seconds; with ``total=None`` shows
    only the amount done. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, label: str, total: int | None, *, enabled: bool = True,
                 stream: TextIO | None = None, width: int = 30, min_interval: float = 0.1) -> None:
        self.label = label
        self.total = total if total else None
        self.done = 0
        self.enabled = enabled
        self._stream = sys.stderr if stream is None else stream
        self._width = width
        self._min_interval = min_interval
        self._last_draw = float("-inf")

    def advance(self, amount: int) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self._last_draw >= self._min_interval:
            self._last_draw = now
            self._draw()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self.enabled = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def render(self) -> str:
        done_mb = self.done / 1e6
        if self.total is None:
            return f"{self.label} {done_mb:7.1f} MB"
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        return f"{self.label} [{bar}] {fraction:4.0%} {done_mb:7.1f}/{self.total / 1e6:.1f} MB"

    def _draw(self) -> None:
        if self.enabled:
            self._stream.write("\r" + self.render())
            self._stream.flush()
