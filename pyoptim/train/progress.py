"""A one-line progress bar for an epoch's batches, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Call it per batch (``fit(on_batch=bar)``); ``start(label)`` before an epoch, ``clear()`` after.

    It draws only when `stream` is a TTY (so logs and pipes stay clean) and
    redraws at most every `interval` seconds, so it costs next to nothing per batch.
    """

    def __init__(self, stream: TextIO | None = None, *, width: int = 30, interval: float = 0.1,
                 enabled: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.width, self.interval = width, interval
        self.label = ""
        self._last_draw = 0.0
        self._drawn = False

    def start(self, label: str) -> None:
        self.label = label
        self._last_draw = 0.0

    def __call__(self, done: int, total: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        filled = self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} loss {loss:.4f}")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
