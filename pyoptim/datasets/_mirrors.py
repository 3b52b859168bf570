"""Downloading dataset files from plain HTTP(S) mirrors, with fail-over."""

from __future__ import annotations

import functools
import http.client
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, List, Sequence, Tuple

from .._atomic import atomic_output
from .._progress import ProgressBar, ProgressStyle, describe_size, status
from .errors import DatasetError

__all__ = ["fetch_from_mirrors", "checked_mirrors"]

_CHUNK_BYTES = 1 << 16
_USER_AGENT = "pyoptim-datasets"


class _IncompleteDownload(OSError):
    pass


def checked_mirrors(mirrors: Iterable[str], argument: str = "mirrors") -> Tuple[str, ...]:
    """Validate base URLs and give each a trailing slash (so names append, not replace)."""
    if isinstance(mirrors, (str, bytes)):
        raise TypeError(f"{argument}: expected a sequence of base URLs, got a single {type(mirrors).__name__}; "
                        f"wrap it in a list")
    checked = []
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "file://")):
            raise ValueError(f"{argument}: expected http://, https:// or file:// base URLs, got {url!r}")
        checked.append(url if url.endswith("/") else url + "/")
    return tuple(checked)


def fetch_from_mirrors(files: Sequence[Tuple[str, str]], destination: Path, *, mirrors: Sequence[str],
                       timeout: float, verify: Callable[[str, Path], None],
                       style: ProgressStyle) -> Tuple[List[str], List[str]]:
    """Download each ``(name, remote_file)`` of ``files`` into ``destination/remote_file``,
    showing each download in ``style`` (a bar, or a line when it starts and one when it ends).

    Mirrors are tried in order. A mirror that cannot be reached (refused,
    unresolvable, silent for ``timeout`` seconds) is skipped for the remaining
    files, so dead mirrors cost one timeout each, not one per file. Each
    download goes to a hidden temporary file, is checked with
    ``verify(name, temp_path)`` (which raises to reject it) and only then
    renamed into place.

    Returns the names still missing and one line per failed attempt.
    """
    missing: List[str] = []
    problems: List[str] = []
    unreachable: set = set()
    for name, remote_file in files:
        for base in mirrors:
            if base in unreachable:
                continue
            url = base + remote_file
            try:
                _download(url, destination / remote_file, timeout=timeout,
                          verify=functools.partial(verify, name), style=style)
                break
            except (urllib.error.HTTPError, _IncompleteDownload, http.client.HTTPException) as error:
                problems.append(f"{url}: {_describe(error)}")
            except DatasetError as error:
                problems.append(f"{url}: rejected, {error.problem}")
            except OSError as error:  # URLError, refused, timeouts, TLS: the mirror is out of reach
                unreachable.add(base)
                problems.append(f"{url}: {_describe(error)} (mirror skipped from now on)")
            status(f"Failed: {problems[-1]}", enabled=style.shows_status)
        else:
            missing.append(name)
    return missing, problems


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect ({error.reason})"
    if isinstance(error, socket.timeout):
        return "timed out"
    return f"{type(error).__name__}: {error}"


def _open(url: str, timeout: float):
    # A fresh opener reads proxy settings from the environment as it is now;
    # urllib.request.urlopen would keep the ones of its first call.
    opener = urllib.request.build_opener()
    return opener.open(urllib.request.Request(url, headers={"User-Agent": _USER_AGENT}), timeout=timeout)


def _download(url: str, target: Path, *, timeout: float, verify: Callable[[Path], None],
              style: ProgressStyle) -> None:
    started = time.monotonic()
    with _open(url, timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        status(f"Downloading {url} ({describe_size(total)})", enabled=style is ProgressStyle.LINES)
        with atomic_output(target) as output:
            received = 0
            with ProgressBar(f"Downloading {target.name}", total, enabled=style is ProgressStyle.BARS) as bar:
                while True:
                    chunk = response.read(_CHUNK_BYTES)
                    if not chunk:
                        break
                    output.stream.write(chunk)
                    received += len(chunk)
                    bar.advance(len(chunk))
            # http.client returns a short body silently when the server hangs up early.
            if total is not None and received != total:
                raise _IncompleteDownload(f"connection closed after {received:,} of {total:,} bytes")
            output.stream.flush()
            verify(output.temp_path)
    status(f"Done: {target.name}, {describe_size(received)} in {time.monotonic() - started:.1f} s, verified",
           enabled=style is ProgressStyle.LINES)
