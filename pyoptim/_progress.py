"""Progress of pyoptim's long waits on stderr -- a download, an epoch of training --
without any third-party dependency.

How much to show depends on where stderr goes (:func:`progress_style`): a terminal
gets :class:`ProgressBar` lines redrawn in place; a pipe or a log file gets plain
:func:`status` lines, since carriage returns would fill a log with every redraw;
an in-memory stream (a program capturing stderr for itself) gets nothing.
"""

from __future__ import annotations

import enum
import sys
from time import monotonic
from typing import TextIO

__all__ = ["ProgressStyle", "progress_style", "progress_wanted", "status", "describe_size", "ProgressBar"]


class ProgressStyle(enum.Enum):
    BARS = "bars"  # a terminal: bars redrawn in place, and status lines
    LINES = "lines"  # a pipe or a file: status lines only
    OFF = "off"

    @property
    def shows_status(self) -> bool:
        return self is not ProgressStyle.OFF


def progress_style(progress: bool | None, stream: TextIO | None = None) -> ProgressStyle:
    """How to show progress on `stream` (default stderr): ``progress=True`` draws bars,
    ``False`` nothing, and ``None`` decides from the stream: bars on a terminal, status
    lines on a pipe or a file, nothing on a stream without a file descriptor."""
    if progress is not None:
        return ProgressStyle.BARS if progress else ProgressStyle.OFF
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return ProgressStyle.BARS
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # replaced, closed, or in-memory (io.UnsupportedOperation)
        return ProgressStyle.OFF
    return ProgressStyle.LINES


def progress_wanted(progress: bool | None, stream: TextIO | None = None) -> bool:
    """Whether bars are drawn: ``progress`` itself when given, else whether ``stream``
    (default stderr) is a terminal."""
    return progress_style(progress, stream) is ProgressStyle.BARS


def status(message: str, *, enabled: bool, stream: TextIO | None = None) -> None:
    """One line of news about a long step, when progress output is on."""
    if enabled:
        stream = sys.stderr if stream is None else stream
        print(message, file=stream, flush=True)


def describe_size(n_bytes: int | None) -> str:
    """``"9.9 MB"``, ``"4.5 kB"``, or ``"size unknown"`` for None."""
    if n_bytes is None:
        return "size unknown"
    if n_bytes >= 1e6:
        return f"{n_bytes / 1e6:.1f} MB"
    return f"{n_bytes / 1e3:.1f} kB"


class ProgressBar:
    """``label [#######.......] amount``, one line redrawn in place.

    The one bar of pyoptim's two long waits, each in its unit:

    - ``unit="bytes"``, a download: ``advance(n)`` per chunk; the amount reads
      ``47%   4.5/9.6 MB`` (``total=None``: only the MB done). ``close()``, or the
      end of a ``with`` block, draws the last state and ends the line.
    - ``unit="batches"``, training: the bar is ``fit``'s per-batch callback
      (``fit(on_batch=bar)`` calls ``bar(done, total, loss)``); the amount reads
      ``120/469 loss 0.3141``. ``start(label)`` before each epoch, ``clear()``
      erases the line so that the caller can print its own.

    Redraws at most every ``min_interval`` seconds (and on reaching ``total``),
    so a call costs next to nothing; draws nothing when not ``enabled`` (see
    :func:`progress_wanted` for the usual choice).
    """

    def __init__(self, label: str = "", total: int | None = None, *, unit: str = "bytes",
                 enabled: bool = True, stream: TextIO | None = None, width: int = 30,
                 min_interval: float = 0.1) -> None:
        if unit not in ("bytes", "batches"):
            raise ValueError(f"unit: expected 'bytes' or 'batches', got {unit!r}")
        self.unit = unit
        self.enabled = enabled
        self._stream = sys.stderr if stream is None else stream
        self._width = width
        self._min_interval = min_interval
        self._drawn = False  # something is on the line that clear() must erase
        self.start(label, total)

    def start(self, label: str, total: int | None = None) -> None:
        """Show a new task on the same line: `label`, nothing done yet."""
        self.label = label
        self.total = total if total else None
        self.done = 0
        self.loss: float | None = None
        self._last_draw = float("-inf")  # the next update draws

    def advance(self, amount: int) -> None:
        """`amount` more done (bytes received)."""
        self.update(self.done + amount)

    def __call__(self, done: int, total: int, loss: float) -> None:
        """``fit``'s per-batch callback: `done` of `total` batches, the last one's loss."""
        if self.enabled:  # fit calls this every batch: do nothing when there is nothing to draw
            self.total, self.loss = total, loss
            self.update(done)

    def update(self, done: int) -> None:
        """`done` so far; redraws if `min_interval` has passed or the task is complete."""
        self.done = done
        now = monotonic()
        complete = self.total is not None and done >= self.total
        if complete or now - self._last_draw >= self._min_interval:
            self._last_draw = now
            self._draw()

    def render(self) -> str:
        if self.total is None:
            return f"{self.label} {self._amount()}"
        filled = self._width * min(self.done, self.total) // self.total
        bar = "#" * filled + "." * (self._width - filled)
        return f"{self.label} [{bar}] {self._amount()}"

    def clear(self) -> None:
        """Erase the line (a terminal's), so that the next output starts on a clean one."""
        if self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._drawn = False

    def close(self) -> None:
        """Draw the last state and end the line; the bar draws nothing after this."""
        if self.enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
            self.enabled = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _amount(self) -> str:
        if self.unit == "batches":
            counted = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
            return counted + ("" if self.loss is None else f" loss {self.loss:.4f}")
        done_mb = self.done / 1e6
        if self.total is None:
            return f"{done_mb:7.1f} MB"
        return f"{min(self.done / self.total, 1.0):4.0%} {done_mb:7.1f}/{self.total / 1e6:.1f} MB"

    def _draw(self) -> None:
        if self.enabled:
            self._stream.write("\r" + self.render())
            self._stream.flush()
            self._drawn = True
